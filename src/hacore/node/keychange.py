"""A change of the cluster's keys on a running node (hacore.security.keys.
Rotation), carried to the two channels that seal: the adverts and the
hotwire.

Rules: the rotation decides what to seal with and accept; this module only
hands those keys to the channels and tells the rotation what was heard.
"""

from __future__ import annotations

import logging

from hacore.hotwire.service import Hotwire
from hacore.security.keys import Keys, Rotation
from hacore.support.logfmt import log
from hacore.vrrp.port import AdvertPort

logger = logging.getLogger("hacore.election")


class KeyChange:
    def __init__(self, keys: Keys, port: AdvertPort, hotwire: Hotwire | None):
        self.rotation = Rotation(keys)
        self.port = port
        self.hotwire = hotwire

    def rekey(self, keys: Keys, peer_has_it: bool) -> None:
        self.rotation.start(keys, peer_has_it)
        self._use()

    def peer_has_keys(self) -> None:
        """A synchronize this node sent was applied: the peer has this node's keys."""
        if self.rotation.sealing_old:
            self.rotation.peer_has_new()
            self._use()

    def advance(self, peer_runs_ours: bool) -> None:
        """The peer has the new keys once it is heard with them on every channel, or once its status on the
        hotwire names the configuration this node runs (a backup sends no adverts to be heard by)."""
        if self.rotation.old is None:
            return
        choices = [c for c in (self.port.verifier.keys if self.port.verifier else None,
                               self.hotwire.opener.keys if self.hotwire else None) if c is not None]
        if (peer_runs_ours or all(c.heard_newest for c in choices)) and self.rotation.heard_new():
            self._use()

    def _use(self) -> None:
        send, accept = self.rotation.sealing(), self.rotation.accepting()
        self.port.set_keys(send.vrrp, tuple(k.vrrp for k in accept))
        if self.hotwire is not None:
            self.hotwire.key = send.hotwire
            self.hotwire.opener.keys.set(tuple(k.hotwire for k in accept))
        log(logger, "keys", sealing="previous" if self.rotation.sealing_old else "new", accepting=len(accept))

    def describe(self) -> str:
        return self.rotation.describe()
