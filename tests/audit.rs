//! The runtime audit, against misconfigurations the tests make with namespaces and mounts:
//! a runtime socket, a bind-mounted host path, the host's PID and network namespaces, a
//! writable /proc/sys, added capabilities, no runtime seccomp filter — each found, each
//! with a control where it is not; `--audit strict` refuses, `warn` logs, `off` is quiet.

mod common;
use common::*;
use std::process::Command;

/// `secure-init audit --format json` run through `sh -c SETUP; exec …` in the given
/// wrapper (e.g. `unshare -m`): the findings as (id, evidence).
fn audit_in(wrapper: &[&str], setup: &str) -> (Vec<(String, String)>, i32) {
    require_root();
    let mut c = Command::new(wrapper[0]);
    c.args(&wrapper[1..])
        .args(["sh", "-c"])
        .arg(format!("{setup}\nexec \"$0\" audit --format json"))
        .arg(bin());
    let o = output(c);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&o), stderr(&o)));
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["evidence"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (f, o.status.code().unwrap_or(-1))
}

fn has(f: &[(String, String)], id: &str) -> bool {
    f.iter().any(|(i, _)| i == id)
}

fn evidence<'a>(f: &'a [(String, String)], id: &str) -> &'a str {
    f.iter()
        .find(|(i, _)| i == id)
        .map(|(_, e)| e.as_str())
        .unwrap_or_else(|| panic!("no {id} in {f:?}"))
}

const PRIVATE_MOUNTS: &[&str] = &["unshare", "--mount", "--propagation", "private"];

#[test]
fn a_mounted_runtime_socket_is_found() {
    let (f, code) = audit_in(
        PRIVATE_MOUNTS,
        "mount -t tmpfs none /run && /usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/run/docker.sock\")'",
    );
    assert!(
        evidence(&f, "runtime-socket").contains("docker.sock"),
        "{f:?}"
    );
    assert_eq!(code, 77, "a high finding: 77");
    // the control: the same, without the socket
    let (f, _) = audit_in(PRIVATE_MOUNTS, "mount -t tmpfs none /run");
    assert!(!has(&f, "runtime-socket"), "{f:?}");
}

#[test]
fn a_bind_mounted_host_path_is_found() {
    let dir = TempDir::new("audit-mnt");
    let d = dir.path().display();
    let (f, _) = audit_in(
        PRIVATE_MOUNTS,
        &format!("mkdir -p {d}/host {d}/hostetc && mount --bind / {d}/host && mount --bind -o ro /etc {d}/hostetc"),
    );
    let hp: Vec<&String> = f
        .iter()
        .filter(|(i, _)| i == "host-path-mounted")
        .map(|(_, e)| e)
        .collect();
    assert!(
        hp.iter()
            .any(|e| e.starts_with("host path / ") && e.contains(&format!("{d}/host,"))),
        "{hp:?}"
    );
    assert!(
        hp.iter().any(|e| e.starts_with("host path /etc ")),
        "{hp:?}"
    );
    // the control: a data directory is not a host system path
    let (f, _) = audit_in(
        PRIVATE_MOUNTS,
        &format!("mkdir -p {d}/src {d}/data && mount --bind {d}/src {d}/data"),
    );
    assert!(!has(&f, "host-path-mounted"), "{f:?}");
}

#[test]
fn the_hosts_pid_and_network_namespaces_are_found() {
    // run on the host: both are the host's
    let (f, _) = audit_in(&["env"], "true");
    assert!(has(&f, "host-pid-namespace"), "{f:?}");
    assert!(has(&f, "host-network-namespace"), "{f:?}");
    // own PID namespace: no kernel threads in sight
    let (f, _) = audit_in(&["unshare", "--pid", "--fork", "--mount-proc"], "true");
    assert!(!has(&f, "host-pid-namespace"), "{f:?}");
    // own network namespace (the PID namespace still the host's)
    let (f, _) = audit_in(&["unshare", "--net"], "true");
    assert!(has(&f, "host-pid-namespace"), "{f:?}");
    assert!(!has(&f, "host-network-namespace"), "{f:?}");
}

#[test]
fn a_writable_proc_sys_is_found() {
    let (f, _) = audit_in(PRIVATE_MOUNTS, "true");
    assert!(has(&f, "proc-sys-writable"), "{f:?}");
    // read-only, as a runtime mounts it
    let (f, _) = audit_in(
        PRIVATE_MOUNTS,
        "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys",
    );
    assert!(!has(&f, "proc-sys-writable"), "{f:?}");
}

