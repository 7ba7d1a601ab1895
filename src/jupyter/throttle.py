# Written by secure-init into its root-owned Jupyter config directory (loaded by
# jupyter_server as configuration code; do not edit here: it is rewritten at every start).
#
# Password login with a backoff after failed attempts — per source and over all sources —
# and one JSON event per failure on stderr (secure-init's log stream), for fail2ban/Loki.
# During a backoff the attempt is refused at once, without running the (slow,
# event-loop-blocking) argon2 check. The attempted password is never logged.
#
# The source is the TCP peer, never a header the client writes (X-Real-Ip and
# X-Forwarded-For, which jupyter_server's remote_ip reflects behind a proxy): a forged
# header per request would otherwise give every guess a fresh budget and put addresses the
# attacker chose into the events. Behind a proxy every client is the proxy's address, so
# its budget is shared; the header is logged apart, as `forwarded_for` (untrusted). Sources
# are grouped as an attacker gets them cheaply: all of loopback as one, IPv6 by /64.
import ipaddress as _ip
import json as _json
import sys as _sys
import time as _time

from jupyter_server.auth.identity import PasswordIdentityProvider as _Base

_FREE_FAILURES = 3  # failures before a backoff starts
_MAX_BACKOFF_S = 300.0
_GLOBAL_FAILURES_PER_MIN = 20  # over all sources; beyond it every attempt waits
_failures = {}  # source -> (failures, monotonic time until which it is refused)
_recent = []  # monotonic times of the failures of the last minute, all sources


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


def _event(level, event, msg, client, failures, backoff, forwarded=None, scope=None):
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
    _sys.stderr.write(_json.dumps(line) + "\n")
    _sys.stderr.flush()


class SecureInitPasswordIdentityProvider(_Base):
    """PasswordIdentityProvider with per-client backoff and failure events."""

    def process_login_form(self, handler):
        client = _peer(handler)
        source = _source(client)
        forwarded = handler.request.headers.get("X-Real-Ip") or handler.request.headers.get("X-Forwarded-For")
        now = _time.monotonic()
        failures, until = _failures.get(source, (0, 0.0))
        if now < until:
            _event("warn", "jupyter.login_refused", "login refused during backoff",
                   client, failures, until - now, forwarded, "source")
            return None
        wait = _global_wait(now)
        if wait > 0:
            _event("warn", "jupyter.login_refused",
                   "login refused: too many failed logins from all sources in the last minute",
                   client, failures, wait, forwarded, "global")
            return None
        user = super().process_login_form(handler)
        if user is None:
            failures += 1
            backoff = 0.0
            if failures >= _FREE_FAILURES:
                backoff = min(2.0 ** (failures - _FREE_FAILURES), _MAX_BACKOFF_S)
            _failures[source] = (failures, now + backoff)
            _recent.append(now)
            _event("warn", "jupyter.login_failed", "failed Jupyter login", client, failures,
                   backoff, forwarded)
        else:
            _failures.pop(source, None)
            _event("info", "jupyter.login", "Jupyter login", client, 0, 0.0, forwarded)
        return user


c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
c.ServerApp.identity_provider_class = SecureInitPasswordIdentityProvider
