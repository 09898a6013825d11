"""What the election driver (hacore.vrrp.service) tells the node it runs in:
the decisions of the machine and the links as they change. The node's
composition root (hacore.node.root) is the one implementation.

Rules: an interface only; imports nothing that does I/O.
"""

from __future__ import annotations

from typing import Protocol

from hacore.support.links import LinkInfo
from hacore.vrrp.machine import Role


class Listener(Protocol):
    """What the election tells the node (hacore.node.root)."""

    async def before_first_advert(self) -> None:
        """Every HA link is there: counters on disk, leftover VIPs gone, takeover made ready."""

    def started(self) -> None: ...

    def role_changed(self, old: Role, new: Role, reason: str) -> None: ...

    def announce(self) -> None:
        """Win the neighbours back (a conflict): a GARP/NA round now."""

    def note(self, role: Role, reason: str) -> None: ...

    def link_changed(self, name: str, info: LinkInfo | None) -> None:
        """An HA link was deleted (None) or appeared again, maybe with a new index."""

    def other_link(self, name: str, index: int | None) -> None:
        """A watched link that is not an HA link (the hotwire) changed."""

    def addresses_changed(self) -> None: ...
