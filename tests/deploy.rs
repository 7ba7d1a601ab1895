//! The README's end-to-end demo: examples/train.py under secure-init as PID 1, uid 1001,
//! default (pytorch) seccomp profile; SIGTERM saves a checkpoint and the status is forwarded.

mod common;
use common::*;
use std::io::BufRead;
use std::process::Stdio;

fn staged() -> (TempDir, String, String) {
    let t = TempDir::new("train");
    let script = t.path().join("train.py");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/train.py"),
        &script,
    )
    .unwrap();
    let ckpt = t.path().join("ckpt");
    (
        t,
        script.to_str().unwrap().to_string(),
        ckpt.to_str().unwrap().to_string(),
    )
}

#[test]
fn train_py_runs_to_completion() {
    let (_t, script, ckpt) = staged();
    let o = output(cmd_pid1(&[
        "--",
        "python3",
        &script,
        "--steps",
        "100",
        "--checkpoint",
        &ckpt,
    ]));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("done, loss"), "{}", stdout(&o));
    let saved = std::fs::read_to_string(format!("{ckpt}.json")).unwrap();
    assert!(saved.contains("\"step\": 100"), "{saved}");
    let ev = events(&o, "priv.drop");
    assert_eq!(ev[0]["uid"], 1001);
    assert_eq!(events(&o, "seccomp.install")[0]["profile"], "pytorch");
}

#[test]
fn train_py_checkpoints_on_sigterm_and_exits_143() {
    let (_t, script, ckpt) = staged();
    let mut child = cmd_pid1(&[
        "--",
        "python3",
        &script,
        "--steps",
        "1000000",
        "--step-seconds",
        "0.01",
        "--checkpoint",
        &ckpt,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("train.py:"), "{first}");
    let init = first_child(child.id()).expect("secure-init pid");
    std::thread::sleep(std::time::Duration::from_millis(200));
    kill(init, libc::SIGTERM);
    let st = wait_timeout(&mut child, 30);
    assert_eq!(st.code(), Some(143), "128 + SIGTERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("signal 15") && l.contains("checkpoint saved")),
        "{rest:?}"
    );
    let saved = std::fs::read_to_string(format!("{ckpt}.json")).unwrap();
    assert!(saved.contains("\"step\""));
}
