"""hacore: a hot-standby cluster for Linux firewalls."""

from hacore import native as _native

__version__ = "0.1.0"
has_fastpath = _native.fastpath is not None
