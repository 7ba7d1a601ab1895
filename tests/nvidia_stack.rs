//! The NVIDIA stack's start and a training job's OS calls, replayed without a GPU
//! (docs/src/pytorch.md): fake `/dev/nvidia*`, `/dev/nvidia-caps` and
//! `/dev/infiniband` character devices (no driver behind them, so an open the sandbox lets
//! through answers ENXIO) and a fake `/proc/driver/nvidia` in a private mount namespace, the
//! fake NVML for the driver check, and `tests/nvidia_replay.py` as the workload — under both
//! built-in profiles, Landlock best-effort and require, as a subreaper and as PID 1.

mod common;
use common::*;
use std::collections::HashMap;
use std::path::PathBuf;

const DRIVER: &str = "570.133.20";

/// Builds the fake /dev and /proc/driver/nvidia, then execs the rest of its arguments.
const SETUP: &str = r#"set -e
d=$(mktemp -d /tmp/secure-init-fake-dev.XXXXXX)
mount -t tmpfs -o mode=755 fakedev "$d"
for f in null zero full random urandom tty ptmx; do cp -a "/dev/$f" "$d/"; done
ln -s /proc/self/fd "$d/fd"
mkdir "$d/pts" "$d/shm" "$d/nvidia-caps" "$d/infiniband"
mount --bind /dev/pts "$d/pts"
mount -t tmpfs -o mode=1777 shm "$d/shm"
# NVIDIA's nodes as the container toolkit makes them (group video, 0660); majors without a
# driver here (the control run checks that each open answers ENXIO)
mknod -m 660 "$d/nvidiactl" c 195 255
mknod -m 660 "$d/nvidia0" c 195 0
mknod -m 660 "$d/nvidia-modeset" c 195 254
mknod -m 660 "$d/nvidia-uvm" c 234 0
mknod -m 660 "$d/nvidia-uvm-tools" c 234 1
chgrp 44 "$d"/nvidia*
mknod -m 444 "$d/nvidia-caps/nvidia-cap1" c 235 1
mknod -m 666 "$d/infiniband/uverbs0" c 231 192
mount --move "$d" /dev
mount -t tmpfs -o mode=755 driver /proc/driver
mkdir -p /proc/driver/nvidia/capabilities/mig
printf 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  %s  Tue Mar  4 10:00:00 UTC 2025\nGCC version:  gcc version 12.2.0\n' "$DRIVER" > /proc/driver/nvidia/version
printf 'ModifyDeviceFiles: 1\nDeviceFileGID: 44\nDeviceFileMode: 432\n' > /proc/driver/nvidia/params
printf 'DeviceFileMinor: 1\nDeviceFileMode: 292\nDeviceFileModify: 1\n' > /proc/driver/nvidia/capabilities/mig/config
exec "$@"
"#;

struct Replay {
    out: HashMap<String, String>,
    stderr: String,
}

