"""HTTP checks against a running jupyter_server (stdlib only). Prints one JSON object.

usage: jupyter_client.py BASE_URL PASSWORD WRONG_PASSWORD TOKEN
"""
import http.cookiejar, json, sys, urllib.error, urllib.parse, urllib.request

base, password, wrong, token = sys.argv[1:5]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def opener():
    jar = http.cookiejar.CookieJar()
    return jar, urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def code(op, url, data=None, headers=None):
    req = urllib.request.Request(base + url, data=data, headers=headers or {})
    try:
        with op.open(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def login(pw, with_xsrf=True):
    jar, op = opener()
    code(op, "/login")
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    form = {"password": pw}
    if with_xsrf:
        form["_xsrf"] = xsrf
    c = code(op, "/login", urllib.parse.urlencode(form).encode())
    return jar, op, c


out = {}
_, anon = opener()
out["unauthenticated_status"] = code(anon, "/api/status")
out["token_query"] = code(anon, "/api/status?token=" + urllib.parse.quote(token))
out["token_header"] = code(anon, "/api/status", headers={"Authorization": "token " + token})
_, op, c = login(wrong)
out["wrong_login"] = c
out["wrong_then_status"] = code(op, "/api/status")
_, op, c = login(password, with_xsrf=False)
out["no_xsrf_login"] = c
out["no_xsrf_then_status"] = code(op, "/api/status")
jar, op, c = login(password)
out["right_login"] = c
out["right_then_status"] = code(op, "/api/status")
out["foreign_origin"] = code(op, "/api/status", headers={"Origin": "http://evil.example"})
xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
out["post_without_xsrf"] = code(op, "/api/contents", data=b"{}", headers={"Content-Type": "application/json"})
out["post_with_xsrf"] = code(op, "/api/contents", data=b"{}", headers={"Content-Type": "application/json", "X-XSRFToken": xsrf})
print(json.dumps(out))
