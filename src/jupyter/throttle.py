# Written by secure-init into its root-owned Jupyter config directory (loaded by
# jupyter_server as configuration code; do not edit here: it is rewritten at every start).
#
# Password login with a backoff after failed attempts — per source and over all sources —
# and one JSON event per failure on stderr (secure-init's log stream), for fail2ban/Loki.
# During a backoff the attempt is refused at once, without running the (slow) argon2
# check; an admitted check runs on a worker thread, at most two at a time, never on the
# event loop (~55 ms each: a stream of guesses would otherwise stall every kernel's
# messages and every other user's requests). The attempted password is never logged.
#
# The source is the TCP peer, never a header the client writes (X-Real-Ip and
# X-Forwarded-For, which jupyter_server's remote_ip reflects behind a proxy): a forged
# header per request would otherwise give every guess a fresh budget and put addresses the
# attacker chose into the events. Behind a proxy every client is the proxy's address, so
# its budget is shared; the header is logged apart, as `forwarded_for` (untrusted). Sources
# are grouped as an attacker gets them cheaply: all of loopback as one, IPv6 by /64.
import asyncio as _asyncio
import ipaddress as _ip
import json as _json
import sys as _sys
import threading as _threading
import time as _time

from jupyter_server.auth.identity import PasswordIdentityProvider as _Base
from jupyter_server.auth.login import LoginFormHandler as _LoginFormHandler
from tornado.ioloop import IOLoop as _IOLoop
from traitlets import default as _default

try:
    from jupyter_server.auth.decorator import allow_unauthenticated as _allow_unauthenticated
except ImportError:  # jupyter_server < 2.13: the login page needs no marker
    def _allow_unauthenticated(method):
        return method

_FREE_FAILURES = 3  # failures before a backoff starts
_MAX_BACKOFF_S = 300.0
_GLOBAL_FAILURES_PER_MIN = 20  # over all sources; beyond it every attempt waits
_failures = {}  # source -> (failures, monotonic time until which it is refused)
_recent = []  # monotonic times of the failures of the last minute, all sources
_MAX_CHECKS = 2  # argon2 checks running at once (on worker threads)
_checks = None  # asyncio.Semaphore(_MAX_CHECKS), made on the event loop


def _peer(handler):
    """The TCP peer's address (tornado keeps it in the request context's `address`; its
    `remote_ip` is what the X- headers said when xheaders are trusted)."""
    try:
        return str(handler.request.connection.context.address[0])
    except (AttributeError, IndexError, TypeError):
        return handler.request.remote_ip or "?"


def _source(addr):
    """The budget an address draws on: loopback is one, IPv6 counts by its /64."""
    try:
        a = _ip.ip_address(addr.split("%")[0])
    except ValueError:
        return addr
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    if a.is_loopback:
        return "loopback"
    if a.version == 6:
        return str(_ip.ip_network(f"{a}/64", strict=False))
    return str(a)


def _global_wait(now):
    """Seconds until the all-sources budget has room again (0: it has)."""
    while _recent and now - _recent[0] > 60.0:
        _recent.pop(0)
    if len(_recent) < _GLOBAL_FAILURES_PER_MIN:
        return 0.0
    return 60.0 - (now - _recent[0])


def _event(level, event, msg, client, failures, backoff, forwarded=None, scope=None,
           off_loop=None):
    line = {
        "ts": _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime()) + "Z",
        "level": level,
        "event": event,
        "msg": msg,
        "client": client,
        "failures": failures,
        "backoff_s": round(backoff, 1),
    }
    if forwarded:
        line["forwarded_for"] = forwarded[:200]
    if scope:
        line["scope"] = scope
    if off_loop is not None:
        line["off_loop"] = off_loop
    _sys.stderr.write(_json.dumps(line) + "\n")
    _sys.stderr.flush()


class SecureInitLoginHandler(_LoginFormHandler):
    """The login form's POST, awaiting the password check instead of running it on the
    event loop (otherwise as jupyter_server's own)."""

    @_allow_unauthenticated
    async def post(self):
        user = self.current_user = await self.identity_provider.process_login_form_async(self)
        if user is None:
            self.set_status(401)
            self._render(message={"error": "Invalid credentials"})
            return
        self.log.info(f"User {user.username} logged in.")
        self.identity_provider.set_login_cookie(self, user)
        next_url = self.get_argument("next", default=self.base_url)
        self._redirect_safe(next_url)


