"""A real browser (Playwright driving Debian's Chromium) on the lab's client, as an operator's: run inside the
client's namespace by tests/netns/test_web.py, one scenario per call, its findings printed as JSON.

    python browser.py SCENARIO '{"url": ..., "user": ..., "password": ...}'
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# As root, without a sandbox; no background traffic (this machine's network is closed).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def login(page: Page, c: dict[str, Any], password: str | None = None) -> None:
    page.goto(c["url"] + "login")
    page.fill("input[name=user]", c["user"])
    page.fill("input[name=password]", password or c["password"])
    page.click("button")
    page.wait_for_load_state()


def status(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    login(page, c)
    external = [r for r in c.get("_requests", []) if not r.startswith(c["url"])]
    return {"title": page.title(), "cluster_state": page.inner_text("#cluster_state"), "peer": page.inner_text("#peer"),
            "sync_state_class": page.get_attribute("#sync_state span", "class"), "external_requests": external}


def maintenance(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    login(page, c)
    page.click("#maintenance")
    page.wait_for_selector("#message")
    return {"message": page.inner_text("#message"), "cluster_state": page.inner_text("#cluster_state")}


def delay_and_synchronize(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    login(page, c)
    page.fill("form[action='/action/delay'] input[name=value]", c["delay"])
    page.click("form[action='/action/delay'] button")
    page.wait_for_selector("#message")
    return {"delay": page.inner_text("#message")} | _synchronize(page, c)


def synchronize(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    login(page, c)
    return _synchronize(page, c)


def _synchronize(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    """The dry run read first, then sent."""
    page.goto(c["url"] + "sync")
    dry_run = page.inner_text("body")
    page.click("#synchronize")
    page.wait_for_selector("#message")
    return {"dry_run": dry_run, "synchronize": page.inner_text("#message")}


def cluster_on(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    """The seed's Options page: the cluster switched on."""
    login(page, c)
    button = page.inner_text("#cluster")
    page.click("#cluster")
    page.wait_for_selector("#message")
    return {"button": button, "message": page.inner_text("#message")}


def keys(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    """This node's key, and the peer's set from the page."""
    login(page, c)
    page.goto(c["url"] + "keys")
    own = page.inner_text("pre")
    if c.get("remote"):
        page.fill("textarea[name=key]", c["remote"])
        page.click("form[action='/action/set-remote'] button")
        page.wait_for_selector("#message")
        return {"own": own, "message": page.inner_text("#message")}
    return {"own": own}


def history(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    login(page, c)
    page.goto(c["url"] + "history")
    return {"changes": page.locator("svg.timeline circle").count(),
            "histograms": page.locator("svg.histogram").count(),
            "reasons": [t.text_content() for t in page.locator("svg.timeline circle title").all()],
            "events": [t.text_content() for t in page.locator("svg.timeline rect title").all()]}


def wizard(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    """The wizard's page over the running configuration: a wrong answer refused with the CLI's line, then a
    VIP added: previewed, applied."""
    login(page, c)
    page.goto(c["url"] + "wizard")
    ha = page.input_value("textarea[name=ha]")
    page.fill("textarea[name=ha]", ha + "\neth9 = 203.0.113.9/24")
    page.click("#preview")
    page.wait_for_selector("#message")
    refused = page.inner_text("#message")
    page.fill("textarea[name=ha]", c["ha"])
    page.click("#preview")
    page.wait_for_selector("#diff")
    diff = page.inner_text("#diff")
    page.click("#apply")
    page.wait_for_selector("#message")
    return {"prefilled": ha, "refused": refused, "diff": diff, "applied": page.inner_text("#message")}


def set_up(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    """The wizard on a node not yet in a cluster: the master answers the five steps, the spare its hotwire;
    previewed, then applied."""
    login(page, c)
    page.goto(c["url"] + "wizard")
    page.select_option("select[name=node_is]", c["node_is"])
    for name in ("hotwire", "local", "remote", "passphrase"):
        if c.get(name):
            page.fill(f"input[name={name}]", c[name])
    if c.get("ha"):
        page.fill("textarea[name=ha]", c["ha"])
        page.select_option("select[name=priority]", "high")
    page.click("#preview")
    page.wait_for_selector("#diff")
    diff = page.inner_text("#diff")
    page.click("#apply")
    page.wait_for_selector("#message")
    return {"diff": diff, "applied": page.inner_text("#message")}


def expiry(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    """A session left unused longer than its idle time ends: the next page asks for the login again. (The
    wait is the idle time itself plus a margin: any request before it would keep the session alive.)"""
    login(page, c)
    page.goto(c["url"] + "keys")  # a page that does not refresh itself
    logged_in = page.url
    page.wait_for_timeout(float(c["idle_s"]) * 1000 + 1000)
    page.goto(c["url"])
    return {"logged_in_at": logged_in, "after_idle_lands_on": page.url}


def refusals(page: Page, c: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    login(page, c, password="not the password")
    out["wrong_password"] = page.inner_text("#message")
    login(page, c)
    session = next(k for k in page.context.cookies() if k["name"] == "hacore_session")
    forged = page.request.post(c["url"] + "action/maintenance", form={"value": "1"})  # the session, no token
    out["forged"] = [forged.status, forged.text()]
    wrong = page.request.post(c["url"] + "action/maintenance", form={"value": "1", "csrf": "guessed"})
    out["wrong_token"] = wrong.status
    page.click("nav button")  # log out
    page.wait_for_load_state()
    page.context.add_cookies([session])  # the ended session's cookie, replayed
    page.goto(c["url"])
    out["ended_session_lands_on"] = page.url
    return out


SCENARIOS: dict[str, Callable[[Page, dict[str, Any]], dict[str, Any]]] = {
    "status": status, "maintenance": maintenance, "delay_and_synchronize": delay_and_synchronize, "keys": keys,
    "history": history, "wizard": wizard, "expiry": expiry, "refusals": refusals, "set_up": set_up,
    "synchronize": synchronize, "cluster_on": cluster_on}


def main() -> None:
    scenario, c = sys.argv[1], json.loads(sys.argv[2])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(ignore_https_errors=True)  # the console's self-signed certificate
            page = context.new_page()
            c["_requests"] = []
            page.on("request", lambda r: c["_requests"].append(r.url))
            print(json.dumps(SCENARIOS[scenario](page, c)))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
