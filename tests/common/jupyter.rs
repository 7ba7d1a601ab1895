//! What the Jupyter tests share: the venv with a real jupyter_server, a work area the
//! workload can reach, server arguments, a fake `jupyter` for the config tests, starting
//! and stopping servers.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

pub const PASSWORD: &str = "correct-horse-battery-42";

/// `login(base, password)` and `start_kernel(base, op, xsrf)` for the inline scripts.
pub const PY_HTTP: &str = include_str!("../jupyter_http.py");

pub fn venv() -> PathBuf {
    let v =
        PathBuf::from(std::env::var("SI_TEST_VENV").unwrap_or("/opt/secure-init-test/venv".into()));
    assert!(
        v.join("bin/jupyter-server").exists(),
        "jupyter_server venv missing at {}: run scripts/test.sh, which installs it",
        v.display()
    );
    v
}

/// A scratch area: a 0777 notebook root and a root-owned 0755 parent for the config dir.
pub struct Area {
    pub _t: TempDir,
    pub root: PathBuf,
    pub cfg: PathBuf,
}

pub fn area() -> Area {
    let t = TempDir::new("jup");
    let root = t.path().join("notebooks");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let parent = t.path().join("cfg");
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    Area {
        root,
        cfg: parent.join("jupyter"),
        _t: t,
    }
}

pub fn jargs(a: &Area) -> Vec<String> {
    vec![
        "--jupyter-root-dir".into(),
        a.root.to_str().unwrap().into(),
        "--jupyter-config-dir".into(),
        a.cfg.to_str().unwrap().into(),
    ]
}

/// Whether a server answers HTTP on 127.0.0.1:`port`: a TCP connection is not enough,
/// since secure-init holds the port from before the server starts (the kernel queues the
/// connection until the server accepts it).
pub fn http_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
    if s.write_all(b"GET /api HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut b = [0u8; 5];
    s.read_exact(&mut b).is_ok() && &b == b"HTTP/"
}

/// Spawn a Jupyter command under secure-init (stderr piped) and wait until it answers; on
/// failure, kill it and show what it said.
pub fn spawn_server(mut c: std::process::Command, port: u16) -> std::process::Child {
    let mut child = spawn_logged(&mut c);
    if !wait_for(60, || http_answers(port)) {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("jupyter did not come up:\n{}", stderr(&o));
    }
    child
}

/// A real `jupyter server` under secure-init on 127.0.0.1:`port` with the password
/// [`PASSWORD`] and `extra` secure-init options, running once it answers HTTP.
pub fn password_server(a: &Area, port: u16, extra: &[&str]) -> std::process::Child {
    let args = server_args(a, port, extra);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env("JUPYTER_PASSWORD", PASSWORD);
    spawn_server(c, port)
}

