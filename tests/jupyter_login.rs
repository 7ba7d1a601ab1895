//! Jupyter's login throttle against a real server: failed logins back off and are logged,
//! the budget is keyed on the TCP peer (not on headers the attacker chooses), and a global
//! budget caps guesses from many sources.

mod common;
use common::jupyter::*;
use common::*;

#[test]
fn failed_logins_back_off_and_are_logged() {
    let v = venv();
    let a = area();
    let port = free_port();
    let mut child = password_server(&a, port, &[]);
    let init = child.id();
    let _guard = KillOnDrop(vec![init]);
    let script = format!(
        "{PY_HTTP}{}",
        r#"
base, right = sys.argv[1], sys.argv[2]
out = {}
for i in range(3):
    out[f"wrong{i}"] = login(base, "wrong-password-%d" % i)[0]
out["right_during_backoff"] = login(base, right)[0]
time.sleep(1.5)
out["right_after_backoff"] = login(base, right)[0]
print(json.dumps(out))
"#
    );
    let o = std::process::Command::new(v.join("bin/python"))
        .args(["-c", &script, &format!("http://127.0.0.1:{port}"), PASSWORD])
        .output()
        .unwrap();
    let (err, events) = stop_server(&mut child);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for i in 0..3 {
        assert_ne!(r[format!("wrong{i}")], 302, "{r}");
    }
    assert_ne!(
        r["right_during_backoff"], 302,
        "refused during the backoff: {r}"
    );
    assert_eq!(r["right_after_backoff"], 302, "{r}");
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "jupyter.login_failed")
        .collect();
    assert_eq!(failed.len(), 3, "{err}");
    assert_eq!(failed[0]["client"], "127.0.0.1");
    assert_eq!(failed[2]["backoff_s"], 1.0);
    // each argon2 check ran on a worker thread, never on the event loop
    assert!(failed.iter().all(|e| e["off_loop"] == true), "{err}");
    let ok = events
        .iter()
        .find(|e| e["event"] == "jupyter.login")
        .unwrap();
    assert_eq!(ok["off_loop"], true, "{err}");
    assert!(
        events.iter().any(|e| e["event"] == "jupyter.login_refused"),
        "{err}"
    );
    assert!(
        events.iter().any(|e| e["event"] == "jupyter.login"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-password-"),
        "the attempted password is never logged"
    );
    // Jupyter's own lines carry their prefix
    assert!(err.lines().any(|l| l.starts_with("[jupyter]")), "{err}");
}

#[test]
fn the_login_budget_is_not_keyed_on_what_the_attacker_chooses() {
    // behind a proxy (xheaders trusted), a forged X-Real-Ip per request, and eight loopback
    // source addresses: each must not get a budget of its own
    let v = venv();
    let a = area();
    let port = free_port();
    let mut child = password_server(&a, port, &["--jupyter-behind-proxy"]);
    let init = child.id();
    let _guard = KillOnDrop(vec![init]);
    let script = r#"
import http.client, json, sys, urllib.parse
port = int(sys.argv[1])
def attempt(pw, src, hdr):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(src, 0))
    c.request("GET", "/login"); r = c.getresponse(); r.read()
    cookie = [v for k, v in r.getheaders() if k.lower() == "set-cookie" and v.startswith("_xsrf=")][0].split(";")[0]
    body = urllib.parse.urlencode({"password": pw, "_xsrf": cookie.split("=", 1)[1]})
    h = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    h.update(hdr)
    c.request("POST", "/login", body, h); r = c.getresponse(); r.read()
    return r.status
out = []
for i in range(24):
    src = "127.0.0.%d" % (2 + i % 8)
    hdr = {"X-Real-Ip": "6.6.6.%d" % i} if i % 2 else {}
    out.append(attempt("wrong-%d" % i, src, hdr))
