"""The console's pages as HTML, from `cluster info`, `cluster history` and the
answers of actions.

Rules: pure; every value that came from the node or the user is escaped;
one stylesheet and one script, both served by the console itself (no CDN);
every form that changes something carries the session's CSRF token. The
seed's colours: offline black, error red, pending yellow, synchronized
green.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from hacore.cli import render
from hacore.web import charts

STATE_CLASS = {"master": "ok", "backup": "ok", "none": "offline", "synchronized": "ok", "pending": "pending",
               "error": "error"}

CSS = """
body{font-family:sans-serif;margin:1.5em;max-width:64em;color:#111}
nav a,nav form{margin-right:1em;display:inline}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
.ok{color:#fff;background:#2e7d32;padding:0 .4em}.pending{background:#f9a825;padding:0 .4em}
.error{color:#fff;background:#c62828;padding:0 .4em}.offline{color:#fff;background:#000;padding:0 .4em}
.msg{padding:.5em;border:1px solid #999;background:#f5f5f5}.refused{border-color:#c62828}
form.action{margin:.6em 0}pre{background:#f5f5f5;padding:.6em;overflow:auto}
"""

SCRIPT = """
const box = document.getElementById("status");
if (box) setInterval(async () => {
  const r = await fetch("/status.html", {credentials: "same-origin"});
  if (r.ok) box.innerHTML = await r.text(); else if (r.status === 401) location.href = "/login";
}, 2000);
"""


def _state(value: str) -> str:
    return f'<span class="{STATE_CLASS.get(value, "")}" data-state="{escape(value)}">{escape(value)}</span>'


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(token)}">'


def page(title: str, body: str, user: str = "", csrf: str = "", message: str = "", refused: bool = False) -> str:
    nav = ""
    if user:
        nav = ('<nav><a href="/">status</a><a href="/history">history</a><a href="/sync">synchronize</a>'
               '<a href="/keys">SSH keys</a><a href="/wizard">wizard</a>'
               f'<form method="post" action="/logout">{_csrf(csrf)}'
               f'<button>log out {escape(user)}</button></form></nav>')
    note = f'<p class="msg{" refused" if refused else ""}" id="message">{escape(message)}</p>' if message else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hacore: {escape(title)}</title>'
            '<link rel="stylesheet" href="/style.css"></head>'
            f"<body>{nav}<h1>{escape(title)}</h1>{note}{body}<script src=\"/app.js\"></script></body></html>")


def login(message: str = "", csrf: str = "") -> str:
    body = ('<form method="post" action="/login">'
            f'{_csrf(csrf)}<p><label>user <input name="user" autocomplete="username" required></label></p>'
            '<p><label>password <input name="password" type="password" autocomplete="current-password" required>'
            '</label></p><p><button>log in</button></p></form>')
    return page("log in", body, message=message, refused=bool(message))


def status_fragment(info: dict[str, Any]) -> str:
    """What refreshes live: the seed's rows, both nodes' rank, links and VIPs, sync, the last takeover."""
    rank = info.get("rank") or {}
    peer = rank.get("peer") or {}
    rows = [("cluster_state", _state(str(info.get("cluster_state", "none")))),
            ("sync_state", _state(str(info.get("sync_state", "error")))
             + (f" {escape(str(info['sync_reason']))}" if info.get("sync_reason") else "")),
            ("hotwire_dev", escape(str(info.get("hotwire_dev") or "-"))),
            ("maintainance", escape(render.value_text(info.get("maintenance", False)))),
            ("node", escape(f"{info.get('node', '')} (priority {info.get('priority', '')})")),
            ("rank", escape(render.rank_text(rank["self"])) if rank.get("self") else "-"),
            ("peer (hotwire)", escape(render.rank_text(peer)) if peer else "not heard"),
            ("split_brain", escape(render.value_text(info.get("split_brain", False)))),
            ("conntrack sync", escape(render.sync_text(info["sync"])) if "sync" in info else "-"),
            ("last takeover (ms)", escape(render.steps_text(info["takeover_steps"]))
             if info.get("takeover_steps") else "-"),
            ("delay (UPDATE_TRIGGER_DELAY)", escape(f"{info.get('update_trigger_delay_s', '-')} s"))]
    links = "".join(f"<tr><td>{escape(link)}</td><td>{escape(', '.join(vips))}</td>"
                    f"<td>{escape(', '.join((info.get('vips_held') or {}).get(link, [])) or '-')}</td></tr>"
                    for link, vips in (info.get("vips") or {}).items())
    return ("<table><tbody>" + "".join(f'<tr><th>{k}</th><td id="{k.split()[0]}">{v}</td></tr>' for k, v in rows)
            + "</tbody></table><h2>HA links</h2><table><thead><tr><th>link</th><th>VIPs configured</th>"
            f"<th>VIPs held here</th></tr></thead><tbody>{links}</tbody></table>")


def status(info: dict[str, Any], user: str, csrf: str, message: str = "", refused: bool = False) -> str:
    on, enabled = bool(info.get("maintenance")), bool(info.get("cluster_enabled"))
    actions = ('<h2>Actions</h2>'  # the seed's Options page: the cluster switched on (on both nodes) and saved
               f'<form class="action" method="post" action="/action/cluster">{_csrf(csrf)}'
               f'<input type="hidden" name="value" value="{"0" if enabled else "1"}">'
               f'<button id="cluster">{"cluster off" if enabled else "cluster on"}</button></form>'
               f'<form class="action" method="post" action="/action/maintenance">{_csrf(csrf)}'
               f'<input type="hidden" name="value" value="{"0" if on else "1"}">'
               f'<button id="maintenance">{"leave maintenance" if on else "maintenance: hand over to the spare"}'
               "</button></form>"
               f'<form class="action" method="post" action="/action/delay">{_csrf(csrf)}'
               '<label>UPDATE_TRIGGER_DELAY (s) <input name="value" size="6" '
               f'value="{escape(str(info.get("update_trigger_delay_s", "")))}"></label> <button>set</button></form>')
    return page(f"cluster {info.get('node', '')}", f'<div id="status">{status_fragment(info)}</div>{actions}',
                user, csrf, message, refused)


def history(entries: list[dict[str, Any]], info: dict[str, Any], now_s: float, user: str, csrf: str,
            configs: Sequence[dict[str, Any]] = ()) -> str:
    sender = (info.get("advert_sender") or {}).get("late_histogram") or {}
    loop = (info.get("loop_lateness") or {}).get("histogram") or {}
    rows = "".join(f"<tr><td>{escape(str(round(e['when'], 3)))}</td><td>{escape(e['old'])} -> {escape(e['new'])}"
                   f"</td><td>{escape(e['reason'])}</td><td>{escape(render.steps_text(e.get('steps') or {}))}</td>"
                   "</tr>" for e in reversed(entries[-50:]))
    events = charts.config_events(list(configs), info.get("last_sync") or {})
    body = ("<h2>Role changes and configuration events</h2>" + charts.timeline(entries, now_s, events)
            + "<h2>Advert timing and takeovers</h2>"
            + charts.histogram("advert sender: how late each advert left", sender)
            + charts.histogram("event loop: how late it woke", loop)
            + charts.histogram("takeover steps", charts.step_buckets(entries))
            + "<h2>The last 50</h2><table><thead><tr><th>when (unix s)</th><th>change</th><th>reason</th>"
            f"<th>steps</th></tr></thead><tbody>{rows}</tbody></table>")
    return page("history", body, user, csrf)


def sync(dry: dict[str, Any] | None, error: str, user: str, csrf: str, message: str = "",
         refused: bool = False) -> str:
    """The dry run first (what the peer would get), then the button that sends it."""
    if error:
        body = f'<p class="msg refused">the dry run failed: {escape(error)}</p>'
    else:
        shown = escape(render.value_text(dry)) if not isinstance(dry, dict) else \
            "".join(f"<h3>{escape(str(k))}</h3><pre>{escape(str(v))}</pre>" for k, v in (dry or {}).items())
        body = (f"<h2>Dry run: what the peer would run</h2>{shown}"
                f'<form class="action" method="post" action="/action/synchronize">{_csrf(csrf)}'
                '<button id="synchronize">synchronize to the peer</button></form>')
    return page("synchronize", body, user, csrf, message, refused)


def keys(public: str, error: str, user: str, csrf: str, message: str = "", refused: bool = False) -> str:
    own = f"<pre>{escape(public)}</pre>" if public else f'<p class="msg">{escape(error)}</p>'
    body = (f"<h2>This node's public key</h2>{own}<h2>The peer's key</h2>"
            f'<form class="action" method="post" action="/action/set-remote">{_csrf(csrf)}'
            '<textarea name="key" rows="3" cols="80"></textarea><br><button>set as the peer\'s key</button></form>')
    return page("SSH keys", body, user, csrf, message, refused)


def ha_lines(vips: dict[str, list[str]]) -> str:
    return "\n".join(f"{link} = {', '.join(v)}" for link, v in vips.items())


def wizard(info: dict[str, Any], form: dict[str, str], preview: dict[str, Any] | None, user: str, csrf: str,
           message: str = "", refused: bool = False) -> str:
    """The seed's five steps on one page over the running configuration (an empty field keeps what runs);
    "preview" shows the change, "apply" makes it, both through the daemon's wizard (the CLI's rules)."""
    def field(name: str, label: str, kind: str = "text", keep: str = "") -> str:
        hint = f' placeholder="{escape(keep)}"' if keep else ""
        return (f'<p><label>{escape(label)} <input name="{name}" type="{kind}" value="'
                f'{escape(form.get(name, "")) if kind != "password" else ""}"{hint}></label></p>')

    ha = form.get("ha", ha_lines(info.get("vips") or {}))
    priority = form.get("priority", str(info.get("priority", "")))
    options = "".join(f'<option{" selected" if p == priority else ""}>{p}</option>' for p in ("high", "low"))
    role = form.get("node_is", "master")
    roles = "".join(f'<option{" selected" if r == role else ""}>{r}</option>' for r in ("master", "spare"))
    steps = (f'<form method="post" action="/action/wizard">{_csrf(csrf)}'
             f'<p><label>this node is the <select name="node_is">{roles}</select></label> (the spare answers its '
             "hotwire only: the rest comes with the master's first synchronize)</p>"
             "<h2>1 Hotwire</h2>" + field("hotwire", "interface", keep=str(info.get("hotwire_dev", "")))
             + field("local", "local address (CIDR)", keep="as it runs") + field("remote", "the peer's address",
                                                                                 keep="as it runs")
             + "<h2>2 HA interfaces and their virtual IPs</h2><p><textarea name=\"ha\" rows=\"4\" cols=\"80\">"
             f"{escape(ha)}</textarea><br>one line each: interface = VIP, VIP</p>"
             "<h2>3 Interfaces disabled in backup</h2>" + field("disabled", "comma-separated", keep="as it runs")
             + "<h2>4 Applications disabled in backup</h2>" + field("applications", "comma-separated",
                                                                     keep="as it runs")
             + f'<h2>5 Priority and passphrase</h2><p><label>priority <select name="priority">{options}'
             "</select></label></p>" + field("passphrase", "passphrase", "password", keep="as it runs")
             + '<p><button name="do" value="preview" id="preview">preview</button> '
             '<button name="do" value="apply" id="apply">apply</button></p></form>')
    shown = ""
    if preview is not None:
        shown = (f'<h2>The change</h2><pre id="diff">{escape(preview.get("diff") or "nothing changes")}</pre>'
                 f'<details><summary>the whole file</summary><pre>{escape(preview.get("text", ""))}</pre></details>')
    return page("cluster wizard", shown + steps, user, csrf, message, refused)