/// A world-writable directory outside every writable tree, with a world-writable file.
struct Outside(PathBuf);
impl Outside {
    fn new() -> Outside {
        use std::os::unix::fs::PermissionsExt;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = PathBuf::from(format!(
            "/srv/secure-init-replay-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(p.join("f"), "").unwrap();
        std::fs::set_permissions(p.join("f"), std::fs::Permissions::from_mode(0o666)).unwrap();
        Outside(p)
    }
}
impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn replay(flags: &[&str], pid1: bool, master_port: u16) -> Replay {
    require_root();
    let dir = TempDir::new("replay");
    let script = dir.path().join("nvidia_replay.py");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nvidia_replay.py"),
        &script,
    )
    .unwrap();
    let outside = Outside::new();
    let lib = fake_nvml();
    let mut c = std::process::Command::new("unshare");
    c.args(["--mount", "--propagation", "private"]);
    if pid1 {
        c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    }
    c.args(["sh", "-c", SETUP, "sh"])
        .arg(bin())
        .args([
            "--gpu",
            "require",
            "--nvml-library",
            lib.to_str().unwrap(),
            "--nvidia-version-file",
            "/proc/driver/nvidia/version",
            "--audit",
            "off",
        ])
        .args(flags)
        .args(["--", "/usr/bin/python3"])
        .arg(&script)
        .current_dir("/")
        .env("SECURE_INIT_LOG_FORMAT", "json")
        .env("DRIVER", DRIVER)
        .env("FAKE_NVML_DRIVER", DRIVER)
        .env("FAKE_NVML_CUDA", "12080")
        .env("CUDA_VERSION", "12.8.0")
        .env("NVIDIA_VISIBLE_DEVICES", "all")
        .env("MASTER_PORT", master_port.to_string())
        .env("REPLAY_OUTSIDE", &outside.0)
        .env("REPLAY_OUTSIDE_FILE", outside.0.join("f"));
    for (k, _) in std::env::vars() {
        if k.starts_with("NVIDIA_REQUIRE")
            || k.starts_with("SECURE_INIT_") && k != "SECURE_INIT_LOG_FORMAT"
        {
            c.env_remove(k);
        }
    }
    let o = output(c);
    assert_code(&o, 0);
    let gpu = events(&o, "gpu.driver");
    assert_eq!(gpu.len(), 1, "the driver check ran: {}", stderr(&o));
    assert_eq!(gpu[0]["driver"], DRIVER);
    // nothing was written outside by any variant
    assert!(!outside.0.join("x").exists() || flags.contains(&"off"));
    Replay {
        out: kv(&o),
        stderr: stderr(&o),
    }
}

/// The result each step must have under the defaults, whatever the profile.
const EVERY_PROFILE: &[(&str, &str)] = &[
    // the driver's device opens reach the (absent) driver: ENXIO, not EACCES/EPERM
    ("nvidiactl", "ENXIO"),
    ("nvidia0", "ENXIO"),
    ("nvidia_uvm", "ENXIO"),
    ("nvidia_uvm_tools", "ENXIO"),
    ("nvidia_modeset", "ENXIO"),
    ("nvidia_cap_mig", "ENXIO"),
    ("driver_version", "ok"),
    ("driver_params", "ok"),
    ("mig_config", "ok"),
    ("sys_pci", "ok"),
    // procfs writes a process makes to itself, in the process, a forked worker and a new program
    ("thread_comm", "ok"),
    ("pthread_setname", "ok"),
    ("self_comm", "ok"),
    ("oom_score_adj", "ok"),
    ("fork_nvidiactl", "ENXIO"),
    ("fork_thread_comm", "ok"),
    ("fork_pthread_setname", "ok"),
    ("fork_self_comm", "ok"),
    ("fork_oom_score_adj", "ok"),
    ("exec_nvidiactl", "ENXIO"),
    ("exec_nvidia_uvm", "ENXIO"),
    ("exec_thread_comm", "ok"),
    ("exec_pthread_setname", "ok"),
    ("exec_self_comm", "ok"),
    ("exec_oom_score_adj", "ok"),
    ("coredump_filter", "ok"),
    ("clear_refs", "ok"),
    ("memfd_create", "ok"),
    ("mlock", "ok"),
    ("sched_setaffinity", "ok"),
    ("dev_shm", "ok"),
    ("abstract_unix", "ok"),
    ("tcp_bind_ephemeral", "ok"),
    // DDP's rendezvous port (MASTER_PORT) may be bound, with or without --net-bind
    ("tcp_bind_master_port", "ok"),
    ("pidfd_open", "ok"),
    ("sibling_comm", "EINVAL"),
    ("sibling_oom_score_adj", "ok"),
    // refused on purpose, with a hint (docs "Seccomp", the inventory)
    ("pidfd_getfd", "EPERM"),
    ("perf_event_open", "EPERM"),
    ("userfaultfd", "EPERM"),
    ("clone3", "ENOSYS"),
    // what the procfs rule does not open: real files by any /proc path, the supervisor,
    // kernel parameters
    ("write_outside", "EACCES"),
    ("write_via_proc_root", "EACCES"),
    ("write_via_proc_cwd", "EACCES"),
    ("write_via_proc_fd", "EACCES"),
    ("supervisor_comm", "EACCES"),
    ("supervisor_oom", "EACCES"),
    ("supervisor_mem", "EACCES"),
    ("proc_sys", "EACCES"),
];

/// `restricted`: started with `--net-bind` (then a port nobody named is refused; by default
/// any may be bound).
fn check(r: &Replay, profile_specific: &[(&str, &str)], restricted: bool, what: &str) {
    let mut wrong = vec![];
    let bind = [("tcp_bind_other", if restricted { "EACCES" } else { "ok" })];
    for (k, want) in EVERY_PROFILE.iter().chain(profile_specific).chain(&bind) {
        let got = r.out.get(*k).map(String::as_str).unwrap_or("(missing)");
        if got != *want {
            wrong.push(format!("{k}: {got}, want {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{what}:\n{}\nall: {:?}\nstderr: {}",
        wrong.join("\n"),
        r.out,
        r.stderr
    );
    // the GPU's group is kept (the nodes are group video, 0660)
    assert!(
        r.out["groups"].split(',').any(|g| g == "44"),
        "{what}: {:?}",
        r.out["groups"]
    );
}

const PYTORCH: &[(&str, &str)] = &[
    ("get_mempolicy", "ok"),
    ("set_mempolicy", "ok"),
    ("mbind", "ok"),
    ("process_vm_readv", "EPERM"),
    ("io_uring_setup", "ENOSYS"),
];
const DOCKER_DEFAULT: &[(&str, &str)] = &[
    // Docker's profile wants CAP_SYS_NICE for NUMA calls (docs "Seccomp")
    ("get_mempolicy", "EPERM"),
    ("set_mempolicy", "EPERM"),
    ("mbind", "EPERM"),
    ("process_vm_readv", "ok"),
    ("io_uring_setup", "EPERM"),
];

#[test]
fn the_nvidia_stack_starts_under_pytorch_best_effort_as_a_subreaper() {
    let r = replay(&[], false, 29531);
    check(&r, PYTORCH, false, "pytorch, best-effort");
    // a refused call names its workaround
    let denied = r
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "seccomp.denied" && v["syscall"] == "pidfd_getfd")
        .unwrap_or_else(|| panic!("no seccomp.denied for pidfd_getfd: {}", r.stderr));
    assert!(
        denied["hint"]
            .as_str()
            .unwrap()
            .contains("expandable_segments:False"),
        "{denied}"
    );
}

#[test]
fn the_nvidia_stack_starts_under_pytorch_require_as_pid1() {
    // restricted listening: the rendezvous port (MASTER_PORT) is added to what is named
    let r = replay(
        &["--landlock", "require", "--net-bind", "29999"],
        true,
        29532,
    );
    check(&r, PYTORCH, true, "pytorch, require, --net-bind, PID 1");
}

#[test]
fn the_nvidia_stack_starts_under_docker_default() {
    let r = replay(&["--seccomp", "docker-default"], false, 29533);
    check(&r, DOCKER_DEFAULT, false, "docker-default, best-effort");
    let r = replay(
        &[
            "--seccomp",
            "docker-default",
            "--landlock",
            "require",
            "--net-bind",
            "29999",
        ],
        true,
        29534,
    );
    check(
        &r,
        DOCKER_DEFAULT,
        true,
        "docker-default, require, --net-bind, PID 1",
    );
}

#[test]
fn the_control_without_sandbox_reaches_the_fake_devices_and_writes_everywhere() {
    // the fake nodes have no driver (ENXIO is what the sandboxed runs must see), and the
    // refusals above are the sandbox's: without it the same steps succeed
    let r = replay(
        &["--landlock", "off", "--seccomp", "unconfined"],
        false,
        29535,
    );
    for (k, want) in [
        ("nvidiactl", "ENXIO"),
        ("nvidia_uvm", "ENXIO"),
        ("nvidia_cap_mig", "ENXIO"),
        ("thread_comm", "ok"),
        ("tcp_bind_other", "ok"),
        ("write_outside", "ok"),
        ("pidfd_getfd", "ok"),
        // DAC still guards the supervisor and kernel parameters
        ("supervisor_comm", "EACCES"),
        ("proc_sys", "EACCES"),
    ] {
        assert_eq!(
            r.out.get(k).map(String::as_str),
            Some(want),
            "{k}: {:?}",
            r.out
        );
    }
}
