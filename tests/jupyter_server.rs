//! A real jupyter_server and JupyterLab under secure-init (installed into a venv by
//! scripts/test.sh), used over HTTP as a browser would: login, tokens, XSRF and origin
//! checks, the health check, terminals and culling by flag, and a compromised kernel that
//! tries to weaken the next start.

mod common;
use common::jupyter::*;
use common::*;
use std::process::Stdio;

#[test]
fn real_jupyter_server_login_token_xsrf_origin() {
    let v = venv();
    let a = area();
    let port = free_port();
    let mut args = jargs(&a);
    args.extend([
        "--jupyter-ip".into(),
        "127.0.0.1".into(),
        "--jupyter-port".into(),
        port.to_string(),
    ]);
    args.extend([
        "--".into(),
        v.join("bin/jupyter").to_str().unwrap().into(),
        "server".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD)
        .env("JUPYTER_TOKEN", "sneaky-token-0123456789");
    let mut child = spawn_logged(&mut c);
    let up = wait_for(60, || http_answers(port));
    if !up {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("jupyter did not come up:\n{}", stderr(&o));
    }
    let init = child.id();
    let jpid = first_child(init).expect("jupyter process");
    let _guard = KillOnDrop(vec![jpid, init]);
    // the workload's identity, and no password in its environment or argv
    let status = std::fs::read_to_string(format!("/proc/{jpid}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("1001")),
        "{status}"
    );
    assert!(status
        .lines()
        .any(|l| l.starts_with("Seccomp:") && l.ends_with('2')));
    for f in ["environ", "cmdline"] {
        let b = std::fs::read(format!("/proc/{jpid}/{f}")).unwrap();
        let s = String::from_utf8_lossy(&b);
        assert!(!s.contains(PASSWORD), "password in jupyter's {f}");
        assert!(
            !s.contains("sneaky-token"),
            "JUPYTER_TOKEN reached jupyter's {f}"
        );
    }
    let env = String::from_utf8_lossy(&std::fs::read(format!("/proc/{jpid}/environ")).unwrap())
        .into_owned();
    assert!(env.contains(&format!("JUPYTER_CONFIG_DIR={}", a.cfg.display())));
    assert!(env.contains("JUPYTER_PREFER_ENV_PATH=0"));
    // the supervisor scrubbed its own copy
    let sup = String::from_utf8_lossy(&std::fs::read(format!("/proc/{init}/environ")).unwrap())
        .into_owned();
    assert!(
        !sup.contains(PASSWORD),
        "password left in the supervisor's environment block"
    );

    let o = std::process::Command::new(v.join("bin/python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/jupyter_client.py"
        ))
        .args([
            &format!("http://127.0.0.1:{port}"),
            PASSWORD,
            "wrong-password-999",
            "sneaky-token-0123456789",
        ])
        .output()
        .unwrap();
    // the image's HEALTHCHECK: Jupyter's unauthenticated /api
    let hc = output({
        let mut c = cmd(&["healthcheck"]);
        c.env("SECURE_INIT_JUPYTER_PORT", port.to_string());
        c
    });
    assert_code(&hc, 0);
    kill(init, libc::SIGTERM);
    let st = wait_timeout(&mut child, 30);
    let hc = output({
        let mut c = cmd(&["healthcheck", "--timeout", "1"]);
        c.env("SECURE_INIT_JUPYTER_PORT", port.to_string());
        c
    });
    assert_code(&hc, 1);
    assert!(stderr(&hc).contains("healthcheck"));
    assert!(o.status.success(), "client failed: {}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["unauthenticated_status"], 403, "{r}");
    assert_eq!(r["token_query"], 403, "{r}");
    assert_eq!(r["token_header"], 403, "{r}");
    assert_eq!(r["wrong_then_status"], 403, "{r}");
    assert_eq!(
        r["no_xsrf_login"], 403,
        "login without the _xsrf cookie value is refused: {r}"
    );
    assert_eq!(r["no_xsrf_then_status"], 403, "{r}");
    assert_eq!(r["right_login"], 302, "{r}");
    assert_eq!(r["right_then_status"], 200, "{r}");
    assert_ne!(r["foreign_origin"], 200, "foreign Origin refused: {r}");
    assert_eq!(r["post_without_xsrf"], 403, "{r}");
    assert_eq!(r["post_with_xsrf"], 201, "{r}");
    assert_eq!(
        st.code(),
        Some(0),
        "jupyter stops cleanly on the forwarded SIGTERM"
    );
}

#[test]
fn the_health_check_follows_what_runs() {
    let t = TempDir::new("state");
    let state = t.path().join("state.json");
    let sf = state.to_str().unwrap();
    let hc = |extra: &[&str]| {
        let mut a = vec!["healthcheck", "--timeout", "2", "--state-file", sf];
        a.extend_from_slice(extra);
        output(cmd(&a))
    };
    // a training command: healthy while it runs, unhealthy once gone
    let mut c = cmd(&["--state-file", sf, "--", "sleep", "3"]);
    let mut child = c
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(10, || state.exists()));
    assert_code(&hc(&[]), 0);
    // the state names the command's own process (its pid comes from the clone)
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let pid = s["child_pid"].as_i64().unwrap();
    assert!(
        wait_for(5, || std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "sleep")),
        "{s}"
    );
    let _ = wait_timeout(&mut child, 20);
    let o = hc(&[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("not running"), "{}", stderr(&o));
    // a command that never started leaves no state behind
    std::fs::remove_file(&state).unwrap();
    for (argv, code) in [
        (vec!["--", "/nonexistent/command"], 127),
        (vec!["--user", "0", "--", "true"], 78),
    ] {
        let mut a = vec!["--state-file", sf];
        a.extend(argv);
        let o = output(cmd(&a));
        assert_code(&o, code);
        assert!(
            !state.exists(),
            "{a:?}: a state file for a command that never ran"
        );
    }
    // Jupyter on a port given on its own command line
    let v = venv();
    let a = area();
    let port = free_port();
    let mut args = jargs(&a);
    args.extend([
        "--jupyter-ip".into(),
        "127.0.0.1".into(),
        "--state-file".into(),
        sf.into(),
        "--".into(),
        v.join("bin/jupyter").to_str().unwrap().into(),
        "server".into(),
        format!("--port={port}"),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD);
    let mut child = spawn_server(c, port);
    let init = child.id();
    let _guard = KillOnDrop(vec![init]);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(s["jupyter"]["port"], port);
    assert_code(&hc(&[]), 0);
    // flags still override: another port is unhealthy; the subcommand takes them
    let other = free_port().to_string();
    assert_code(&hc(&["--jupyter-port", &other]), 1);
    kill(init, libc::SIGTERM);
    let _ = wait_timeout(&mut child, 30);
    assert_code(&hc(&[]), 1);
    // options before the subcommand name: a usage error, not a command named "healthcheck"
    let o = output(cmd(&["--jupyter-port", "9", "healthcheck"]));
    assert_code(&o, 64);
    assert!(stderr(&o).contains("subcommand"), "{}", stderr(&o));
}

#[test]
fn terminals_idle_culling_and_remote_access_follow_the_flags() {
    let a = area();
    let cfg = |extra: &[&str]| {
        let mut args = jargs(&a);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--".into(), "jupyter".into(), "lab".into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = cmd(&argv);
        c.env("JUPYTER_PASSWORD", PASSWORD)
            .env("PATH", "/usr/bin:/bin");
        let _ = output(c);
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(a.cfg.join("jupyter_server_config.json")).unwrap(),
        )
        .unwrap();
        v
    };
    let v = cfg(&[]);
    assert_eq!(v["ServerApp"]["terminals_enabled"], true);
    assert_eq!(
        v["ServerApp"]["allow_remote_access"], true,
        "0.0.0.0 by default"
    );
    assert!(v["MappingKernelManager"].is_null());
    let v = cfg(&[
        "--jupyter-no-terminals",
        "--jupyter-idle-timeout",
        "30m",
        "--jupyter-ip",
        "127.0.0.1",
    ]);
    assert_eq!(v["ServerApp"]["terminals_enabled"], false);
    assert_eq!(
        v["ServerApp"]["allow_remote_access"], false,
        "loopback only"
    );
    assert_eq!(v["MappingKernelManager"]["cull_idle_timeout"], 1800);
    assert_eq!(v["MappingKernelManager"]["cull_connected"], true);
    assert_eq!(v["ServerApp"]["shutdown_no_activity_timeout"], 1800);
    assert_eq!(v["IdentityProvider"]["cookie_options"]["samesite"], "Lax");
    assert!(
        v["IdentityProvider"]["cookie_options"]["secure"].is_null(),
        "plain HTTP"
    );
    assert!(v["ServerApp"]["log_format"]
        .as_str()
        .unwrap()
        .starts_with("[jupyter]"));
    // TLS by Jupyter itself, behind a proxy, a shorter cookie lifetime
    let pem = a.root.join("server.pem");
    std::fs::write(&pem, "pem").unwrap();
    let v = cfg(&[
        "--jupyter-certfile",
        pem.to_str().unwrap(),
        "--jupyter-keyfile",
        pem.to_str().unwrap(),
        "--jupyter-behind-proxy",
        "--jupyter-cookie-lifetime",
        "8h",
    ]);
    assert_eq!(v["ServerApp"]["certfile"], pem.to_str().unwrap());
    assert_eq!(v["IdentityProvider"]["cookie_options"]["secure"], true);
    assert_eq!(v["IdentityProvider"]["cookie_options"]["max_age"], 28800);
    assert_eq!(v["ServerApp"]["trust_xheaders"], true);
    let mut args = jargs(&a);
    args.extend(
        [
            "--jupyter-certfile",
            "/etc/hostname",
            "--",
            "jupyter",
            "lab",
        ]
        .map(String::from),
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD);
    let o = output(c);
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("go together"));
    let mut args = jargs(&a);
    args.extend(["--jupyter-idle-timeout", "soon", "--", "jupyter", "lab"].map(String::from));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD);
    let o = output(c);
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("--jupyter-idle-timeout"));
}

