"""hacore: a hot-standby cluster for Linux firewalls."""

from hacore import native as _native  # fails loudly in CI when the extension is missing

__version__ = "0.1.0"
has_fastpath = _native.fastpath is not None
