//! Seccomp profiles enforced on the real workload: the probe reports errno per call.

mod common;
use common::*;
use std::collections::HashMap;

fn posture_under(profile: &str) -> HashMap<String, String> {
    let p = probe();
    let o = output(cmd(&[
        "--seccomp",
        profile,
        "--",
        p.to_str().unwrap(),
        "posture",
    ]));
    assert_code(&o, 0);
    kv(&o)
}

const DENIED_EPERM: &[&str] = &[
    "ptrace_attach",
    "process_vm_readv",
    "process_vm_writev",
    "userfaultfd",
    "perf_event_open",
    "pidfd_getfd",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "unshare_user",
    "unshare_ns",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_by_handle_at",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
];
const REQUIRED: &[&str] = &[
    "socket_unix",
    "tcp_listen",
    "memfd_create",
    "mbind",
    "get_mempolicy",
    "set_mempolicy",
    "shm_mmap",
    "thread",
    "fork_exec",
    "personality_query",
];

/// The probe's calls above stand for syscalls of the shared policy
/// (`profiles/pytorch-policy.json`, which also generates the profile): the lists cannot drift.
#[test]
fn probe_calls_are_the_policys_deny_list() {
    let policy: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/pytorch-policy.json"
    )))
    .unwrap();
    let deny: Vec<&str> = policy["deny"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for c in DENIED_EPERM {
        let sys = match *c {
            "ptrace_attach" => "ptrace",
            "unshare_user" | "unshare_ns" => "unshare",
            other => other,
        };
        assert!(
            deny.contains(&sys),
            "{c}: {sys} is not in the policy's deny list"
        );
    }
}

#[test]
fn pytorch_profile_denies_and_allows() {
    let m = posture_under("pytorch");
    assert_eq!(m["Seccomp"], "2");
    for c in DENIED_EPERM {
        assert_eq!(m[*c], "EPERM", "{c}");
    }
    for c in [
        "clone3",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
    ] {
        assert_eq!(m[c], "ENOSYS", "{c}");
    }
    for c in REQUIRED {
        assert_eq!(m[*c], "ok", "{c}");
    }
    assert_eq!(m["clone_newns"], "EPERM");
    assert_eq!(m["socket_alg"], "EPERM");
    assert_eq!(
        m["socket_alg_highbits"], "EPERM",
        "high bits must not bypass a 32-bit argument check"
    );
    assert_eq!(m["socket_vsock"], "EPERM");
    assert_eq!(
        m["beyond_table"], "ENOSYS",
        "a number newer than the profile gets ENOSYS (libc falls back), as with runc"
    );
}

#[test]
fn docker_default_profile_is_enforced_like_docker() {
    let m = posture_under("docker-default");
    assert_eq!(
        m["clone_newns"], "EPERM",
        "clone with namespace flags denied"
    );
    assert_eq!(m["clone3"], "ENOSYS");
    assert_eq!(m["socket_alg"], "EPERM");
    assert_eq!(m["socket_vsock"], "EPERM");
    assert_eq!(m["mbind"], "EPERM", "Docker needs CAP_SYS_NICE for mbind");
    assert_eq!(m["mount"], "EPERM");
    assert_eq!(
        m["io_uring_setup"], "EPERM",
        "not listed by Docker: default action"
    );
    for c in [
        "socket_unix",
        "tcp_listen",
        "memfd_create",
        "thread",
        "fork_exec",
        "shm_mmap",
    ] {
        assert_eq!(m[c], "ok", "{c}");
    }
}

#[test]
fn the_docker_fixture_loads_through_a_path() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/docker-default.json");
    let m = posture_under(fixture);
    assert_eq!(m["clone3"], "ENOSYS");
    assert_eq!(m["socket_alg"], "EPERM");
    let o = output(cmd(&["profile", "check", fixture]));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["skipped_other_arch"].as_u64().unwrap() > 0);
}

#[test]
fn python_threads_and_socket_server_run_under_pytorch_profile() {
    let script = r#"
import socket, threading
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept(); c.sendall(c.recv(5).upper()); c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection(("127.0.0.1", port)); cl.sendall(b"hello")
got = cl.recv(5); t.join()
res = []
ths = [threading.Thread(target=lambda i=i: res.append(i * i)) for i in range(8)]
[x.start() for x in ths]; [x.join() for x in ths]
import os, tempfile, subprocess
r = subprocess.run(["true"]).returncode
print(got.decode(), sorted(res)[-1], r)
"#;
    let o = output(cmd(&["--", "python3", "-c", script]));
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "HELLO 49 0");
}