#[test]
fn a_compromised_kernel_cannot_weaken_the_next_start() {
    let v = venv();
    let a = area();
    let home = a.root.parent().unwrap().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(1001), Some(1001)).unwrap();
    let port = free_port();
    let (mut child, _etc) = start_lab(&home, &a, port);
    let runtime = a.cfg.with_file_name("jupyter-runtime");
    // the attack, from inside a kernel: every place a later server might read
    let plant = r#"
import json, os, pathlib
home = pathlib.Path.home()
cfg = {"ServerApp": {"PasswordIdentityProvider": {"token": "planted-token-123", "hashed_password": ""}, "token": "planted-token-123", "disable_check_xsrf": True},
       "PasswordIdentityProvider": {"token": "planted-token-123", "hashed_password": ""}, "IdentityProvider": {"token": "planted-token-123"}}
res = {}
for d in [home / ".local/etc/jupyter", home / ".jupyter", pathlib.Path(os.environ["JUPYTER_CONFIG_DIR"]), pathlib.Path(os.environ["JUPYTER_RUNTIME_DIR"]).parent]:
    try:
        d.mkdir(parents=True, exist_ok=True)
        (d / "jupyter_server_config.json").write_text(json.dumps(cfg))
        (d / "jupyter_server_config.d").mkdir(exist_ok=True)
        (d / "jupyter_server_config.d" / "evil.json").write_text(json.dumps(cfg))
        res[str(d)] = "written"
    except OSError as e:
        res[str(d)] = type(e).__name__