/// secure-init's arguments for `jupyter server` from the venv on 127.0.0.1:`port`, with
/// the area's root and config dir and `extra` secure-init options.
pub fn server_args(a: &Area, port: u16, extra: &[&str]) -> Vec<String> {
    let mut args = jargs(a);
    args.extend(["--jupyter-ip".into(), "127.0.0.1".into()]);
    args.extend(["--jupyter-port".into(), port.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([
        "--".into(),
        venv().join("bin/jupyter").to_str().unwrap().into(),
        "server".into(),
    ]);
    args
}

/// A stand-in `jupyter` that reports what it was given.
pub fn fake_jupyter(t: &TempDir) -> String {
    let p = t.path().join("jupyter");
    // what it got: its arguments, the Jupyter variables, the config, and the listening
    // socket secure-init handed it on descriptor 3 (its inode, and the kernel's TCP tables)
    std::fs::write(&p, "#!/bin/sh\necho ARGS \"$@\"\nenv | grep -E '^JUPYTER' | sort\ncat \"$JUPYTER_CONFIG_DIR/jupyter_server_config.json\" 2>/dev/null\necho FD3 $(readlink /proc/self/fd/3 2>/dev/null) LISTEN_FDS=$LISTEN_FDS\ncat /proc/net/tcp /proc/net/tcp6 2>/dev/null | sed 's/^/TCP /'\nexit 0\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

pub fn run_fake(
    a: &Area,
    extra: &[&str],
    env: &[(&str, &str)],
    cmdline: &[&str],
) -> std::process::Output {
    let t = TempDir::new("fakejup");
    let j = fake_jupyter(&t);
    let mut args: Vec<String> = jargs(a);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.push(j);
    args.extend(cmdline.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = cmd(&argv);
    c.env_remove("JUPYTER_PASSWORD")
        .env_remove("JUPYTERHUB_API_TOKEN");
    // secure-init binds the server's port before it starts: tests running side by side
    // take a free one each (unless the test is about the port)
    let port_given = extra.iter().any(|a| a.starts_with("--jupyter-port"))
        || env.iter().any(|(k, _)| *k == "SECURE_INIT_JUPYTER_PORT")
        || cmdline
            .iter()
            .any(|a| a.starts_with("--port") || a.contains(".port="));
    if !port_given && !env.iter().any(|(k, _)| *k == "SI_TEST_DEFAULT_PORT") {
        c.env("SECURE_INIT_JUPYTER_PORT", free_port().to_string());
    }
    for (k, v) in env.iter().filter(|(k, _)| *k != "SI_TEST_DEFAULT_PORT") {
        c.env(k, v);
    }
    output(c)
}

/// SIGTERM a server started by [`spawn_server`], wait for it, and return its log and the
/// JSON events in it.
pub fn stop_server(child: &mut std::process::Child) -> (String, Vec<serde_json::Value>) {
    use std::io::Read;
    kill(child.id(), libc::SIGTERM);
    let _ = wait_timeout(child, 30);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let events = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect();
    (err, events)
}

/// Start JupyterLab under secure-init as `aiuser` (uid 1001) with a persistent HOME (a
/// passwd entry in a private mount namespace); returns the child once the port answers.
pub fn start_lab(home: &std::path::Path, a: &Area, port: u16) -> (std::process::Child, TempDir) {
    let v = venv();
    let passwd = format!(
        "root:x:0:0::/root:/bin/sh\naiuser:x:1001:1001::{}:/bin/sh\n",
        home.display()
    );
    let mut args = jargs(a);
    args.extend([
        "--jupyter-ip".into(),
        "127.0.0.1".into(),
        "--jupyter-port".into(),
        port.to_string(),
        "--state-file".into(),
        a.cfg.with_file_name("state.json").to_str().unwrap().into(),
        "--".into(),
        v.join("bin/jupyter").to_str().unwrap().into(),
        "lab".into(),
        "--no-browser".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut c, etc) = cmd_with_etc(&passwd, "root:x:0:\naiuser:x:1001:\n", &argv);
    c.env("JUPYTER_PASSWORD", PASSWORD)
        .env("PATH", format!("{}:/usr/bin:/bin", v.join("bin").display()))
        .env_remove("JUPYTER_TOKEN");
    let mut child = spawn_logged(&mut c);
    if !wait_for(90, || http_answers(port)) {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("JupyterLab did not come up:\n{}", stderr(&o));
    }
    (child, etc)
}

/// Log in, start a kernel, run `code` in it (as the workload), return what it printed.
pub const KERNEL_CLIENT: &str = r#"
from jupyter_client import BlockingKernelClient
base, password, runtime, code = sys.argv[1:5]
status, op, xsrf = login(base, password)
assert status == 302, status
kid = start_kernel(base, op, xsrf)
kc = BlockingKernelClient(connection_file=f"{runtime}/kernel-{kid}.json")
kc.load_connection_file(); kc.start_channels(); kc.wait_for_ready(timeout=60)
out = []
def hook(msg):
    if msg["msg_type"] == "stream": out.append(msg["content"]["text"])
    if msg["msg_type"] == "error": out.append("ERROR " + msg["content"]["ename"])
kc.execute_interactive(code, timeout=60, output_hook=hook)
print("".join(out))
"#;