#[test]
fn capabilities_the_runtime_added_are_found() {
    const DOCKER: &str = "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap";
    let (f, _) = audit_in(
        &["setpriv", "--bounding-set", &format!("{DOCKER},+sys_admin")],
        "true",
    );
    let e = evidence(&f, "capability-added");
    assert!(
        e.contains("CAP_SYS_ADMIN") && !e.contains("CAP_SYS_PTRACE"),
        "{e}"
    );
    assert!(!has(&f, "privileged"));
    let (f, _) = audit_in(&["setpriv", "--bounding-set", DOCKER], "true");
    assert!(!has(&f, "capability-added"), "{f:?}");
}

#[test]
fn a_container_without_the_runtimes_seccomp_filter_is_found() {
    let (f, _) = audit_in(&["env"], "true");
    assert!(has(&f, "runtime-seccomp-off"), "{f:?}");
    let loader = "import os, sys, seccomp\nf = seccomp.SyscallFilter(seccomp.ALLOW)\nf.add_rule(seccomp.ERRNO(1), 'kexec_load')\nf.load()\nos.execvp(sys.argv[1], sys.argv[1:])";
    let (f, _) = audit_in(&["/usr/bin/python3", "-c", loader], "true");
    assert!(!has(&f, "runtime-seccomp-off"), "{f:?}");
}

#[test]
fn strict_refuses_warn_logs_off_is_quiet() {
    let o = output(cmd(&["--audit", "strict", "--", "echo", "STARTED"]));
    assert_code(&o, 77);
    let m = fatal_msg(&o);
    assert!(
        m.contains("--audit strict") && m.contains("host-pid-namespace"),
        "{m}"
    );
    assert!(!stdout(&o).contains("STARTED"));
    let o = output(cmd(&["--", "echo", "STARTED"]));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("STARTED"));
    let ev = events(&o, "audit.finding");
    let pid = ev
        .iter()
        .find(|e| e["id"] == "host-pid-namespace")
        .unwrap_or_else(|| panic!("{}", stderr(&o)));
    assert_eq!(pid["severity"], "high");
    assert!(pid["fix"].as_str().unwrap().contains("--pid host"));
    let o = output(cmd(&["--audit", "off", "--", "echo", "STARTED"]));
    assert_code(&o, 0);
    assert!(events(&o, "audit.finding").is_empty());
    // the text report names each finding with its fix
    let o = output(cmd(&["audit", "--format", "text"]));
    assert_code(&o, 77);
    assert!(
        stdout(&o).contains("HIGH   host-pid-namespace"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("fix: "), "{}", stdout(&o));
}

#[test]
fn runtime_sockets_under_other_names_and_inside_mounted_directories_are_found() {
    let sock = "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])";
    // a socket bind-mounted under a name no list knows (-v /var/run/docker.sock:/srv/agent)
    let setup = format!(
        "mkdir -p /srv/si-audit-agent && mount -t tmpfs none /srv/si-audit-agent && /usr/bin/python3 -c '{sock}' /srv/si-audit-agent/real.sock && touch /srv/si-audit-agent/agent && mount --bind /srv/si-audit-agent/real.sock /srv/si-audit-agent/agent"
    );
    let (f, _) = audit_in(PRIVATE_MOUNTS, &setup);
    assert!(evidence(&f, "runtime-socket").contains("/agent"), "{f:?}");
    // the host's /run mounted as a directory, the containerd socket inside it
    let setup = format!(
        "mkdir -p /srv/si-audit-hostrun && mount -t tmpfs none /srv/si-audit-hostrun && mkdir -p /srv/si-audit-hostrun/containerd && /usr/bin/python3 -c '{sock}' /srv/si-audit-hostrun/containerd/containerd.sock"
    );
    let (f, _) = audit_in(PRIVATE_MOUNTS, &setup);
    assert!(
        evidence(&f, "runtime-socket").contains("containerd/containerd.sock"),
        "{f:?}"
    );
    // the control: a mounted directory with an ordinary socket (an app's own)
    let setup = format!(
        "mkdir -p /srv/si-audit-app && mount -t tmpfs none /srv/si-audit-app && /usr/bin/python3 -c '{sock}' /srv/si-audit-app/app.sock"
    );
    let (f, _) = audit_in(PRIVATE_MOUNTS, &setup);
    assert!(!has(&f, "runtime-socket"), "{f:?}");
}
