//! A container restarted in its pod keeps `/run/secure-init` (an emptyDir survives a crash,
//! an OOM kill, a failed liveness probe): the next start must work with exactly the
//! documented capabilities (SETUID, SETGID, SETPCAP, KILL, CHOWN — no DAC_OVERRIDE, no
//! FOWNER) over what the workload left there, and hand nothing of it on.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// A stand-in `jupyter` (detected by name, as the real one): for `jupyter server` it lists
/// its runtime directory, then leaves there what a real server and its kernels leave — a
/// cookie secret, a private `kernels/` directory, a file nobody may read.
const FAKE_JUPYTER: &str = r#"#!/bin/sh
echo "RUNTIME=$JUPYTER_RUNTIME_DIR"
echo "LEFT=$(ls -A "$JUPYTER_RUNTIME_DIR" | tr '\n' ' ')"
printf 'secret-of-the-earlier-start' > "$JUPYTER_RUNTIME_DIR/jupyter_cookie_secret"
mkdir -p "$JUPYTER_RUNTIME_DIR/kernels/deep"
touch "$JUPYTER_RUNTIME_DIR/kernels/deep/kernel-1.json"
chmod 000 "$JUPYTER_RUNTIME_DIR/kernels/deep/kernel-1.json"
chmod 700 "$JUPYTER_RUNTIME_DIR/kernels/deep" "$JUPYTER_RUNTIME_DIR/kernels"
chmod 500 "$JUPYTER_RUNTIME_DIR/kernels"
"#;

/// `setpriv` with the bounding set the README documents for a minimal container.
const DOCUMENTED_CAPS: &str = "-all,+setuid,+setgid,+setpcap,+kill,+chown";

#[test]
fn jupyter_restarts_over_its_old_runtime_dir_with_the_documented_capabilities() {
    require_root();
    let t = TempDir::new("restart");
    // a root-owned prefix, as an image's (Jupyter's config path checks refuse anything else)
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin_dir = t.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let jupyter = bin_dir.join("jupyter");
    std::fs::write(&jupyter, FAKE_JUPYTER).unwrap();
    std::fs::set_permissions(&jupyter, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = t.path().join("notebooks");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    // the persistent /run/secure-init (root-owned, as an emptyDir is to root)
    let run = t.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let start = || {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set", DOCUMENTED_CAPS, "--inh-caps=-all"])
            .arg(bin())
            .args(["--gpu", "off", "--audit", "off", "--jupyter-root-dir"])
            .arg(&root)
            .arg("--jupyter-config-dir")
            .arg(run.join("jupyter"))
            .arg("--state-file")
            .arg(run.join("state.json"))
            .arg("--")
            .arg(&jupyter)
            .arg("server")
            .current_dir(&root)
            .env("JUPYTER_PASSWORD", "a restart password 123")
            .env("SECURE_INIT_LOG_FORMAT", "json");
        output(c)
    };
    let first = start();
    assert_code(&first, 0);
    assert!(
        stdout(&first).contains("LEFT= \n") || stdout(&first).contains("LEFT=\n"),
        "{}",
        stdout(&first)
    );
    for i in 0..2 {
        let o = start();
        assert_code(&o, 0);
        let out = stdout(&o);
        // nothing of the earlier start is handed on: no cookie secret, no kernels
        assert!(
            out.contains("LEFT=\n") || out.contains("LEFT= \n"),
            "restart {i}: {out}"
        );
    }
    // the control: the same restart with the old removal (remove_dir_all as root without
    // CAP_DAC_OVERRIDE) fails on the 0500 directory; shown here with the same tree
    let rt = run.join("jupyter").parent().unwrap().join("probe-tree");
    let _ = std::fs::remove_dir_all(&rt);
    std::fs::create_dir_all(rt.join("kernels")).unwrap();
    std::fs::write(rt.join("kernels/x"), "").unwrap();
    std::os::unix::fs::chown(&rt, Some(1001), Some(1001)).unwrap();
    std::os::unix::fs::chown(rt.join("kernels"), Some(1001), Some(1001)).unwrap();
    std::fs::set_permissions(rt.join("kernels"), std::fs::Permissions::from_mode(0o500)).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = Command::new("setpriv")
        .args([
            "--bounding-set",
            DOCUMENTED_CAPS,
            "--inh-caps=-all",
            "rm",
            "-rf",
        ])
        .arg(&rt)
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "rm -rf without CAP_DAC_OVERRIDE should fail: the test would not show the fix"
    );
    let _ = std::fs::remove_dir_all(&rt);
}
