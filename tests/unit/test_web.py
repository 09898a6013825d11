"""The console's pure parts: password hashes, sessions that expire on a fake clock, CSRF, escaping, SVG."""

from __future__ import annotations

from hacore.vrrp import machine
from hacore.web import auth, charts, pages


def test_a_password_is_kept_as_a_salted_scrypt_hash_and_verified_in_constant_time() -> None:
    stored = auth.hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert auth.verify("correct horse battery", stored)
    assert not auth.verify("correct horse batterx", stored)
    assert stored != auth.hash_password("correct horse battery")  # salted
    assert not auth.verify("x", "not a hash") and not auth.verify("x", "md5$1$2$3$00$00")
    assert auth.password_problem("short") == "at least 12 characters"


def test_a_session_lives_while_used_and_ends_after_its_idle_time() -> None:
    now = [0.0]
    sessions = auth.Sessions(lambda: now[0], ttl_s=900)
    sid, s = sessions.open("admin")
    now[0] = 800
    assert sessions.get(sid) is s  # used: extended
    now[0] = 1600
    assert sessions.get(sid) is s
    now[0] = 2501
    assert sessions.get(sid) is None and sessions.get(sid) is None  # expired, and gone
    sid2, _ = sessions.open("admin")
    sessions.close(sid2)
    assert sessions.get(sid2) is None and sessions.get(None) is None


def test_a_form_needs_its_sessions_token() -> None:
    s = auth.Session("admin", "the-token", 0)
    assert auth.csrf_ok(s, "the-token")
    assert not auth.csrf_ok(s, "") and not auth.csrf_ok(s, None) and not auth.csrf_ok(s, "the-tokeN")


def test_what_the_node_says_is_escaped_and_coloured_as_the_seed() -> None:
    info = {"cluster_state": "master", "sync_state": "pending", "sync_reason": "<script>x</script>",
            "node": "fw1", "vips": {"lan2": ["203.0.113.1/24"]}, "vips_held": {"lan2": ["203.0.113.1/24"]}}
    html = pages.status(info, "admin", "tok")
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert '<span class="pending" data-state="pending">' in html and '<span class="ok" data-state="master">' in html
    assert html.count('name="csrf" value="tok"') == 4  # log out, cluster on/off, maintenance, delay
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere


def test_the_timeline_and_histograms_are_svg_with_escaped_reasons() -> None:
    svg = charts.timeline([{"when": 10.0, "old": "backup", "new": "master", "reason": "a <b>"},
                           {"when": 20.0, "old": "master", "new": "backup", "reason": "maintenance"}], 30.0)
    assert svg.startswith("<svg") and svg.count("<circle") == 2 and "a &lt;b&gt;" in svg
    assert charts.timeline([], 0.0) == '<p class="empty">no role changes yet</p>'
    bars = charts.histogram("late", {"<10us": 3, "<100us": 1})
    assert bars.count("<rect") == 2 and "late: nothing counted yet" in charts.histogram("late", {"<10us": 0})
    assert charts.step_buckets([{"steps": {"vips_ms": 1.0}}, {"steps": {"vips_ms": 3.0}},
                                {"steps": {"vips_ms": 2.0}}]) == {"vips (ms, median)": 2.0}


def test_configuration_events_share_the_timeline() -> None:
    configs = [{"name": "before-update", "saved": 5.0, "who": "root", "what": "saved"},
               {"name": "@1", "saved": 15.0, "who": "root (sudo: web:admin)", "what": "replaced by the wizard"}]
    events = charts.config_events(configs, {"when": 25.0, "direction": "to", "peer": "node2"})
    assert events == [(15.0, "replaced", "@1: replaced by the wizard (root (sudo: web:admin))"),
                      (25.0, "synchronized", "synchronized to node2")]
    svg = charts.timeline([{"when": 10.0, "old": "backup", "new": "master", "reason": "x"}], 30.0, events)
    assert svg.count("<rect") == 2 and svg.count("<circle") == 1


def test_a_split_brain_is_a_band_from_the_elections_start_to_its_end() -> None:
    assert machine.SPLIT_BRAIN.startswith(charts.SPLIT_BRAIN) and machine.SPLIT_BRAIN_OVER == charts.SPLIT_BRAIN_OVER
    entries = [{"when": 10.0, "old": "backup", "new": "master", "reason": "no peer heard within the delay"},
               {"when": 12.0, "old": "master", "new": "master", "reason": machine.SPLIT_BRAIN},
               {"when": 20.0, "old": "master", "new": "master", "reason": machine.SPLIT_BRAIN_OVER},
               {"when": 30.0, "old": "master", "new": "master", "reason": machine.SPLIT_BRAIN}]
    assert charts.split_brains(entries, 35.0) == [(12.0, 20.0, machine.SPLIT_BRAIN), (30.0, 35.0, machine.SPLIT_BRAIN)]
    svg = charts.timeline(entries, 35.0)
    assert svg.count('class="split-brain"') == 2 and "8.0 s: split brain: both nodes master" in svg
