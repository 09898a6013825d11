"""The codecs under test: the pure reference and the compiled twin, by name."""

from __future__ import annotations

from types import ModuleType

from hacore.vrrp import codec as codec_py


def _fast() -> ModuleType | None:
    try:
        from hacore.vrrp import fastcodec
    except ImportError:
        return None
    return fastcodec


CODECS = {"py": codec_py, "fast": _fast()}
