//! The command line from outside: usage errors (64, one line), variables that configure like
//! flags, misspelled variables, options or secure-init itself given as the command, a
//! command without `--` (as dumb-init takes it).

mod common;
use common::*;

#[test]
fn a_misspelled_variable_is_a_usage_error_naming_the_right_one() {
    // SECURE_INIT_GPU_MODE=require meant "fail without a GPU": never ignored silently
    let mut c = cmd(&["--", "echo", "STARTED"]);
    c.env("SECURE_INIT_GPU_MODE", "require");
    let o = output(c);
    assert_code(&o, 64);
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("SECURE_INIT_GPU_MODE") && e.contains("SECURE_INIT_GPU?"),
        "{e}"
    );
    assert!(!stdout(&o).contains("STARTED"));
}

#[test]
fn options_or_secure_init_itself_as_the_command_are_usage_errors() {
    // what `docker run IMG --dry-run` and `docker run IMG secure-init --dry-run -- cmd` give
    // with ENTRYPOINT ["secure-init", "--"]
    for args in [
        vec!["--", "--dry-run"],
        vec!["--", "--user=1001", "true"],
        vec!["--", "secure-init", "--dry-run", "--", "true"],
        vec!["--", bin().to_str().unwrap(), "--", "true"],
    ] {
        let o = output(cmd(&args));
        assert_code(&o, 64);
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(
            e.contains("SECURE_INIT_DRY_RUN=1") && e.contains("--entrypoint"),
            "{e}"
        );
    }
    // the binary under another name: a hard link beside it is the same file
    let link = bin().with_file_name(format!("init-link-{}", std::process::id()));
    std::fs::hard_link(bin(), &link).unwrap();
    let o = output(cmd(&["--", link.to_str().unwrap(), "--", "true"]));
    let _ = std::fs::remove_file(&link);
    assert_code(&o, 64);
    assert!(stderr(&o).contains("secure-init itself"), "{}", stderr(&o));
    // a program's own long option after its name is fine
    let o = output(cmd(&["--", "sh", "-c", "exit 0", "--dry-run"]));
    assert_code(&o, 0);
}

#[test]
fn usage_errors_are_64_and_one_line() {
    for args in [
        vec!["--no-such-flag", "--", "true"],
        vec![],
        vec!["--log-format", "xml", "--", "true"],
        vec!["--exec=maybe", "--", "true"],
    ] {
        let o = output(cmd(&args));
        assert_code(&o, 64);
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(!e.contains("panicked"));
    }
    let o = output(cmd(&["--help"]));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("SECURE_INIT_SECCOMP"));
    let o = output(cmd(&["--version"]));
    assert_code(&o, 0);
}

#[test]
fn env_vars_configure_like_flags() {
    let mut c = cmd(&["--", "true"]);
    c.env("SECURE_INIT_LOG_FORMAT", "xml");
    let o = output(c);
    assert_code(&o, 64);
    assert!(stderr(&o).contains("xml"));
    let mut c = cmd(&["--", "true"]);
    c.env("SECURE_INIT_DRY_RUN", "true");
    let o = output(c);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["user"]["uid"], 1001);
}

#[test]
fn command_without_double_dash_like_dumb_init() {
    let o = output(cmd(&[
        "--log-level",
        "error",
        "sh",
        "-c",
        "echo \"$@\"; exit 3",
        "x",
        "--user",
        "--exec",
    ]));
    assert_code(&o, 3);
    assert_eq!(
        stdout(&o).trim(),
        "--user --exec",
        "options after the command belong to it"
    );
    // boolean options take no value, so they never swallow the command
    let o = output(cmd(&["--kill-process-group", "true"]));
    assert_code(&o, 0);
}
