"""Packaging: the sdist builds a wheel (python -m build: sdist first, then the wheel from it) that
installs into a fresh environment and runs from outside the checkout, fast path and BPF sources
included."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_sdist_to_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    need(subprocess.run([sys.executable, "-m", "build", "--version"], capture_output=True).returncode == 0,
         "the build package is not installed (tools/setup.sh installs it)")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], tmp_path)
    sdist, wheel = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    assert len(sdist) == 1 and len(wheel) == 1
    listing = _run(["tar", "tzf", str(sdist[0])], tmp_path)
    assert "src/hacore/_fastpath.pyx" in listing and "bpf/hacore_vrrp.h" in listing
    venv = tmp_path / "venv"
    _run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], tmp_path)
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel[0])], tmp_path)
    names = zipfile.ZipFile(wheel[0]).namelist()
    assert not [n for n in names if n.startswith("hacore_lab")], "the lab is not part of the product wheel"
    where = _run([str(venv / "bin" / "python"), "-c", "import hacore, hacore._fastpath as f; "
                  "from hacore.vrrp import bpf; print(hacore.__file__); print(f.__file__); print(bpf.sources_dir())"],
                 tmp_path).split()
    assert all(str(venv) in w for w in where), where  # nothing comes from the checkout
    config = tmp_path / "hacore.toml"
    config.write_text('[node]\nname = "n1"\n')
    assert _run([str(venv / "bin" / "hacore"), "config", "check", str(config)], tmp_path).strip() == f"{config}: ok"
