"""The web console: an aiohttp application in a process of its own that asks
the node's daemon over the control socket, as the CLI does.

Rules: nothing here runs in the daemon, so a slow page or a crashed console
cannot touch the adverts or a takeover. Every page but the login needs a
live session (cookie: HttpOnly, Secure, SameSite=Strict); every POST that
changes something carries the session's CSRF token (the login form a
token of its own, double-submitted); refusals are the daemon's own one-line
reasons. Every action is logged with its user, and the daemon records the
user as who made the change ("web:<user>").
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hacore.control.protocol import ControlError, request
from hacore.support.logfmt import log
from hacore.web import auth, pages, users

logger = logging.getLogger("hacore.web")
SESSION, LOGIN = "hacore_session", "hacore_login"
OPEN = {"/login", "/style.css", "/app.js"}
HEADERS = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    def __init__(self, socket_path: Path, users_path: Path, idle_s: float = auth.TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.socket_path = socket_path
        self.users_path = users_path
        self.sessions = auth.Sessions(clock, ttl_s=idle_s)
        self.flash: dict[str, tuple[str, bool]] = {}  # session id -> the last action's answer, shown once
        # session id -> the wizard answers last previewed: apply makes what was shown (a password field comes
        # back empty from the preview's page)
        self.previewed: dict[str, dict[str, Any]] = {}

    async def ask(self, user: str, cmd: str, **args: Any) -> Any:
        return await asyncio.to_thread(request, self.socket_path, cmd, sudo_user=f"web:{user}", **args)

    def app(self) -> web.Application:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._guard(request, handler)

        app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
        app.add_routes([
            web.get("/style.css", _static(pages.CSS, "text/css")),
            web.get("/app.js", _static(pages.SCRIPT, "application/javascript")),
            web.get("/login", self.login_form), web.post("/login", self.login),
            web.post("/logout", self.logout),
            web.get("/", self.status), web.get("/status.html", self.status_fragment),
            web.get("/history", self.history), web.get("/sync", self.sync), web.get("/keys", self.keys),
            web.get("/wizard", self.wizard), web.post("/action/wizard", self.wizard_post),
            web.post("/action/cluster", self.act(self.cluster)),
            web.post("/action/maintenance", self.act(self.maintenance)),
            web.post("/action/delay", self.act(self.delay)),
            web.post("/action/synchronize", self.act(self.synchronize, back="/sync")),
            web.post("/action/set-remote", self.act(self.set_remote, back="/keys")),
        ])
        return app

    # -- sessions -----------------------------------------------------------------------------

    async def _guard(self, req: web.Request, handler: Handler) -> web.StreamResponse:
        if req.path not in OPEN:
            session = self.sessions.get(req.cookies.get(SESSION))
            if session is None:
                if req.method == "GET" and req.path != "/status.html":
                    raise web.HTTPSeeOther("/login")
                raise web.HTTPUnauthorized(text="log in first")
            req["session"] = session
        resp = await handler(req)
        resp.headers.update(HEADERS)
        return resp

    async def login_form(self, req: web.Request, message: str = "") -> web.Response:
        # One token per browser until it logs in: a second tab (or the favicon's redirect) must not void it.
        token = req.cookies.get(LOGIN) or secrets.token_urlsafe(24)
        resp = web.Response(text=pages.login(message, token), content_type="text/html",
                            status=401 if message else 200)
        resp.set_cookie(LOGIN, token, httponly=True, secure=True, samesite="Strict")
        return resp

    async def login(self, req: web.Request) -> web.StreamResponse:
        form = await req.post()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        if not req.cookies.get(LOGIN) or not auth.csrf_ok(auth.Session("", req.cookies[LOGIN], 0), str(
                form.get("csrf", ""))):
            log(logger, "web_refused", logging.WARNING, why="login form without its token", peer=req.remote)
            raise web.HTTPForbidden(text="refused: the login form's token is missing or wrong")
        stored = users.load(self.users_path).get(user, "")
        if not stored or not await asyncio.to_thread(auth.verify, password, stored):
            log(logger, "web_login_failed", logging.WARNING, user=user, peer=req.remote)
            return await self.login_form(req, "wrong user or password")
        sid, _ = self.sessions.open(user)
        log(logger, "web_login", user=user, peer=req.remote)
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(SESSION, sid, httponly=True, secure=True, samesite="Strict")
        resp.del_cookie(LOGIN)
        raise resp

    async def logout(self, req: web.Request) -> web.StreamResponse:
        await self._checked(req)
        self.sessions.close(req.cookies.get(SESSION))
        self.previewed.pop(req.cookies.get(SESSION, ""), None)
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(SESSION)
        raise resp

    async def _checked(self, req: web.Request) -> dict[str, str]:
        """The form of a POST whose CSRF token is the session's; 403 otherwise."""
        form = await req.post()
        session: auth.Session = req["session"]
        if not auth.csrf_ok(session, str(form.get("csrf", ""))):
            log(logger, "web_refused", logging.WARNING, user=session.user, why="CSRF token missing or wrong",
                path=req.path)
            raise web.HTTPForbidden(text="refused: the form's CSRF token does not match this session")
        return {k: str(v) for k, v in form.items()}

    def _shown(self, req: web.Request) -> tuple[str, bool]:
        return self.flash.pop(req.cookies.get(SESSION, ""), ("", False))

    # -- pages --------------------------------------------------------------------------------

    async def _info(self, user: str) -> tuple[dict[str, Any], str]:
        try:
            return await self.ask(user, "info"), ""
        except ControlError as exc:
            return {}, str(exc)

    async def status(self, req: web.Request) -> web.Response:
        s: auth.Session = req["session"]
        info, error = await self._info(s.user)
        message, refused = self._shown(req)
        text = pages.status(info, s.user, s.csrf, message or error, refused or bool(error))
        return web.Response(text=text, content_type="text/html")

    async def status_fragment(self, req: web.Request) -> web.Response:
        info, error = await self._info(req["session"].user)
        if error:
            raise web.HTTPServiceUnavailable(text=error)
        return web.Response(text=pages.status_fragment(info), content_type="text/html")

    async def history(self, req: web.Request) -> web.Response:
        s: auth.Session = req["session"]
        try:
            entries, info = await self.ask(s.user, "history"), await self.ask(s.user, "info")
            configs = await self.ask(s.user, "config.list")
        except ControlError as exc:
            return web.Response(text=pages.page("history", "", s.user, s.csrf, str(exc), True),
                                content_type="text/html")
        return web.Response(text=pages.history(entries, info, time.time(), s.user, s.csrf, configs),
                            content_type="text/html")

    async def sync(self, req: web.Request) -> web.Response:
        s: auth.Session = req["session"]
        try:
            dry, error = await self.ask(s.user, "config.sync", dry_run=True), ""
        except ControlError as exc:
            dry, error = None, str(exc)
        message, refused = self._shown(req)
        return web.Response(text=pages.sync(dry, error, s.user, s.csrf, message, refused), content_type="text/html")

    async def keys(self, req: web.Request) -> web.Response:
        s: auth.Session = req["session"]
        try:
            public, error = str((await self.ask(s.user, "sshkey.show")).get("public_key", "")), ""
        except ControlError as exc:
            public, error = "", str(exc)
        message, refused = self._shown(req)
        return web.Response(text=pages.keys(public, error, s.user, s.csrf, message, refused),
                            content_type="text/html")

    async def wizard(self, req: web.Request) -> web.Response:
        s: auth.Session = req["session"]
        info, error = await self._info(s.user)
        message, refused = self._shown(req)
        return web.Response(text=pages.wizard(info, {}, None, s.user, s.csrf, message or error,
                                              refused or bool(error)), content_type="text/html")

    async def wizard_post(self, req: web.Request) -> web.StreamResponse:
        """preview: the daemon's dry run shown with the form as sent; apply: made, its answer shown once."""
        form = await self._checked(req)
        s: auth.Session = req["session"]
        sid, apply = req.cookies.get(SESSION, ""), form.get("do") == "apply"
        answers = (self.previewed.get(sid, {}) if apply else {}) | wizard_answers(form)
        try:
            result = await self.ask(s.user, "wizard.apply", answers=json.dumps(answers), dry_run=not apply)
            message, refused = "", False
        except ControlError as exc:
            result, message, refused = None, str(exc), True
        log(logger, "web_action", logging.WARNING if refused else logging.INFO, user=s.user,
            action=f"wizard {form.get('do', 'preview')}", ok=not refused, answer=message or "done")
        if not apply and not refused:
            self.previewed[sid] = answers
        if apply and not refused:
            self.previewed.pop(sid, None)
            key = f"; this node's public SSH key is made: {result['public_key']}" if result.get("public_key") else ""
            self.flash[req.cookies.get(SESSION, "")] = (f"the wizard's configuration runs: {result['how']}{key}",
                                                        False)
            raise web.HTTPSeeOther("/wizard")
        info, _ = await self._info(s.user)
        return web.Response(text=pages.wizard(info, form, result, s.user, s.csrf, message, refused),
                            content_type="text/html")

    # -- actions ------------------------------------------------------------------------------

    def act(self, action: Callable[[str, dict[str, str]], Awaitable[str]], back: str = "/") -> Handler:
        """A POST that changes something: CSRF checked, done through the daemon, its answer (or its one-line
        refusal) shown once on the page it came from, logged with the user."""

        async def run(req: web.Request) -> web.StreamResponse:
            form = await self._checked(req)
            user = req["session"].user
            try:
                answer, refused = await action(user, form), False
            except ControlError as exc:
                answer, refused = str(exc), True
            log(logger, "web_action", logging.WARNING if refused else logging.INFO, user=user, action=req.path,
                ok=not refused, answer=answer)
            self.flash[req.cookies.get(SESSION, "")] = (answer, refused)
            raise web.HTTPSeeOther(back)

        return run

    async def cluster(self, user: str, form: dict[str, str]) -> str:
        data = await self.ask(user, "cluster.enable", value=form.get("value", ""))
        return f"cluster {'on' if data['enabled'] else 'off'}: {data['how']}"

    async def maintenance(self, user: str, form: dict[str, str]) -> str:
        data = await self.ask(user, "maintenance.set", value=form.get("value", ""))
        if form.get("value") != "1" or data.get("handed_over"):
            return "maintenance " + ("on: handed over to the spare" if form.get("value") == "1" else "off")
        return f"maintenance on, not handed over yet: {data.get('why_not') or 'the hand-over is in progress'}"

    async def delay(self, user: str, form: dict[str, str]) -> str:
        data = await self.ask(user, "extc.set", variable="UPDATE_TRIGGER_DELAY", value=form.get("value", ""))
        return "; ".join([f"UPDATE_TRIGGER_DELAY is {data['value']:g} s", *data.get("warnings", [])])

    async def synchronize(self, user: str, form: dict[str, str]) -> str:
        data = await self.ask(user, "config.sync")
        return f"synchronized: {render_answer(data)}"

    async def set_remote(self, user: str, form: dict[str, str]) -> str:
        data = await self.ask(user, "sshkey.set_remote", key=form.get("key", "").strip())
        return f"the peer's key is set ({render_answer(data)})"


def wizard_answers(form: dict[str, str]) -> dict[str, Any]:
    """The console's wizard form as the wizard's answers (an empty field: keep what runs)."""
    def names(text: str) -> list[str]:
        return [n.strip() for n in text.split(",") if n.strip()]

    ha: dict[str, list[str]] = {}
    for line in form.get("ha", "").splitlines():
        link, _, vips = line.partition("=")
        if link.strip():
            ha[link.strip()] = names(vips)
    out: dict[str, Any] = {k: form.get(k, "").strip() for k in ("hotwire", "local", "remote", "priority",
                                                                 "passphrase")}
    out |= {"ha": ha, "disabled_interfaces": names(form.get("disabled", "")),
            "applications": names(form.get("applications", ""))}
    return {k: v for k, v in out.items() if v} | ({"spare": True} if form.get("node_is") == "spare" else {})


def _static(text: str, kind: str) -> Handler:
    async def serve(req: web.Request) -> web.StreamResponse:
        return web.Response(text=text, content_type=kind)

    return serve


def render_answer(data: Any) -> str:
    if isinstance(data, dict):
        return ", ".join(f"{k}: {v}" for k, v in data.items() if not isinstance(v, dict | list)) or "done"
    return str(data)
