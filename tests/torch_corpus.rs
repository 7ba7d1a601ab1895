//! The model scan judged by real PyTorch: a corpus made with `torch.save` and known bypass
//! classes (tests/torch_corpus.py), ground truth from `torch.load` itself, run as the
//! hardened workload (uid 1001, no capabilities, the pytorch seccomp profile): a file whose
//! loading with `weights_only=False` ran its payload (created its marker) must be refused,
//! by name and in a directory scan; a file `torch.load(weights_only=True)` accepts must be
//! called clean, both ways. scripts/test.sh installs the pinned CPU-usable torch wheel in
//! its own venv; without it this test fails (it is never skipped).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch_corpus.py")
}

#[derive(Debug)]
struct Truth {
    ran: bool,
    weights_only: bool,
}

fn scan(paths: &[&Path]) -> serde_json::Value {
    let mut a = vec!["scan".to_string(), "--log-format".into(), "json".into()];
    a.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = output(cmd(&argv));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

#[test]
fn the_scan_agrees_with_real_torch_load() {
    let py = torch_python();
    let t = TempDir::new("torch-corpus");
    let corpus = t.path().join("corpus");
    let markers = t.path().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&markers, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = std::process::Command::new(&py)
        .args([script(), "make"])
        .arg(&corpus)
        .arg(&markers)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let st = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(t.path())
        .status()
        .unwrap();
    assert!(st.success());
    // the ground truth, loaded by the hardened workload
    let o = output({
        let mut c = cmd(&[
            "--audit",
            "off",
            "--log-level",
            "error",
            "--",
            py.to_str().unwrap(),
            script(),
            "truth",
            corpus.to_str().unwrap(),
            markers.to_str().unwrap(),
        ]);
        c.env_remove("SECURE_INIT_LOG_FORMAT");
        c
    });
    assert_code(&o, 0);
    let raw: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let truth: BTreeMap<String, Truth> = raw
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Truth {
                    ran: v["ran"].as_bool().unwrap(),
                    weights_only: v["weights_only"].as_bool().unwrap(),
                },
            )
        })
        .collect();
    let ran = truth.values().filter(|t| t.ran).count();
    let accepted = truth.values().filter(|t| t.weights_only).count();
    // the corpus is what it says: most payloads run under torch.load, and most real
    // checkpoints load with weights_only=True (a torch that changed would show here)
    assert!(ran >= 60, "only {ran} payloads ran: {truth:?}");
    assert!(accepted >= 40, "only {accepted} files load: {truth:?}");
    for (name, t) in &truth {
        assert!(!(t.ran && t.weights_only), "{name}: {t:?}");
        let ok = name.starts_with("ok_");
        assert!(!(ok && t.ran), "{name}: a benign file ran a payload: {t:?}");
    }

    // by name
    let mut missed = vec![];
    let mut refused = vec![];
    for (name, t) in &truth {
        let v = scan(&[&corpus.join(name)]);
        let f = &v["files"][0];
        let clean = f["clean"].as_bool().unwrap();
        if t.ran && clean {
            missed.push(name.clone());
        }
        if t.weights_only && !clean {
            refused.push(format!("{name}: {} {}", f["error"], f["offending"]));
        }
        if t.ran && !clean {
            assert!(
                f["error"].is_string() || !f["offending"].as_array().unwrap().is_empty(),
                "{name}: a refusal names its reason: {f}"
            );
        }
    }
    // in one directory scan (sniffed by content, nothing skipped that torch.load would run)
    let v = scan(&[&corpus]);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), truth.len());
    for f in files {
        let name = Path::new(f["path"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let t = &truth[name];
        let clean = f["clean"].as_bool().unwrap() && f["skipped"].is_null();
        if t.ran && (clean || !f["skipped"].is_null()) {
            missed.push(format!("{name} (directory: {})", f["skipped"]));
        }
        if t.weights_only && !clean {
            refused.push(format!("{name} (directory)"));
        }
    }
    assert!(
        missed.is_empty(),
        "payloads that torch.load runs, called clean: {missed:?}"
    );
    assert!(
        refused.is_empty(),
        "checkpoints torch.load(weights_only=True) accepts, refused: {refused:?}"
    );
    let marker_count = std::fs::read_dir(&markers).unwrap().count();
    assert_eq!(marker_count, ran, "markers are the payloads' only effect");
}
