# Written by secure-init into its root-owned Jupyter config directory (loaded by
# jupyter_server as configuration code; do not edit here: it is rewritten at every start).
#
# Password login with a per-client backoff after failed attempts, and one JSON event per
# failure on stderr (secure-init's log stream), for fail2ban/Loki. During a backoff the
# attempt is refused at once, without running the (slow, event-loop-blocking) argon2 check.
# The attempted password is never logged.
import json as _json
import sys as _sys
import time as _time

from jupyter_server.auth.identity import PasswordIdentityProvider as _Base

_FREE_FAILURES = 3  # failures before a backoff starts
_MAX_BACKOFF_S = 300.0
_failures = {}  # client address -> (failures, monotonic time until which it is refused)


def _event(level, event, msg, client, failures, backoff):
    line = {
        "ts": _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime()) + "Z",
        "level": level,
        "event": event,
        "msg": msg,
        "client": client,
        "failures": failures,
        "backoff_s": round(backoff, 1),
    }
    _sys.stderr.write(_json.dumps(line) + "\n")
    _sys.stderr.flush()


class SecureInitPasswordIdentityProvider(_Base):
    """PasswordIdentityProvider with per-client backoff and failure events."""

    def process_login_form(self, handler):
        client = handler.request.remote_ip or "?"
        now = _time.monotonic()
        failures, until = _failures.get(client, (0, 0.0))
        if now < until:
            _event("warn", "jupyter.login_refused", "login refused during backoff",
                   client, failures, until - now)
            return None
        user = super().process_login_form(handler)
        if user is None:
            failures += 1
            backoff = 0.0
            if failures >= _FREE_FAILURES:
                backoff = min(2.0 ** (failures - _FREE_FAILURES), _MAX_BACKOFF_S)
            _failures[client] = (failures, now + backoff)
            _event("warn", "jupyter.login_failed", "failed Jupyter login", client, failures, backoff)
        else:
            _failures.pop(client, None)
            _event("info", "jupyter.login", "Jupyter login", client, 0, 0.0)
        return user


c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
c.ServerApp.identity_provider_class = SecureInitPasswordIdentityProvider