#[test]
fn unconfined_only_by_name_and_warns() {
    let m = posture_under("unconfined");
    assert_eq!(m["Seccomp"], "0");
    assert_eq!(m["NoNewPrivs"], "1");
    let p = probe();
    let o = output(cmd(&[
        "--seccomp",
        "unconfined",
        "--",
        p.to_str().unwrap(),
        "fds",
    ]));
    let warn = stderr(&o);
    assert!(
        warn.lines()
            .any(|l| l.contains(r#""level":"warn""#) && l.contains("seccomp is OFF")),
        "{warn}"
    );
    // "none", "off", "" are not accepted as synonyms
    for name in ["none", "off", ""] {
        let o = output(cmd(&["--seccomp", name, "--", "true"]));
        assert_code(&o, 78);
    }
}

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn malformed_profiles_fail_with_78_naming_the_field() {
    let d = TempDir::root_only("bad-profiles");
    let cases = [
        (
            "invalid.json",
            "{\"defaultAction\": ",
            "invalid profile JSON",
        ),
        ("empty.json", "", "empty"),
        (
            "action.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_MAYBE"}]}"#,
            "syscalls[0].action",
        ),
        (
            "index.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index",
        ),
        (
            "op.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_ABOUT"}]}]}"#,
            "syscalls[0].args[0].op",
        ),
        (
            "name.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","not_a_syscall_at_all"],"action":"SCMP_ACT_ALLOW"}]}"#,
            "not_a_syscall_at_all",
        ),
        (
            "notify.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "SCMP_ACT_NOTIFY",
        ),
        (
            "listener.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/x.sock"}"#,
            "listenerPath",
        ),
        (
            "flags.json",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#,
            "flags",
        ),
    ];
    for (f, text, want) in cases {
        let path = write(&d, f, text);
        let o = output(cmd(&["--seccomp", &path, "--", "echo", "STARTED"]));
        assert_code(&o, 78);
        let m = fatal_msg(&o);
        assert!(m.contains(want), "{f}: {m}");
        assert!(!stdout(&o).contains("STARTED"));
        let o = output(cmd(&["profile", "check", &path]));
        assert_code(&o, 78);
    }
}

#[test]
fn a_filter_that_fails_to_install_aborts_with_77() {
    // A parent filter (the runtime's, say) that refuses seccomp(2): installing ours fails,
    // and the workload must not start unfiltered.
    let o = under_parent_filter("seccomp", libc::EPERM, &["--", "echo", "STARTED"]);
    assert_code(&o, 77);
    let m = fatal_msg(&o);
    assert!(
        m.contains("install the seccomp filter") && m.contains("not started"),
        "{m}"
    );
    assert!(!stdout(&o).contains("STARTED"));
}

#[test]
fn a_profile_too_large_for_one_filter_is_a_configuration_error() {
    let names: Vec<String> = [
        "read", "write", "openat", "close", "fstat", "mmap", "mprotect", "munmap", "brk", "ioctl",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rules = Vec::new();
    for e in 2..40u32 {
        for k in 0..10u64 {
            rules.push(serde_json::json!({
                "names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": e,
                "args": [{"index": 3, "value": 1000 + k * 64 + e as u64, "op": "SCMP_CMP_EQ"}]
            }));
        }
    }
    let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    let d = TempDir::root_only("huge");
    let path = write(&d, "huge.json", &profile.to_string());
    let o = output(cmd(&["--seccomp", &path, "--", "echo", "STARTED"]));
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("4096"));
    assert!(!stdout(&o).contains("STARTED"));
}