print(json.dumps(out))
"#;
    let o = std::process::Command::new(v.join("bin/python"))
        .args(["-c", script, &port.to_string()])
        .output()
        .unwrap();
    let (err, events) = stop_server(&mut child);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "jupyter.login_failed")
        .collect();
    // 3 free, then a 1 s backoff (then 2 s): a few checks, not 24
    assert!(
        failed.len() >= 3 && failed.len() <= 5,
        "{} password checks for 24 guesses:\n{err}",
        failed.len()
    );
    for e in events.iter().filter(|e| {
        e["event"]
            .as_str()
            .unwrap_or("")
            .starts_with("jupyter.login")
    }) {
        let client = e["client"].as_str().unwrap();
        assert!(
            client.starts_with("127.0.0."),
            "the TCP peer, not a header: {e}"
        );
    }
    assert!(
        events.iter().any(|e| e["forwarded_for"]
            .as_str()
            .is_some_and(|f| f.starts_with("6.6.6."))),
        "the header is kept apart: {err}"
    );
}

#[test]
fn login_sources_and_the_global_budget() {
    // the limiter's pieces, loaded as jupyter_server loads the file
    let v = venv();
    let script = r#"
import sys, types
class C:
    def __getattr__(self, k):
        o = C(); object.__setattr__(self, k, o); return o
g = {"get_config": lambda: C(), "__name__": "throttle"}
exec(open(sys.argv[1]).read(), g)
s = g["_source"]
assert s("127.0.0.1") == s("127.0.0.9") == s("::1") == s("::ffff:127.0.0.5") == "loopback"
assert s("2001:db8::1") == s("2001:db8::ffff:1") == "2001:db8::/64"
assert s("2001:db8:0:1::1") != s("2001:db8::1")
assert s("10.0.0.1") != s("10.0.0.2")
w, r = g["_global_wait"], g["_recent"]
assert w(100.0) == 0.0
r.extend([100.0 + i * 0.1 for i in range(20)])
assert w(105.0) == 55.0, w(105.0)
assert w(161.0) == 0.0
print("LIMITER-OK")
"#;
    let o = std::process::Command::new(v.join("bin/python"))
        .args([
            "-c",
            script,
            concat!(env!("CARGO_MANIFEST_DIR"), "/src/jupyter/throttle.py"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("LIMITER-OK"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn password_guesses_do_not_stall_the_server() {
    // argon2 takes tens of milliseconds a check: run on the event loop, every request that
    // arrives meanwhile (a kernel's messages, another user's page) waits for it. Three
    // wrong guesses in parallel; /api polled every 5 ms meanwhile must answer far faster
    // than a guess takes.
    let v = venv();
    let a = area();
    let port = free_port();
    let mut child = password_server(&a, port, &[]);
    let _guard = KillOnDrop(vec![child.id()]);
    let script = format!(
        "{PY_HTTP}{}",
        r#"
import threading
base = sys.argv[1]
guesses, polls, done = [], [], threading.Event()
def guess(i):
    t = time.monotonic()
    login(base, "wrong-%d" % i)
    guesses.append(time.monotonic() - t)
def poll():
    while not done.is_set():
        t = time.monotonic()
        urllib.request.urlopen(base + "/api", timeout=10).read()
        polls.append(time.monotonic() - t)
        time.sleep(0.005)
p = threading.Thread(target=poll); p.start()
time.sleep(0.2)
ts = [threading.Thread(target=guess, args=(i,)) for i in range(3)]
[t.start() for t in ts]; [t.join() for t in ts]
done.set(); p.join()
print(json.dumps({"guess_min": min(guesses), "poll_max": max(polls), "polls": len(polls)}))
"#
    );
    let o = std::process::Command::new(v.join("bin/python"))
        .args(["-c", &script, &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let (err, events) = stop_server(&mut child);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "jupyter.login_failed")
        .collect();
    assert_eq!(failed.len(), 3, "{err}");
    assert!(failed.iter().all(|e| e["off_loop"] == true), "{err}");
    let (guess, poll) = (
        r["guess_min"].as_f64().unwrap(),
        r["poll_max"].as_f64().unwrap(),
    );
    assert!(r["polls"].as_u64().unwrap() >= 5, "{r}");
    assert!(
        poll < guess / 2.0,
        "a request waited {poll:.3} s while guesses took {guess:.3} s: {r}"
    );
}
