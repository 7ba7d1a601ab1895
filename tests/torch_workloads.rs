//! Real PyTorch (the CPU wheel the suite installs) under the default hardening: DDP through
//! `mp.spawn` with a fixed `MASTER_PORT` and a checkpoint written to a mounted volume,
//! `torchrun` with and without `--standalone` and with a c10d endpoint, DataLoader workers
//! (fork, spawn, forkserver), `torch.compile` (inductor, C++ built by g++), tensors shared
//! between processes, and the profiler — under both built-in profiles, as a subreaper and as
//! PID 1. Each run is in a private mount namespace with a tmpfs volume mounted read-write,
//! as `docker run -v` or a Kubernetes emptyDir would.

mod common;
use common::*;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A mount point for the volume, removed afterwards.
struct Volume(PathBuf);
impl Volume {
    fn new(tag: &str) -> Volume {
        let p = PathBuf::from(format!("/mnt/secure-init-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Volume(p)
    }
}
impl Drop for Volume {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// `secure-init FLAGS -- ARGV` with the volume mounted at `vol` (and as PID 1 if asked).
fn run(
    vol: &Volume,
    flags: &[&str],
    pid1: bool,
    argv: &[OsString],
    env: &[(&str, String)],
) -> Output {
    require_root();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private"]);
    if pid1 {
        c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    }
    c.args([
        "sh",
        "-c",
        r#"mount -t tmpfs -o mode=1777 ckpt "$CKPT_DIR" && exec "$@""#,
        "sh",
    ])
    .arg(bin())
    .args(["--gpu", "off", "--audit", "off"])
    .args(flags)
    .arg("--")
    .args(argv)
    .current_dir("/")
    .env("SECURE_INIT_LOG_FORMAT", "json")
    .env("CKPT_DIR", &vol.0)
    .env("OMP_NUM_THREADS", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    output(c)
}

fn script() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("secure-init-torch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = dir.join("torch_workloads.py");
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch_workloads.py"),
            &p,
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        p
    })
    .clone()
}

fn python(scenario: &str) -> Vec<OsString> {
    vec![torch_python().into(), script().into(), scenario.into()]
}

fn torchrun(opts: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![torch_python().parent().unwrap().join("torchrun").into()];
    v.extend(opts.iter().map(OsString::from));
    v.extend([script().into(), "torchrun_worker".into()]);
    v
}

fn assert_ok(o: &Output, scenario: &str) {
    assert_code(o, 0);
    assert!(
        stdout(o).contains(&format!("{scenario}-OK")),
        "{}\n{}",
        stdout(o),
        stderr(o)
    );
}

#[test]
fn ddp_with_its_port_set_inside_the_script_under_the_defaults() {
    // what the stop hook's smoke and the PyTorch tutorial do: no option, no variable names
    // the port, so listening is not restricted by default
    let vol = Volume::new("ckpt-inscript");
    let o = run(
        &vol,
        &[],
        false,
        &python("ddp_inscript"),
        &[("INSCRIPT_PORT", "29545".into())],
    );
    assert_ok(&o, "ddp_inscript");
    let o = run(
        &vol,
        &["--seccomp", "docker-default"],
        true,
        &python("ddp_inscript"),
        &[("INSCRIPT_PORT", "29546".into())],
    );
    assert_ok(&o, "ddp_inscript");
}

#[test]
fn ddp_with_a_fixed_master_port_checkpoints_to_a_mounted_volume() {
    // listening restricted (--net-bind): the job's MASTER_PORT is added to what is named
    let vol = Volume::new("ckpt-ddp");
    let o = run(
        &vol,
        &["--net-bind", "6006"],
        false,
        &python("ddp_spawn"),
        &[("MASTER_PORT", "29541".into())],
    );
    assert_ok(&o, "ddp_spawn");
    let ll = &events(&o, "landlock.install")[0];
    assert_eq!(
        ll["bind_why"],
        serde_json::json!([
            "6006 (--net-bind)",
            "29541 (the job's rendezvous: MASTER_PORT)"
        ])
    );
    assert!(
        ll["volumes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(vol.0)),
        "the volume is listed: {ll}"
    );
}

#[test]
fn ddp_as_pid1_under_docker_default() {
    let vol = Volume::new("ckpt-ddp1");
    let o = run(
        &vol,
        &["--seccomp", "docker-default"],
        true,
        &python("ddp_spawn"),
        &[("MASTER_PORT", "29542".into())],
    );
    assert_ok(&o, "ddp_spawn");
}

#[test]
fn a_volume_left_read_only_is_named_with_the_option_that_opens_it() {
    // the control: with --writable-mounts off the same volume is refused, and the start says
    // which volume and how to open it
    let vol = Volume::new("ckpt-off");
    let argv: Vec<OsString> = ["sh", "-c", "echo x > \"$CKPT_DIR/x\" && echo WROTE"]
        .iter()
        .map(OsString::from)
        .collect();
    let o = run(&vol, &["--writable-mounts", "off"], false, &argv, &[]);
    assert!(!stdout(&o).contains("WROTE"), "{}", stderr(&o));
    let v = events(&o, "landlock.volume");
    assert!(
        v.iter().any(|e| e["path"] == vol.0.to_str().unwrap()
            && e["msg"]
                .as_str()
                .unwrap()
                .contains(&format!("--writable {}", vol.0.display()))),
        "{}",
        stderr(&o)
    );
    let o = run(&vol, &[], false, &argv, &[]);
    assert!(stdout(&o).contains("WROTE"), "{}", stderr(&o));
}

#[test]
fn torchrun_with_its_default_master_port_and_standalone() {
    let vol = Volume::new("ckpt-trun");
    // no --standalone: the agent's store on torchrun's --master-port
    let o = run(
        &vol,
        &[],
        false,
        &torchrun(&[
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29543",
        ]),
        &[],
    );
    assert_ok(&o, "torchrun_worker");
    let o = run(
        &vol,
        &["--seccomp", "docker-default"],
        true,
        &torchrun(&["--standalone", "--nproc-per-node", "2"]),
        &[],
    );
    assert_ok(&o, "torchrun_worker");
}

#[test]
fn torchrun_with_a_c10d_endpoint_as_pid1() {
    let vol = Volume::new("ckpt-c10d");
    let o = run(
        &vol,
        &[],
        true,
        &torchrun(&[
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            "127.0.0.1:29544",
        ]),
        &[],
    );
    assert_ok(&o, "torchrun_worker");
}

#[test]
fn dataloader_workers_fork_spawn_and_forkserver() {
    let vol = Volume::new("ckpt-dl");
    let o = run(&vol, &[], true, &python("dataloader"), &[]);
    assert_ok(&o, "dataloader");
    let o = run(
        &vol,
        &["--seccomp", "docker-default"],
        false,
        &python("dataloader"),
        &[],
    );
    assert_ok(&o, "dataloader");
}

#[test]
fn torch_compile_builds_and_runs_its_kernels() {
    let vol = Volume::new("ckpt-compile");
    let o = run(&vol, &[], false, &python("compile"), &[]);
    assert_ok(&o, "compile");
}

#[test]
fn tensors_shared_between_processes_and_the_profiler() {
    let vol = Volume::new("ckpt-share");
    let o = run(&vol, &[], true, &python("share"), &[]);
    assert_ok(&o, "share");
    let o = run(
        &vol,
        &["--seccomp", "docker-default"],
        false,
        &python("profiler"),
        &[],
    );
    assert_ok(&o, "profiler");
}