#[test]
fn profile_show_prints_embedded_json() {
    for name in ["pytorch", "docker-default"] {
        let o = output(cmd(&["profile", "show", name]));
        assert_code(&o, 0);
        let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let file = std::fs::read_to_string(format!(
            "{}/profiles/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            shown,
            serde_json::from_str::<serde_json::Value>(&file).unwrap()
        );
    }
    // the exported profile loads back through --seccomp PATH
    let o = output(cmd(&["profile", "show", "pytorch"]));
    let d = TempDir::root_only("export");
    let path = write(&d, "pytorch.json", &stdout(&o));
    let o = output(cmd(&["--seccomp", &path, "--", "true"]));
    assert_code(&o, 0);
    let o = output(cmd(&["profile", "show", "nope"]));
    assert_code(&o, 78);
}

#[test]
fn pytorch_profile_documents_every_change() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/pytorch.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let docker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/profiles/docker-default.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let theirs: Vec<&serde_json::Value> = docker["syscalls"].as_array().unwrap().iter().collect();
    for rule in v["syscalls"].as_array().unwrap() {
        if !theirs.contains(&rule) {
            let c = rule["comment"].as_str().unwrap_or("");
            assert!(
                c.contains("pytorch"),
                "rule differs from Docker's without a comment: {rule}"
            );
        }
    }
}

#[test]
fn embedded_docker_profile_is_the_fixture_byte_for_byte() {
    // sha256 documented in shared/fixtures/seccomp/README.md (moby/profiles seccomp/default.json)
    const FIXTURE_SHA256: &str = "536529b665dd0972c37bfb569f5d4ac8a53592e7b00752bc39ff063ca9864c74";
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/docker-default.json");
    let o = std::process::Command::new("sha256sum")
        .arg(ours)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(FIXTURE_SHA256));
    // and, where the shared fixtures sit beside the checkout (sessions and CI), the file itself
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/seccomp/docker-default.json"
    );
    if std::path::Path::new(shared).exists() {
        assert_eq!(std::fs::read(shared).unwrap(), std::fs::read(ours).unwrap());
        let m = posture_under(shared);
        assert_eq!(m["clone3"], "ENOSYS");
        assert_eq!(m["clone_newns"], "EPERM");
        assert_eq!(m["socket_alg"], "EPERM");
    }
}

#[test]
fn a_profile_that_does_not_allow_seccomp_itself_still_installs() {
    // Recorded or hand-written allowlists rarely list `seccomp`; the stacked filters must
    // not need it (the restrictive base filter is installed last).
    let docker = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/docker-default.json"
    ))
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&docker).unwrap();
    let names = v["syscalls"][0]["names"].as_array_mut().unwrap();
    names.retain(|n| n != "seccomp");
    v["syscalls"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13
        }));
    v["defaultErrnoRet"] = serde_json::json!(38);
    let d = TempDir::root_only("noseccomp");
    let path = write(&d, "p.json", &v.to_string());
    let m = posture_under(&path);
    assert_eq!(m["Seccomp"], "2");
    assert_eq!(m["mount"], "EACCES", "the errno filter is in force");
    assert_eq!(m["clone3"], "ENOSYS");
    assert_eq!(
        m["bpf"], "ENOSYS",
        "the default action (errno 38) is in force"
    );
}

