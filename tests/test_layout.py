"""The shape of the product, as promised in DESIGN.md and the README: one folder per capability, small
modules, no lab and no CI switch in the product. (The import rules are lint-imports' contracts.)"""

from __future__ import annotations

import re
from pathlib import Path

PRODUCT = Path(__file__).resolve().parents[1] / "src" / "hacore"
ALLOWED_TOP = {"__init__.py", "__main__.py", "native.py"}
MAX_LINES = 300
LONGER = {"vrrp/machine.py"}  # the pure election: one state machine, read as a whole


def test_capabilities_live_in_folders_not_flat_modules() -> None:
    flat = sorted(p.name for p in PRODUCT.glob("*.py") if p.name not in ALLOWED_TOP)
    assert len(flat) <= 2, flat


def test_no_module_is_over_300_lines_but_the_machine() -> None:
    long = {str(p.relative_to(PRODUCT)): n for p in PRODUCT.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert set(long) <= LONGER, long


def test_every_package_says_what_it_holds() -> None:
    for init in PRODUCT.glob("*/__init__.py"):
        assert init.read_text().startswith('"""'), f"{init.parent.name}/ has no docstring"


def test_the_product_reads_no_ci_switch_and_never_names_the_lab() -> None:
    for path in PRODUCT.rglob("*.py"):
        text = path.read_text()
        assert "HACORE_NO_SKIP" not in text and not re.search(r"""environ(?:\.get)?\(?\[?["']CI["']""", text), path
        assert "hacore_lab" not in text, path
