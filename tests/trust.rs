//! Files the next start reads (or writes) as root, from places the workload could change:
//! every path an option names is trusted or refused (78) before anything runs. Written as
//! the attack — uid 1001 with code execution prepares the next start — with the control
//! that the same file in a root-owned place is used.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A world-writable directory (as a workload's HOME or a shared scratch is), and a
/// root-owned one (as /etc/secure-init is), side by side.
struct Places {
    _t: TempDir,
    open: PathBuf,
    root: PathBuf,
}

fn places() -> Places {
    let t = TempDir::new("trust");
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let open = t.path().join("home");
    std::fs::create_dir(&open).unwrap();
    std::os::unix::fs::chown(&open, Some(1001), Some(1001)).unwrap();
    let root = t.path().join("etc");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    Places { open, root, _t: t }
}

/// A file of `owner`, mode 0644, with `text`.
fn put(p: &Path, text: &str, owner: u32) {
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(p, Some(owner), Some(owner)).unwrap();
}

fn refused(args: &[&str], flag: &str) {
    let mut a = vec!["--gpu", "off", "--audit", "off"];
    a.extend_from_slice(args);
    a.extend(["--", "echo", "STARTED"]);
    let o = output(cmd(&a));
    assert_code(&o, 78);
    let m = fatal_msg(&o);
    assert!(
        m.starts_with(flag) && m.contains("the workload (uid 1001) may"),
        "{m}"
    );
    assert!(!stdout(&o).contains("STARTED"));
}

fn runs(args: &[&str]) -> std::process::Output {
    let mut a = vec!["--gpu", "off", "--audit", "off"];
    a.extend_from_slice(args);
    a.extend(["--", "echo", "STARTED"]);
    let o = output(cmd(&a));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("STARTED"));
    o
}

const ALLOW_ALL: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#;

#[test]
fn a_seccomp_profile_the_workload_could_replace_is_refused() {
    let p = places();
    // the workload's own file (the --seccomp-learn output it was given, say)
    let mine = p.open.join("profile.json");
    put(&mine, ALLOW_ALL, 1001);
    refused(&["--seccomp", mine.to_str().unwrap()], "--seccomp");
    // root's file in the workload's directory: it can rename it away and put its own
    let rootfile = p.open.join("root-profile.json");
    put(&rootfile, ALLOW_ALL, 0);
    refused(&["--seccomp", rootfile.to_str().unwrap()], "--seccomp");
    // a root-owned symlink whose target lies in the workload's directory
    let link = p.root.join("profile.json");
    std::os::unix::fs::symlink(&rootfile, &link).unwrap();
    refused(&["--seccomp", link.to_str().unwrap()], "--seccomp");
    // the workload's directory on the way to a root-owned place
    let sub = p.open.join("dir");
    std::os::unix::fs::symlink(&p.root, &sub).unwrap();
    let trusted = p.root.join("real.json");
    put(&trusted, ALLOW_ALL, 0);
    refused(
        &["--seccomp", sub.join("real.json").to_str().unwrap()],
        "--seccomp",
    );
    // the control: the same profile in the root-owned place is used
    let o = runs(&["--seccomp", trusted.to_str().unwrap()]);
    assert_eq!(
        events(&o, "seccomp.install")[0]["profile"],
        trusted.to_str().unwrap()
    );
}

#[test]
fn secrets_hashes_manifests_and_libraries_the_workload_could_replace_are_refused() {
    let p = places();
    let hash = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdHNhbHRzYWx0$0123456789abcdefghijklmnopqrstuvwxyzABCDE";
    let h = p.open.join("hash");
    put(&h, hash, 0);
    std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o400)).unwrap();
    refused(
        &["--jupyter-hashed-password-file", h.to_str().unwrap()],
        "--jupyter-hashed-password-file",
    );
    let pw = p.open.join("pw");
    put(&pw, "a long password 123", 0);
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o400)).unwrap();
    refused(
        &["--jupyter-password-file", pw.to_str().unwrap()],
        "--jupyter-password-file",
    );
    let m = p.open.join("models.sha256");
    put(&m, "", 0);
    refused(
        &["--verify-manifest", m.to_str().unwrap()],
        "--verify-manifest",
    );
    // the NVML library is loaded by root (the gpu-info helper)
    let lib = p.open.join("libnvidia-ml.so.1");
    std::fs::copy(fake_nvml(), &lib).unwrap();
    refused(&["--nvml-library", lib.to_str().unwrap()], "--nvml-library");
}

#[test]
fn the_learn_output_is_not_written_through_the_workloads_directories() {
    let p = places();
    // ~/learn made a symlink into a root-only directory: root would create the file there
    let secret_dir = p.root.join("root-only");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::set_permissions(&secret_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let learn = p.open.join("learn");
    std::os::unix::fs::symlink(&secret_dir, &learn).unwrap();
    refused(
        &[
            "--seccomp-learn",
            learn.join("profile.json").to_str().unwrap(),
        ],
        "--seccomp-learn",
    );
    assert!(!secret_dir.join("profile.json").exists());
    // straight into the workload's directory: refused too (the next start could not use
    // the file anyway: --seccomp refuses it)
    refused(
        &["--seccomp-learn", p.open.join("out.json").to_str().unwrap()],
        "--seccomp-learn",
    );
    // the control: a root-owned directory
    let out = p.root.join("learned.json");
    let o = runs(&["--seccomp-learn", out.to_str().unwrap()]);
    assert!(out.exists(), "{}", stderr(&o));
}

#[test]
fn started_as_the_workloads_own_uid_it_is_said_not_refused() {
    // verify-only mode (Kubernetes runAsUser): nothing is crossed — a warning
    let p = places();
    let mine = p.open.join("profile.json");
    put(
        &mine,
        std::str::from_utf8(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/profiles/docker-default.json"
            ))
            .unwrap(),
        )
        .unwrap(),
        1001,
    );
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid", "1001", "--regid", "1001", "--clear-groups"])
        .arg(bin())
        .args([
            "--gpu",
            "off",
            "--audit",
            "off",
            "--landlock",
            "off",
            "--seccomp",
        ])
        .arg(&mine)
        .args(["--", "echo", "STARTED"])
        .current_dir("/")
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("STARTED"));
    let w = events(&o, "config.untrusted");
    assert_eq!(w.len(), 1, "{}", stderr(&o));
}
