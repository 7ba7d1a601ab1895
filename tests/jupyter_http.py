"""HTTP helpers for the Jupyter tests (stdlib only); prepended to the tests' inline scripts."""
import http.cookiejar, json, sys, time, urllib.error, urllib.parse, urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def login(base, password):
    """Log in through the form (with the _xsrf value); returns (status, opener, xsrf)."""
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    op.open(base + "/login", timeout=10).read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    data = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
    try:
        op.open(base + "/login", data, timeout=30)
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    return status, op, next(c.value for c in jar if c.name == "_xsrf")


def start_kernel(base, op, xsrf):
    """Start a kernel over the REST API; returns its id."""
    req = urllib.request.Request(base + "/api/kernels", data=b"{}",
                                 headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"})
    return json.load(op.open(req, timeout=60))["id"]
