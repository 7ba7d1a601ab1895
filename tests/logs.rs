//! What secure-init writes about itself: JSON events one per line, secrets redacted, fatal
//! errors also in the termination log.

mod common;
use common::*;

#[test]
fn json_logs_one_event_per_line() {
    let o = output(cmd(&["--", "true"]));
    assert_code(&o, 0);
    let err = stderr(&o);
    assert!(!err.is_empty());
    for l in err.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        for k in ["ts", "level", "msg", "event"] {
            assert!(v.get(k).is_some(), "{k} missing in {l}");
        }
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }
    let o = output({
        let mut c = cmd(&["--log-format", "text", "--", "true"]);
        c.env_remove("SECURE_INIT_LOG_FORMAT");
        c
    });
    assert!(stderr(&o).lines().all(|l| l.starts_with("secure-init ")));
}

#[test]
fn secrets_are_redacted_in_logs() {
    let mut c = cmd(&["--log-level", "debug", "--", "true"]);
    c.env("MY_PASSWORD", "hunter2-secret")
        .env("HF_TOKEN", "hf_abcdef")
        .env("AWS_SECRET_ACCESS_KEY", "awskey123")
        .env("PLAIN_VAR", "visible-value");
    let o = output(c);
    assert_code(&o, 0);
    let e = stderr(&o);
    assert!(e.contains("visible-value"), "debug env dump present");
    for s in ["hunter2-secret", "hf_abcdef", "awskey123"] {
        assert!(!e.contains(s), "{s} leaked: {e}");
    }
    assert!(e.contains("<redacted>"));
}

#[test]
fn fatal_errors_reach_the_termination_log() {
    let dir = TempDir::new("term");
    let t = dir.path().join("termination-log");
    std::fs::write(&t, "").unwrap();
    let o = output(cmd(&[
        "--termination-log",
        t.to_str().unwrap(),
        "--user",
        "no-such-user-abc",
        "--",
        "true",
    ]));
    assert_code(&o, 78);
    let line = std::fs::read_to_string(&t).unwrap();
    assert_eq!(line.lines().count(), 1);
    assert!(line.contains("no-such-user-abc"), "{line}");
    // never created when absent
    let missing = dir.path().join("absent");
    let o = output(cmd(&[
        "--termination-log",
        missing.to_str().unwrap(),
        "--user",
        "nobody-xyz",
        "--",
        "true",
    ]));
    assert_code(&o, 78);
    assert!(!missing.exists());
}
