"""Without the compiled extension hacore falls back with a warning; the test suite (not the product)
refuses to run without it where HACORE_NO_SKIP=1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Make `import hacore._fastpath` fail, as on a machine where the build did not run.
HIDE_EXTENSION = textwrap.dedent("""
    import sys, importlib.abc
    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "hacore._fastpath":
                raise ImportError("hidden for the test")
    sys.meta_path.insert(0, Hide())
    import warnings; warnings.simplefilter("always")
    import hacore
    from hacore.vrrp import codec
    print("fallback" if not hacore.has_fastpath else "compiled")
    import tests.conftest
""")


def _run(strict: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HACORE_NO_SKIP=strict)
    return subprocess.run([sys.executable, "-c", HIDE_EXTENSION], capture_output=True, text=True, env=env,
                          timeout=60, check=False, cwd=ROOT)


def test_missing_extension_fails_the_suite_in_ci() -> None:
    proc = _run("1")
    assert proc.returncode != 0
    assert "hacore._fastpath is not built (HACORE_NO_SKIP=1 makes this an error)" in proc.stderr


def test_missing_extension_falls_back_with_a_warning_elsewhere() -> None:
    proc = _run("0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fallback"
    assert "RuntimeWarning: hacore._fastpath not built" in proc.stderr
