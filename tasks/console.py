"""The operator console at ``/console``: the ledger at a glance and the few buttons an operator needs.

Served by ``sweeper web`` beside the callback receiver, only when ``SWEEPER_WEB__OPERATOR`` or
``SWEEPER_WEB__VIEWER`` is set (no default credential). A viewer sees everything; only an operator may
retry a FAILED sweep, re-open a SKIPPED one, ask the workers to sweep an address, or flip the spend
guards' kill switch (the same ledger calls as ``sweeper retry | sweep | pause | resume``).

Sessions are HMAC-signed cookies (``HttpOnly``, ``SameSite=Strict``) that carry no secret; every form
carries a CSRF token derived from the session (the login form from a pre-session cookie), and a POST
whose ``Origin`` names another site is refused, as OWASP's CSRF cheat sheet recommends
(https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html).
Pages are plain server-rendered HTML; every value is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from config.web import WebSettings, credential
from sweeper.chain.addresses import validate
from sweeper.errors import SweeperError
from sweeper.ledger import Ledger, Sweep, stats
from sweeper.ledger.controls import SpendControls
from sweeper.models import SUN_PER_TRX, SweepState
from tasks.metrics import ProviderProbes

log = structlog.get_logger("sweeper.console")

OPERATOR = "operator"
VIEWER = "viewer"
SESSION_COOKIE = "sweeper_console"
LOGIN_COOKIE = "sweeper_login"
MAX_FORM = 8 * 1024
LISTED = 50


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str
    role: str


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Who may log in, what signs their sessions, and the figures the page shows beside the ledger."""

    users: Mapping[str, User]
    secret: bytes
    session_seconds: float
    sun_per_hour: int = 0
    decimals: Mapping[str, int] | None = None

    @classmethod
    def from_settings(
        cls, web: WebSettings, *, sun_per_hour: int = 0, decimals: Mapping[str, int] | None = None
    ) -> ConsoleConfig | None:
        """The console's configuration, or None when no user is configured (the console is off)."""
        users: dict[str, User] = {}
        for role, value in ((VIEWER, web.viewer), (OPERATOR, web.operator)):
            pair = credential(value)
            if pair is not None:
                users[pair[0]] = User(pair[0], pair[1], role)
        if not users or web.session_secret is None:
            return None
        secret = web.session_secret.get_secret_value().encode()
        return cls(users, secret, web.session_hours * 3600, sun_per_hour, decimals)


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    nonce: str


