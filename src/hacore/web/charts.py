"""SVG drawn from the node's own data: the role history as a timeline, and a
histogram (advert lateness, loop lateness, takeover steps) as bars.

Rules: pure; every text that came from the node is escaped; no script, no
external resource: the SVG is inline in the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

ROLE_COLOURS = {"master": "#2e7d32", "backup": "#1565c0", "none": "#424242"}
# How the election's history names a split brain's start and end (hacore.vrrp.machine's words).
SPLIT_BRAIN, SPLIT_BRAIN_OVER = "split brain:", "split brain over"
WIDTH, ROW = 760, 26


def timeline(entries: list[dict[str, Any]], now_s: float, events: Sequence[tuple[float, str, str]] = ()) -> str:
    """Role changes on one line (circles, coloured by the role taken) and the configuration's events on
    another (squares: replaced, loaded, synchronized), left to right in time; what each was on hover."""
    if not entries and not events:
        return '<p class="empty">no role changes yet</p>'
    first = min([float(e["when"]) for e in entries] + [when for when, _, _ in events])
    span = max(now_s - first, 1.0)
    height = 96

    def x(when: float) -> float:
        return 10 + (float(when) - first) / span * (WIDTH - 20)

    parts = [f'<svg class="timeline" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
             'role="img" aria-label="role changes and configuration events over time">',
             f'<line x1="10" y1="25" x2="{WIDTH - 10}" y2="25" stroke="#999"/>',
             f'<line x1="10" y1="60" x2="{WIDTH - 10}" y2="60" stroke="#ccc"/>']
    for start, end, why in split_brains(entries, now_s):  # under the circles: a band while it lasted
        parts.append(f'<rect class="split-brain" x="{x(start):.1f}" y="14" width="{max(x(end) - x(start), 3):.1f}" '
                     f'height="22" fill="#c62828" fill-opacity="0.35"><title>{escape(f"{end - start:.1f} s: {why}")}'
                     "</title></rect>")
    for e in entries:
        colour = ROLE_COLOURS.get(e.get("new", ""), "#6d4c41")
        tip = escape(f"{e.get('old')} -> {e.get('new')}: {e.get('reason', '')}")
        parts.append(f'<circle class="change" cx="{x(e["when"]):.1f}" cy="25" r="7" fill="{colour}"><title>{tip}'
                     "</title></circle>")
    for when, kind, text in events:
        parts.append(f'<rect class="event {escape(kind)}" x="{x(when) - 6:.1f}" y="54" width="12" height="12" '
                     f'fill="#8e24aa"><title>{escape(text)}</title></rect>')
    parts.append(f'<text x="10" y="90" font-size="11">{len(entries)} role changes (circles), {len(events)} '
                 "configuration events (squares); the first on the left</text></svg>")
    return "".join(parts)


def split_brains(entries: list[dict[str, Any]], now_s: float) -> list[tuple[float, float, str]]:
    """The split-brain episodes in the history: (start, end, why); one not over yet ends now."""
    out: list[tuple[float, float, str]] = []
    start: tuple[float, str] | None = None
    for e in entries:
        reason = str(e.get("reason", ""))
        if reason.startswith(SPLIT_BRAIN) and start is None:
            start = (float(e["when"]), reason)
        elif reason == SPLIT_BRAIN_OVER and start is not None:
            out.append((start[0], float(e["when"]), start[1]))
            start = None
    if start is not None:
        out.append((start[0], now_s, start[1]))
    return out


def config_events(configs: list[dict[str, Any]], last_sync: dict[str, Any]) -> list[tuple[float, str, str]]:
    """`system config list`'s revisions (each a configuration replaced: by whom, by what) and the last
    synchronize, as timeline events."""
    out = [(float(r["saved"]), "replaced", f"{r['name']}: {r['what']} ({r.get('who') or '-'})")
           for r in configs if str(r.get("name", "")).startswith("@")]
    if isinstance(last_sync.get("when"), (int, float)):
        out.append((float(last_sync["when"]), "synchronized",
                    f"synchronized {last_sync.get('direction', '')} {last_sync.get('peer', '')}".strip()))
    return sorted(out)


def histogram(title: str, buckets: dict[str, int | float]) -> str:
    """Bars of one histogram ({bucket label: count}); an empty one says so."""
    total = sum(buckets.values())
    if not total:
        return f'<p class="empty">{escape(title)}: nothing counted yet</p>'
    top = max(buckets.values())
    height = ROW * len(buckets) + 30
    parts = [f'<svg class="histogram" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-label="{escape(title)}"><text x="0" y="14" font-size="13">{escape(title)}</text>']
    for k, (label, n) in enumerate(buckets.items()):
        y = 24 + k * ROW
        w = 0 if not top else n / top * (WIDTH - 260)
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>'
                     f'<rect x="120" y="{y}" width="{w:.1f}" height="{ROW - 6}" fill="#5c6bc0"/>'
                     f'<text x="{126 + w:.1f}" y="{y + 15}" font-size="12">{n:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def step_buckets(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Each takeover step's median duration in ms over the recorded role changes."""
    per: dict[str, list[float]] = {}
    for e in entries:
        for step, ms in (e.get("steps") or {}).items():
            per.setdefault(step.removesuffix("_ms"), []).append(float(ms))
    return {f"{step} (ms, median)": round(sorted(v)[len(v) // 2], 3) for step, v in sorted(per.items())}
