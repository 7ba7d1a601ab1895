//! Model files: sha256 manifests and the pickle scan, with pickles made by Python's own
//! pickle module (tests/make_pickles.py). Nothing the scanner reads is ever executed.

mod common;
use common::*;
use std::path::Path;

fn make(dir: &Path, marker: &Path) {
    let o = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/make_pickles.py"
        ))
        .arg(dir)
        .arg(marker)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn scan_json(paths: &[&Path], extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut a: Vec<String> = vec!["scan".into(), "--log-format".into(), "json".into()];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(paths.iter().map(|p| p.to_str().unwrap().to_string()));
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = output(cmd(&argv));
    let v = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    (o, v)
}

#[test]
fn scan_report_clean_and_malicious() {
    let t = TempDir::new("pickles");
    let marker = t.path().join("PWNED");
    make(t.path(), &marker);
    let (o, v) = scan_json(&[t.path()], &[]);
    assert_code(&o, 65);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 40);
    for f in files {
        let name = Path::new(f["path"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let clean = f["clean"].as_bool().unwrap();
        assert_eq!(clean, name.starts_with("clean"), "{name}: {f}");
        if name.starts_with("evil_os_system") || name.starts_with("evil_posix_system") {
            assert_eq!(f["offending"][0]["global"], "posix.system", "{name}");
        }
        if name.starts_with("evil_builtins_eval") {
            let g = f["offending"][0]["global"].as_str().unwrap();
            assert!(
                g == "builtins.eval" || g == "__builtin__.eval",
                "{name}: {g}"
            );
        }
        if name.starts_with("evil_subprocess") {
            assert!(
                f["offending"][0]["global"]
                    .as_str()
                    .unwrap()
                    .ends_with(".Popen"),
                "{name}"
            );
        }
    }
    let by = |n: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(n))
            .unwrap()
            .clone()
    };
    assert_eq!(
        by("evil_model.pt")["offending"][0]["member"],
        "archive/data.pkl"
    );
    assert_eq!(
        by("evil_second_member.pth")["offending"][0]["member"],
        "archive/extra.pkl"
    );
    assert_eq!(
        by("evil_memo_stack_global.pkl")["offending"][0]["global"],
        "os.system"
    );
    assert!(by("evil_truncated.pkl")["error"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    assert!(by("evil_after_stop.pkl")["offending"][0]["global"]
        .as_str()
        .unwrap()
        .ends_with("system"));
    assert!(by("evil_garbage_after_stop.pkl")["error"]
        .as_str()
        .unwrap()
        .contains("after STOP"));
    assert!(by("evil_header.safetensors")["error"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    assert!(by("evil_offsets.safetensors")["error"].is_string());
    let clean = by("clean_model.pt");
    assert_eq!(clean["kind"], "torch-zip");
    assert!(clean["globals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "torch._utils._rebuild_tensor_v2"));
    assert!(!marker.exists(), "a payload ran");
    // --allow-global extends the list
    let (o, _) = scan_json(
        &[&t.path().join("evil_posix_system_p2.pkl")],
        &["--allow-global", "posix.system"],
    );
    assert_code(&o, 0);
    // text report
    let o = output(cmd(&[
        "scan",
        "--log-format",
        "text",
        t.path().join("clean_model.pt").to_str().unwrap(),
    ]));
    assert_code(&o, 0);
    assert!(stdout(&o).starts_with("clean "));
}

#[test]
fn scan_models_refuses_the_start() {
    let t = TempDir::new("pickles2");
    let marker = t.path().join("PWNED");
    make(t.path(), &marker);
    let o = output(cmd(&[
        "--scan-models",
        t.path().join("evil_model.pt").to_str().unwrap(),
        "--",
        "echo",
        "STARTED",
    ]));
    assert_code(&o, 65);
    let m = fatal_msg(&o);
    assert!(
        m.contains("evil_model.pt") && m.contains("archive/data.pkl") && m.contains("posix.system"),
        "{m}"
    );
    assert!(!stdout(&o).contains("STARTED"));
    let o = output(cmd(&[
        "--scan-models",
        t.path().join("clean_model.pt").to_str().unwrap(),
        "--scan-models",
        t.path().join("clean.safetensors").to_str().unwrap(),
        "--",
        "echo",
        "STARTED",
    ]));
    assert_code(&o, 0);
    let ev = events(&o, "model.scan");
    assert_eq!(ev[0]["files"], 2);
    assert_eq!(ev[0]["refused"], 0);
    assert!(ev[0]["bytes_read"].as_u64().unwrap() > 0);
    assert!(!marker.exists());
}

fn sha256(p: &Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn manifests_verify_every_file() {
    let t = TempDir::root_only("manifest");
    let d = t.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("a.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(d.join("sub/b.pt"), b"weights").unwrap();
    let good = format!(
        "{}  a.bin\n{} *sub/b.pt\n",
        sha256(&d.join("a.bin")),
        sha256(&d.join("sub/b.pt"))
    );
    std::fs::write(d.join("SHA256SUMS"), &good).unwrap();
    let m = d.join("SHA256SUMS");
    let run = || {
        output(cmd(&[
            "--verify-manifest",
            m.to_str().unwrap(),
            "--",
            "echo",
            "STARTED",
        ]))
    };
    let o = run();
    assert_code(&o, 0);
    assert_eq!(events(&o, "model.verify")[0]["files"], 2);
    // one changed byte: both hashes named
    let mut bytes = std::fs::read(d.join("a.bin")).unwrap();
    bytes[50_000] ^= 1;
    std::fs::write(d.join("a.bin"), &bytes).unwrap();
    let o = run();
    assert_code(&o, 65);
    let msg = fatal_msg(&o);
    assert!(
        msg.contains("a.bin")
            && msg.contains(&good[..64])
            && msg.contains(&sha256(&d.join("a.bin"))),
        "{msg}"
    );
    assert!(!stdout(&o).contains("STARTED"));
    bytes[50_000] ^= 1;
    std::fs::write(d.join("a.bin"), &bytes).unwrap();
    assert_code(&run(), 0);
    // missing file
    std::fs::rename(d.join("sub/b.pt"), d.join("sub/b.moved")).unwrap();
    let o = run();
    assert_code(&o, 65);
    assert!(fatal_msg(&o).contains("b.pt"));
    // a symlink in place of the file
    std::os::unix::fs::symlink(d.join("sub/b.moved"), d.join("sub/b.pt")).unwrap();
    let o = run();
    assert_code(&o, 65);
    assert!(fatal_msg(&o).contains("symlink"));
    // malformed lines
    for bad in [
        "not a hash  a.bin\n",
        "0123  a.bin\n",
        &format!("{} a.bin\n", &good[..64]),
        "\n\n",
    ] {
        std::fs::write(&m, bad).unwrap();
        let o = run();
        assert_code(&o, 65);
        assert!(fatal_msg(&o).contains("SHA256SUMS"), "{bad:?}");
    }
}

/// Every regular file under a scanned directory is sniffed by content (not by extension);
/// symlinks are followed inside the tree (a Hugging Face cache: snapshots/ -> blobs/) and
/// refused when they leave it; a directory with nothing to check is not "clean".
#[test]
fn directories_are_sniffed_by_content_and_links_followed_inside() {
    let t = TempDir::new("sniff");
    let marker = t.path().join("PWNED");
    let gen = t.path().join("gen");
    make(&gen, &marker);
    let evil_zip = std::fs::read(gen.join("evil_model.pt")).unwrap();
    let clean_zip = std::fs::read(gen.join("clean_model.pt")).unwrap();
    let d = t.path().join("models");
    let blobs = d.join("hub/blobs");
    let snap = d.join("hub/snapshots/abc");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(d.join("model_best.pth.tar"), &evil_zip).unwrap(); // a zip, named .tar
    std::fs::write(d.join("weights"), b"cos\nsystem\n(S'touch PWNED'\ntR.").unwrap(); // protocol 0, no extension
    std::fs::write(blobs.join("0123abcd"), &evil_zip).unwrap();
    std::os::unix::fs::symlink("../../blobs/0123abcd", snap.join("pytorch_model.bin")).unwrap();
    std::fs::write(blobs.join("4567ef"), &clean_zip).unwrap();
    std::os::unix::fs::symlink("../../blobs/4567ef", snap.join("other.bin")).unwrap();
    // what a snapshot also holds, none of it a loadable model
    std::fs::write(snap.join("config.json"), b"{\"architectures\": [\"Bert\"]}").unwrap();
    std::fs::write(snap.join("README.md"), b"# model card\n").unwrap();
    std::fs::write(snap.join("tf_model.h5"), b"\x89HDF\r\n\x1a\n\0\0\0\0").unwrap();
    std::fs::write(snap.join("vocab.txt"), b"[PAD]\n[UNK]\n").unwrap();
    // text starting with `c` (a pickle GLOBAL) whose "module" no import could resolve
    std::fs::write(
        snap.join("accelerate.yaml"),
        b"compute_environment: LOCAL_MACHINE\ndebug: false\n",
    )
    .unwrap();
    let (o, v) = scan_json(&[&d], &[]);
    assert_code(&o, 65);
    let by_name = |n: &str| -> serde_json::Value {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("{n} not in {v}"))
            .clone()
    };
    for evil in ["model_best.pth.tar", "weights", "blobs/0123abcd"] {
        assert_eq!(by_name(evil)["clean"], false, "{evil}: {v}");
    }
    assert_eq!(by_name("blobs/4567ef")["clean"], true, "{v}");
    for other in [
        "config.json",
        "README.md",
        "tf_model.h5",
        "vocab.txt",
        "accelerate.yaml",
    ] {
        assert!(by_name(other)["skipped"].is_string(), "{other}: {v}");
    }
    assert_eq!(v["refused"], 3, "{v}");
    assert_eq!(v["clean"], 1, "{v}");
    // each blob once, though two paths lead to it
    let n = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().contains("0123abcd"))
        .count();
    assert_eq!(n, 1);
    // a link leaving the tree is refused, named
    let out = t.path().join("outside.bin");
    std::fs::write(&out, &clean_zip).unwrap();
    std::os::unix::fs::symlink(&out, snap.join("escape.bin")).unwrap();
    let o = output(cmd(&["scan", d.to_str().unwrap()]));
    assert_code(&o, 65);
    assert!(
        stderr(&o).contains("escape.bin") && stderr(&o).contains("leaving"),
        "{}",
        stderr(&o)
    );
    // nothing to check is not clean
    let e = t.path().join("empty-ish");
    std::fs::create_dir(&e).unwrap();
    std::fs::write(e.join("config.json"), b"{}").unwrap();
    let o = output(cmd(&["scan", e.to_str().unwrap()]));
    assert_code(&o, 65);
    assert!(stderr(&o).contains("nothing was checked"), "{}", stderr(&o));
    // a tar with a legacy checkpoint's members is refused (torch.load unpickles them)
    let tar = t.path().join("legacy.tar");
    let st = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w')\nfor n in ['sys_info', 'pickle', 'storages', 'tensors']:\n    d = b'\\x80\\x02N.'\n    i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))\nt.close()"])
        .arg(&tar)
        .status()
        .unwrap();
    assert!(st.success());
    let o = output(cmd(&["scan", tar.to_str().unwrap()]));
    assert_code(&o, 65);
    assert!(
        stdout(&o).contains("tar") || stderr(&o).contains("tar"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!marker.exists());
}