class Console:
    """The console's request handlers; ledger work runs in a thread, as the receiver's does."""

    def __init__(
        self,
        config: ConsoleConfig,
        ledger: Ledger,
        send_task: Callable[..., str],
        *,
        probes: ProviderProbes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self._send = send_task
        self.probes = probes
        self._clock = clock

    # --- sessions and CSRF --------------------------------------------------------------------------

    def _sign(self, text: str) -> str:
        return hmac.new(self.config.secret, text.encode(), hashlib.sha256).hexdigest()

    def _cookie(self, session: Session) -> str:
        payload = json.dumps(
            {
                "u": session.user,
                "r": session.role,
                "n": session.nonce,
                "e": self._clock() + self.config.session_seconds,
            },
            separators=(",", ":"),
        )
        body = base64.urlsafe_b64encode(payload.encode()).decode()
        return f"{body}.{self._sign('session:' + body)}"

    def session(self, request: Request) -> Session | None:
        """The request's valid session, whose user still holds that role; None otherwise."""
        raw = request.cookies.get(SESSION_COOKIE, "")
        body, _, mac = raw.partition(".")
        if not body or not hmac.compare_digest(mac, self._sign("session:" + body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
            session = Session(str(data["u"]), str(data["r"]), str(data["n"]))
            expires = float(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        user = self.config.users.get(session.user)
        if expires < self._clock() or user is None or user.role != session.role:
            return None
        return session

    def csrf(self, nonce: str) -> str:
        return self._sign("csrf:" + nonce)

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return origin is None
        # Behind a reverse proxy the browser's host arrives as X-Forwarded-Host (the Host is the upstream's).
        hosts = {request.headers.get("host", ""), *request.headers.get("x-forwarded-host", "").split(",")}
        return urlsplit(origin).netloc in {h.strip() for h in hosts if h.strip()}

    async def _form(self, request: Request) -> dict[str, str] | None:
        body = await request.body()
        if len(body) > MAX_FORM:
            return None
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace")).items()}

    # --- pages --------------------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return self._login_form(request, "")

    def _login_form(self, request: Request, error: str, status: int = 200) -> Response:
        nonce = secrets.token_urlsafe(16)
        html = _page(
            "Sign in",
            f"""<form method="post" action="/console/login" class="login">
<input type="hidden" name="csrf" value="{self.csrf("login:" + nonce)}">
<label>User <input name="user" id="user" autocomplete="username" required></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password"
required></label>
<button type="submit" id="login">Sign in</button>
{f'<p class="error" id="error">{escape(error)}</p>' if error else ""}
</form>""",
        )
        response = HTMLResponse(html, status)
        self._set_cookie(request, response, LOGIN_COOKIE, nonce, 600)
        return response

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if (
            form is None
            or not self._same_origin(request)
            or not nonce
            or not hmac.compare_digest(form.get("csrf", ""), self.csrf("login:" + nonce))
        ):
            return self._login_form(request, "the form expired: sign in again", 403)
        user = self.config.users.get(form.get("user", ""))
        given = form.get("password", "").encode()
        expected = user.password.encode() if user is not None else secrets.token_bytes(16)
        if user is None or not hmac.compare_digest(given, expected):
            log.warning("console.login_failed")
            return self._login_form(request, "wrong user or password", 401)
        log.info("console.login", user=user.name, role=user.role)
        response = RedirectResponse("/console", 303)
        cookie = self._cookie(Session(user.name, user.role, secrets.token_urlsafe(16)))
        self._set_cookie(request, response, SESSION_COOKIE, cookie, int(self.config.session_seconds))
        response.delete_cookie(LOGIN_COOKIE, path="/console")
        return response

    def _set_cookie(self, request: Request, response: Response, name: str, value: str, age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    async def dashboard(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/console/login", 303)
        html = await run_in_threadpool(self._dashboard, session, request.query_params.get("done", ""))
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def _dashboard(self, session: Session, done: str) -> str:
        operator = session.role == OPERATOR
        token = self.csrf(session.nonce)
        controls = SpendControls(self.ledger)
        pause = controls.pause_state()
        spent = controls.spent_since(self.ledger.now() - timedelta(hours=1))
        budget = self.config.sun_per_hour
        parts = [
            f"""<header><span id="who">{escape(session.user)} ({escape(session.role)})</span>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="{token}">
<button type="submit" id="logout">Sign out</button></form></header>""",
        ]
        if done:
            parts.append(f'<p class="done" id="done">{escape(done[:200])}</p>')
        if not operator:
            parts.append('<p class="note" id="read-only">Read-only: sign in as the operator to act.</p>')
        state = "PAUSED" if pause.paused else "running"
        since = f" since {pause.since:%Y-%m-%d %H:%M:%S} UTC" if pause.paused and pause.since else ""
        note = f" ({escape(pause.note)})" if pause.paused and pause.note else ""
        switch = ""
        if operator and pause.paused:
            switch = _action("/console/resume", token, "Resume spending", "resume")
        elif operator:
            switch = _action(
                "/console/pause",
                token,
                "Pause all spending",
                "pause",
                '<input name="reason" id="pause-reason" placeholder="reason" maxlength="200">',
            )
        limit = f" of {_trx(budget)} TRX budget" if budget else ""
        parts.append(
            f"""<section><h2>Kill switch</h2>
<p>Spending is <strong id="spending">{state}</strong>{since}{note}.
Energy bought in the last hour: {_trx(spent)} TRX{limit}.</p>{switch}</section>"""
        )
        parts.append(self._states_table())
        parts.append(self._providers_table())
        if operator:
            parts.append(
                "<section><h2>Sweep an address</h2>"
                + _action(
                    "/console/sweep",
                    token,
                    "Sweep this address",
                    "sweep",
                    '<input name="address" id="sweep-address" placeholder="T…" size="40" required>',
                )
                + "</section>"
            )
        parts.append(self._sweeps_table("FAILED", SweepState.FAILED, token if operator else None, "Retry"))
        parts.append(
            self._sweeps_table("SKIPPED", SweepState.SKIPPED, token if operator else None, "Re-open")
        )
        parts.append(self._sweeps_table("Latest", None, None, ""))
        return _page("Sweeper console", "\n".join(parts))

    def _states_table(self) -> str:
        rows = "".join(
            f"<tr><td>{c.state.value}</td><td>{escape(c.token_symbol)}</td><td class=n>{c.count}</td>"
            f"<td class=n>{_trx(c.cost_sun)}</td></tr>"
            for c in stats.state_counts(self.ledger)
        )
        return (
            '<section><h2>Sweeps by state</h2><table id="states"><tr><th>state</th><th>token</th>'
            f"<th>sweeps</th><th>cost TRX</th></tr>{rows or '<tr><td colspan=4>none yet</td></tr>'}</table>"
            "</section>"
        )

    def _providers_table(self) -> str:
        if self.probes is None:
            return ""
        now = self._clock()
        rows = []
        for r in self.probes.latest():
            balance = _trx(r.balance_sun) if r.balance_sun is not None else "—"
            status = "up" if r.up else f"DOWN ({escape(r.error or '')})"
            rows.append(
                f"<tr><td>{escape(r.source)}</td><td>{status}</td><td class=n>{balance}</td>"
                f"<td class=n>{max(0, int(now - r.at))} s ago</td></tr>"
            )
        body = "".join(rows) or "<tr><td colspan=4>not probed yet</td></tr>"
        return (
            '<section><h2>Energy sources</h2><table id="providers"><tr><th>source</th><th>status</th>'
            f"<th>balance TRX</th><th>probed</th></tr>{body}</table></section>"
        )

    def _sweeps_table(self, title: str, state: SweepState | None, token: str | None, verb: str) -> str:
        sweeps = self.ledger.sweeps(state=state, limit=LISTED if state else 20)
        head = "<tr><th>id</th><th>state</th><th>address</th><th>amount</th><th>reason</th><th>cost TRX</th>"
        head += "<th>attempt</th><th>updated (UTC)</th>" + ("<th></th>" if token else "") + "</tr>"
        rows = []
        for s in sweeps:
            button = ""
            if token:
                button = (
                    "<td>" + _action(f"/console/sweeps/{s.id}/retry", token, verb, f"retry-{s.id}") + "</td>"
                )
            rows.append(
                f'<tr id="sweep-{s.id}"><td>{s.id}</td><td>{s.state.value}</td>'
                f"<td class=mono>{escape(s.address)}</td><td class=n>{self._amount(s)}</td>"
                f"<td>{escape(s.reason or '')}</td>"
                f"<td class=n>{_trx(s.cost_sun)}</td><td class=n>{s.attempt}</td>"
                f"<td>{s.updated_at:%Y-%m-%d %H:%M:%S}</td>{button}</tr>"
            )
        empty = f"<tr><td colspan=9>no {title.lower()} sweeps</td></tr>"
        slug = title.lower()
        return (
            f'<section><h2>{title} sweeps</h2><table id="sweeps-{slug}">{head}{"".join(rows) or empty}'
            "</table></section>"
        )

    def _amount(self, s: Sweep) -> str:
        decimals = (self.config.decimals or {}).get(s.token_contract)
        if decimals is None:
            return f"{s.amount} units {escape(s.token_symbol)}"
        return f"{Decimal(s.amount).scaleb(-decimals):f} {escape(s.token_symbol)}"

    # --- actions ------------------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/console/login", 303)
        form = await self._form(request)
        if (
            form is None
            or not self._same_origin(request)
            or not hmac.compare_digest(form.get("csrf", ""), self.csrf(session.nonce))
        ):
            return HTMLResponse(_page("Refused", "<p>The form is stale: reload the page.</p>"), 403)
        if session.role != OPERATOR:
            log.warning("console.refused", user=session.user, path=request.url.path)
            return HTMLResponse(_page("Refused", "<p>Read-only user: only the operator may act.</p>"), 403)
        action = request.path_params.get("action", "")
        sweep_id = request.path_params.get("sweep_id")
        try:
            done = await run_in_threadpool(self._do, action, sweep_id, form)
        except SweeperError as exc:
            done = str(exc)
        log.info("console.action", user=session.user, action=action, sweep_id=sweep_id, outcome=done)
        return RedirectResponse("/console?" + urlencode({"done": done}), 303)

    def _do(self, action: str, sweep_id: int | None, form: Mapping[str, str]) -> str:
        controls = SpendControls(self.ledger)
        if action == "pause":
            reason = form.get("reason", "").strip()[:200] or "paused from the console"
            controls.pause(reason)
            return "spending paused: nothing is ordered until resumed"
        if action == "resume":
            controls.resume()
            return "spending resumed"
        if action == "sweep":
            return self._sweep(form.get("address", ""))
        if action == "retry" and sweep_id is not None:
            return self._retry(int(sweep_id))
        return "unknown action"

    def _sweep(self, address: str) -> str:
        addr = validate(address.strip())
        if self.ledger.get_address(addr) is None:
            return f"{addr} is not a watched deposit address: nothing queued"
        task = self._send("sweeper.sweep_address", address=addr)
        return f"queued sweeper.sweep_address for {addr} (task {task})"

    def _retry(self, sweep_id: int) -> str:
        sweep = self.ledger.get_sweep(sweep_id)
        if sweep is None:
            return f"no sweep {sweep_id}"
        if sweep.state not in (SweepState.FAILED, SweepState.SKIPPED):
            return f"sweep {sweep_id} is {sweep.state.value}: only FAILED or SKIPPED sweeps are re-opened"
        reason = "retry_by_operator" if sweep.state is SweepState.FAILED else "reopened_by_operator"
        if not self.ledger.reopen(sweep_id, reason=reason, state=sweep.state):
            return f"sweep {sweep_id} changed state meanwhile: nothing done"
        return f"sweep {sweep_id} re-opened as DETECTED (attempt {sweep.attempt + 1})"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console", self.dashboard, methods=["GET"]),
            Route("/console/login", self.login_page, methods=["GET"]),
            Route("/console/login", self.login, methods=["POST"]),
            Route("/console/logout", self.logout, methods=["POST"]),
            Route("/console/sweeps/{sweep_id:int}/retry", self._retry_route, methods=["POST"]),
            Route("/console/{action:str}", self.act, methods=["POST"]),
        ]

    async def _retry_route(self, request: Request) -> Response:
        request.path_params["action"] = "retry"
        return await self.act(request)


def _action(path: str, token: str, label: str, element_id: str, fields: str = "") -> str:
    return (
        f'<form method="post" action="{path}" class="action">'
        f'<input type="hidden" name="csrf" value="{token}">'
        f'{fields}<button type="submit" id="{element_id}">{escape(label)}</button></form>'
    )


def _trx(sun: int) -> str:
    return f"{Decimal(sun) / SUN_PER_TRX:,.6f}"


STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.3em 0 1em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
td.n{text-align:right}td.mono{font-family:monospace}header{display:flex;gap:1em;align-items:center}
form.action,header form{display:inline}
.done{background:#e7f6e7;padding:.4em}.note{background:#fff4d6;padding:.4em}
.error{color:#a00}form.login label{display:block;margin:.4em 0}h2{font-size:1.1em;margin:.8em 0 .2em}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