/// containers/common's profile (podman, CRI-O, buildah), the real file from Debian: its
/// dialect (errno names) is accepted, and every syscall's outcome under secure-init's
/// filter equals libseccomp's for the same file.
#[test]
fn containers_common_profile_matches_libseccomp() {
    use secure_init::seccomp::{self as sc, notify};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/containers-common-seccomp.json"
    );
    // secure-init accepts it (it used to refuse `defaultErrno` with 78)
    let o = output(cmd(&["--seccomp", path, "--", "true"]));
    assert_code(&o, 0);
    let w = events(&o, "seccomp.conflict");
    assert!(
        w.iter()
            .any(|e| e["msg"].as_str().unwrap().contains("setns")),
        "{}",
        stderr(&o)
    );
    // secure-init's filter
    let text = std::fs::read_to_string(path).unwrap();
    let p = sc::profile::parse(&text, "containers-common").unwrap();
    let t = sc::native_target(vec![], sc::running_kernel()).unwrap();
    let resolved = sc::resolve(&p, &t).unwrap();
    let ours = sc::to_kernel(&resolved.compile().unwrap()[0]);
    // the file lists setns both in its allow-everyone list and in its CAP_SYS_ADMIN group
    // (errno otherwise): libseccomp keeps the first, unconditional allow; secure-init the
    // more restrictive errno. That is the one difference, and it is reported.
    assert_eq!(resolved.libseccomp_differs, ["setns"]);
    let setns = notify::native_numbers(&["setns"])[0] as i32;
    // libseccomp's, built by a script that follows runc
    let dir = TempDir::root_only("libseccomp");
    let bpf = dir.path().join("filter.bpf");
    let st = std::process::Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/libseccomp_filter.py"
        ))
        .arg(path)
        .arg(&bpf)
        .status()
        .unwrap();
    assert!(st.success(), "python3-seccomp (libseccomp) is needed");
    let raw = std::fs::read(&bpf).unwrap();
    let theirs: Vec<libc::sock_filter> = raw
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    assert!(theirs.len() > 10);
    // every syscall number of this architecture and past it, with argument sets that
    // exercise the profile's conditions (personality, clone flags, socket families)
    let args: &[[u64; 6]] = &[
        [0; 6],
        [0x0008, 0, 0, 0, 0, 0],
        [0x20008, 0, 0, 0, 0, 0],
        [0xffffffff, 0, 0, 0, 0, 0],
        [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0],
        [0x7e020000, 0, 0, 0, 0, 0],
        [libc::AF_NETLINK as u64, 3, 9, 0, 0, 0],
        [40, 1, 0, 0, 0, 0],
        [16, 1, 0, 0, 0, 0],
    ];
    let arch = if cfg!(target_arch = "aarch64") {
        0xc00000b7
    } else {
        0xc000003e
    };
    let mut compared = 0;
    for nr in 0..500 {
        for a in args {
            let d = notify::Data {
                nr,
                arch,
                ip: 0,
                args: *a,
            };
            let (x, y) = (notify::evaluate(&ours, &d), notify::evaluate(&theirs, &d));
            if nr == setns {
                assert_eq!(
                    (x, y),
                    (libc::SECCOMP_RET_ERRNO | 1, libc::SECCOMP_RET_ALLOW)
                );
                compared += 1;
                continue;
            }
            assert_eq!(
                x,
                y,
                "syscall {nr} ({}) args {a:x?}: secure-init {x:#x}, libseccomp {y:#x}",
                notify::syscall_name(nr)
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 4500);
    // a name that disagrees with the number beside it is refused
    let bad = text.replacen("\"defaultErrnoRet\": 38", "\"defaultErrnoRet\": 1", 1);
    assert_ne!(bad, text);
    let f = dir.path().join("bad.json");
    std::fs::write(&f, bad).unwrap();
    let o = output(cmd(&["--seccomp", f.to_str().unwrap(), "--", "true"]));
    assert_code(&o, 78);
    assert!(fatal_msg(&o).contains("defaultErrno"), "{}", fatal_msg(&o));
}

#[test]
fn profile_diff_names_exactly_what_pytorch_changes() {
    let o = output(cmd(&["profile", "diff", "docker-default", "pytorch"]));
    assert_code(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().skip(1).collect();
    let names: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "get_mempolicy",
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
            "mbind",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
            "set_mempolicy",
            "set_mempolicy_home_node"
        ],
        "{out}"
    );
    assert!(out.contains("ptrace: allow -> errno(1 EPERM)"), "{out}");
    // equivalent rules written differently (pytorch's explicit AF_UNIX socket rule) and the
    // identical terminal guard are not differences; a profile equals itself
    assert!(
        !names.contains(&"socket") && !names.contains(&"ioctl"),
        "{out}"
    );
    let o = output(cmd(&["profile", "diff", "pytorch", "pytorch"]));
    assert!(
        stdout(&o).starts_with("# pytorch -> pytorch (0 syscall(s) differ"),
        "{}",
        stdout(&o)
    );
    // kept capabilities: what Docker would grant and pytorch still denies
    let o = output(cmd(&[
        "profile",
        "diff",
        "docker-default",
        "pytorch",
        "--keep-cap",
        "SYS_ADMIN",
    ]));
    assert!(
        stdout(&o).contains("unshare: allow -> errno(1 EPERM)"),
        "{}",
        stdout(&o)
    );
    let o = output(cmd(&[
        "profile",
        "diff",
        "docker-default",
        "/nonexistent.json",
    ]));
    assert_code(&o, 78);
}
