"""Which configuration changes a running cluster takes live, and which need
its election restarted.

Rules: pure. Live: the failover delay, VIPs on the same HA interfaces, ping
checks, announcement settings, and everything that only the effects use
(NAT, the filter, objects, applications, interfaces disabled in backup,
hooks, DHCP ranges, interface flags), and the metrics endpoint (the daemon's). New secrets are live too (both keys
accepted while they change). Anything else - which links carry
VRRP, the auth mode, the hotwire, the node's own rank or addresses - restarts the
election, which hands over first; a restart is named with its reasons.
"""

from __future__ import annotations

import re

from hacore.config.model import AuthMode, Config
from hacore.config.parse import flatten

LIVE = re.compile(r"""^(
    cluster\.(update_trigger_delay_s|delay_warn_below_s)
  | cluster\.ha_interfaces\[[^]]+\]\.vips
  | cluster\.ping_check\.(targets|interval_s)
  | cluster\.garp_(repeat|interval_s)
  | cluster\.(disabled_interfaces_in_backup|disabled_applications_in_backup|maintenance_services)
  | cluster\.notify(_timeout_s)?
  | (nat|objects|applications|dhcp_server)(\[.*)?
  | forward\..*
  | interfaces\[[^]]+\]\.(flags|name)
  | node\.(metrics|web)\..*
)$""", re.X)
INTERFACE = re.compile(r"^interfaces\[([^]]+)\]\.")


def changes(old: Config, new: Config) -> list[str]:
    """Paths of every setting that differs (added and removed ones too)."""
    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, None) != b.get(k, None))


SECRETS = re.compile(r"^cluster\.(passphrase|hotwire_secret|key_salt)$")


def rekeys(changed: list[str]) -> bool:
    """Whether the changes change the cluster's keys."""
    return any(SECRETS.match(p) for p in changed)


def needs_restart(changed: list[str], old: Config, new: Config) -> list[str]:
    """The changes that a running election cannot take live: an interface that carries neither VRRP nor
    the hotwire (in either configuration) is the effects' alone, whatever changed about it. New secrets
    are taken live (hacore.security.keys.Rotation) unless the adverts carry the passphrase itself (auth "pass")."""
    cluster_links = {c.cluster.hotwire.interface for c in (old, new)}
    cluster_links |= {h.interface for c in (old, new) for h in c.cluster.ha_interfaces}
    live_keys = old.cluster.auth == new.cluster.auth != AuthMode.PASS
    out = []
    for p in changed:
        m = INTERFACE.match(p)
        if LIVE.match(p) or (m is not None and m.group(1) not in cluster_links) or (live_keys and SECRETS.match(p)):
            continue
        out.append(p)
    return out