rt = home / ".local/share/jupyter/runtime"
rt.mkdir(parents=True, exist_ok=True)
(rt / "jupyter_cookie_secret").write_bytes(b"planted-secret")
print(json.dumps(res))
"#;
    let o = std::process::Command::new(v.join("bin/python"))
        .args([
            "-c",
            &format!("{PY_HTTP}{KERNEL_CLIENT}"),
            &format!("http://127.0.0.1:{port}"),
            PASSWORD,
            runtime.to_str().unwrap(),
            plant,
        ])
        .output()
        .unwrap();
    let init = child.id();
    kill(init, libc::SIGTERM);
    let _ = wait_timeout(&mut child, 30);
    assert!(
        o.status.success(),
        "kernel client: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let res: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(res[a.cfg.to_str().unwrap()], "PermissionError", "{res}");
    assert_eq!(
        res[home.join(".local/etc/jupyter").to_str().unwrap()],
        "written",
        "{res}"
    );
    // the next start: the planted token does not log in, the password still does, XSRF holds
    let (mut child, _etc) = start_lab(&home, &a, port);
    let init = child.id();
    // a login cookie forged with the planted secret is refused; one signed with the secret
    // the server really uses is accepted (so the forgery itself is right)
    let forge = r#"
import hashlib, hmac, json, sys, urllib.error, urllib.request
from tornado.web import create_signed_value
base, port, secret_file, config = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
# jupyter_server signs with HMAC(key from the secret file, ServerApp.password)
password = json.load(open(config))["ServerApp"].get("password", "")
name = "username-127-0-0-1-" + port
user = json.dumps({"username": "x", "name": "x", "display_name": "x", "initials": None, "color": None})
def status(key):
    secret = hmac.new(key, password.encode(), hashlib.sha256).digest()
    v = create_signed_value(secret, name, user).decode()
    req = urllib.request.Request(base + "/api/status", headers={"Cookie": f"{name}={v}"})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code
print(json.dumps({"planted": status(b"planted-secret"), "real": status(open(secret_file, "rb").read())}))
"#;
    let f = std::process::Command::new(v.join("bin/python"))
        .args([
            "-c",
            forge,
            &format!("http://127.0.0.1:{port}"),
            &port.to_string(),
            a.cfg.join("jupyter_cookie_secret").to_str().unwrap(),
            a.cfg.join("jupyter_server_config.json").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let o = std::process::Command::new(v.join("bin/python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/jupyter_client.py"
        ))
        .args([
            &format!("http://127.0.0.1:{port}"),
            PASSWORD,
            "wrong-password-999",
            "planted-token-123",
        ])
        .output()
        .unwrap();
    kill(init, libc::SIGTERM);
    let _ = wait_timeout(&mut child, 30);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["token_query"], 403, "{r}");
    assert_eq!(r["token_header"], 403, "{r}");
    assert_eq!(r["right_then_status"], 200, "{r}");
    assert_eq!(r["post_without_xsrf"], 403, "{r}");
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    let fr: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(
        fr["planted"], 403,
        "a cookie signed with the planted secret: {fr}"
    );
    assert_eq!(
        fr["real"], 200,
        "the forgery works with the real secret: {fr}"
    );
}

#[test]
fn idle_kernels_are_culled_and_the_idle_server_stops() {
    let v = venv();
    let a = area();
    let port = free_port();
    let args = server_args(&a, port, &["--jupyter-idle-timeout", "5s"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD)
        .env("PATH", format!("{}:/usr/bin:/bin", v.join("bin").display()));
    let mut child = spawn_server(c, port);
    let init = child.id();
    let _guard = KillOnDrop(vec![init]);
    let script = format!(
        "{PY_HTTP}{}",
        r#"
base, password = sys.argv[1:3]
status, op, xsrf = login(base, password)
assert status == 302, status
start_kernel(base, op, xsrf)
started = time.monotonic()
seen = len(json.load(op.open(base + "/api/kernels", timeout=10)))
while time.monotonic() - started < 30:
    time.sleep(0.5)
    try:
        n = len(json.load(op.open(base + "/api/kernels", timeout=10)))
    except Exception:
        break
    if n == 0:
        print(json.dumps({"seen": seen, "culled_after_s": round(time.monotonic() - started, 1)}))
        sys.exit(0)
print(json.dumps({"seen": seen, "culled_after_s": None}))
"#
    );
    let o = std::process::Command::new(v.join("bin/python"))
        .args(["-c", &script, &format!("http://127.0.0.1:{port}"), PASSWORD])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["seen"], 1, "{r}");
    assert!(
        r["culled_after_s"].is_number(),
        "the idle kernel was culled: {r}"
    );
    // with nothing left, the server shuts itself down (jupyter_server checks every 60 s),
    // and secure-init with it
    let st = wait_timeout(&mut child, 150);
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn the_jupyter_port_is_held_for_the_server_before_and_after_it() {
    // secure-init binds the server's port before the command starts and holds it until it
    // exits: a process of the workload (here started before the server, and left behind
    // when the server dies, ignoring SIGTERM) never gets it to serve a login page of its own
    let v = venv();
    let a = area();
    let dir = TempDir::new("jbinds");
    let report = dir.path().join("binds");
    let port = free_port();
    let free = free_port();
    // `jupyter server` (so secure-init plans a server) through a wrapper that first starts
    // the binder in the background: a process of the workload left behind by the server
    let wrapper = dir.path().join("jupyter");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n/usr/bin/python3 -c \"$BINDER\" {} {port} {free} &\nexec {} \"$@\"\n",
            report.display(),
            v.join("bin/jupyter").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut args = jargs(&a);
    args.extend(["--jupyter-port".into(), port.to_string()]);
    args.extend(["--stop-grace".into(), "2".into()]);
    args.extend([
        "--".into(),
        wrapper.to_str().unwrap().into(),
        "server".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD)
        .env("BINDER", PORT_BINDER);
    let mut child = spawn_server(c, port);
    let _guard = KillOnDrop(vec![child.id()]);
    let lines = || std::fs::read_to_string(&report).unwrap_or_default();
    assert!(wait_for(10, || lines().lines().count() > 40));
    // the server serves on the held socket
    assert!(http_answers(port));
    // the server dies; its leftover keeps trying through the grace
    let server = first_child(child.id()).unwrap();
    let before = lines().lines().count();
    kill(server, libc::SIGKILL);
    let st = wait_timeout(&mut child, 30);
    assert_eq!(st.code(), Some(137));
    let all = lines();
    assert!(all.lines().count() > before + 16, "{all}");
    let mut it = all.lines();
    assert_eq!(it.next(), Some("control ok"), "{all}");
    let taken: Vec<&str> = it.filter(|l| l.ends_with(" ok")).collect();
    assert!(
        taken.is_empty(),
        "the workload bound Jupyter's port: {taken:?}"
    );
    assert!(all.contains("0.0.0.0 True EADDRINUSE"), "{all}");
}