class SecureInitPasswordIdentityProvider(_Base):
    """PasswordIdentityProvider with per-client and global backoff, failure events, and the
    password check off the event loop."""

    @_default("login_handler_class")
    def _default_login_handler_class(self):
        return SecureInitLoginHandler

    def _who(self, handler):
        client = _peer(handler)
        forwarded = handler.request.headers.get("X-Real-Ip") or handler.request.headers.get("X-Forwarded-For")
        return client, _source(client), forwarded

    def _refused(self, client, source, forwarded):
        """Log and return True when a budget refuses the attempt now."""
        now = _time.monotonic()
        failures, until = _failures.get(source, (0, 0.0))
        if now < until:
            _event("warn", "jupyter.login_refused", "login refused during backoff",
                   client, failures, until - now, forwarded, "source")
            return True
        wait = _global_wait(now)
        if wait > 0:
            _event("warn", "jupyter.login_refused",
                   "login refused: too many failed logins from all sources in the last minute",
                   client, failures, wait, forwarded, "global")
            return True
        return False

    def _record(self, user, client, source, forwarded, off_loop):
        now = _time.monotonic()
        if user is None:
            failures = _failures.get(source, (0, 0.0))[0] + 1
            backoff = 0.0
            if failures >= _FREE_FAILURES:
                backoff = min(2.0 ** (failures - _FREE_FAILURES), _MAX_BACKOFF_S)
            _failures[source] = (failures, now + backoff)
            _recent.append(now)
            _event("warn", "jupyter.login_failed", "failed Jupyter login", client, failures,
                   backoff, forwarded, off_loop=off_loop)
        else:
            _failures.pop(source, None)
            _event("info", "jupyter.login", "Jupyter login", client, 0, 0.0, forwarded,
                   off_loop=off_loop)

    async def process_login_form_async(self, handler):
        """The login form, with the argon2 check on a worker thread."""
        global _checks
        client, source, forwarded = self._who(handler)
        if self._refused(client, source, forwarded):
            return None
        if handler.get_argument("new_password", default=""):
            # a password change is off in secure-init's config: the base class refuses it
            return self.process_login_form(handler)
        typed = handler.get_argument("password", default="")
        if _checks is None:
            _checks = _asyncio.Semaphore(_MAX_CHECKS)
        async with _checks:
            # others may have failed while this one waited: ask the budgets again
            if self._refused(client, source, forwarded):
                return None
            loop_thread = _threading.get_ident()

            def check():
                return self.passwd_check(typed), _threading.get_ident() != loop_thread

            ok, off_loop = await _IOLoop.current().run_in_executor(None, check)
        user = self.generate_anonymous_user(handler) if ok else None
        self._record(user, client, source, forwarded, off_loop)
        return user

    def process_login_form(self, handler):
        """The synchronous path (any caller but the login handler above)."""
        client, source, forwarded = self._who(handler)
        if self._refused(client, source, forwarded):
            return None
        user = super().process_login_form(handler)
        self._record(user, client, source, forwarded, False)
        return user


# The server's listening socket, bound by secure-init before the command started and held
# by its supervisor until it exits (so that no kernel, SSH session or leftover can take the
# port first, or once the server is gone): passed on descriptor 3 as systemd's socket
# activation does (LISTEN_FDS=1, LISTEN_PID = this process). The server listens there
# instead of binding; the variables are not handed on to kernels.
def _inherited_listener():
    import os
    import socket

    if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)
    s = socket.socket(fileno=3)
    s.set_inheritable(False)
    s.setblocking(False)
    return s


_listener = _inherited_listener()
if _listener is not None:
    from jupyter_server.serverapp import ServerApp as _ServerApp

    def _find_http_port(self):
        self.port = _listener.getsockname()[1]

    def _bind_http_server_tcp(self):
        self.http_server.add_sockets([_listener])
        return True

    _ServerApp._find_http_port = _find_http_port
    _ServerApp._bind_http_server_tcp = _bind_http_server_tcp


# The handler by an importable name: the JSON config (which takes precedence over this file)
# names the login handler class, and traitlets imports it by name.
import types as _types

_module = _types.ModuleType("secure_init_jupyter")
_module.SecureInitLoginHandler = SecureInitLoginHandler
_module.SecureInitPasswordIdentityProvider = SecureInitPasswordIdentityProvider
_sys.modules["secure_init_jupyter"] = _module

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
c.ServerApp.identity_provider_class = SecureInitPasswordIdentityProvider
