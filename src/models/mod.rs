//! Model files, checked before the workload can load them: sha256 manifests and a scan of
//! every pickle for imports a tensor checkpoint never needs.

mod allowlist;
mod collect;
mod manifest;
pub mod pickle;
mod sniff;
pub mod zip;

pub use allowlist::ALLOWED_GLOBALS;
use allowlist::{allowed, is_python_path};
pub use collect::{collect, Target};
pub use manifest::{open_regular, parse_manifest, parse_manifest_text, sha256_file, verify, Entry};
use sniff::{is_legacy, is_tar, looks_safetensors};

use crate::error::{Error, Result};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a file cannot be checked (a malformed archive or pickle, an I/O error): it is then
/// refused, never called clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Unreadable {
    fn from(e: std::io::Error) -> Self {
        Unreadable(e.to_string())
    }
}

impl From<String> for Unreadable {
    fn from(s: String) -> Self {
        Unreadable(s)
    }
}

impl From<&str> for Unreadable {
    fn from(s: &str) -> Self {
        Unreadable(s.to_string())
    }
}

pub const EXTENSIONS: &[&str] = &["pt", "pth", "bin", "ckpt", "pkl", "pickle", "safetensors"];

/// Pickle members and raw pickles larger than this are refused (a tensor checkpoint's
/// pickle is kilobytes to a few megabytes; the tensor data lives elsewhere).
const PICKLE_LIMIT: u64 = 512 << 20;

#[derive(Debug, Clone, Serialize)]
pub struct Offence {
    pub member: String,
    pub global: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// pickle, torch-zip, torch-legacy, safetensors
    pub kind: String,
    pub clean: bool,
    pub globals: Vec<String>,
    pub offending: Vec<Offence>,
    pub error: Option<String>,
    pub bytes_read: u64,
    pub size: u64,
    /// Found in a directory and no format torch.load reads code from (a config, a
    /// tokenizer, an ONNX or HDF5 file): not a model file, not scanned further.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The pickles read: zip members, or `(pickle)` for a raw or legacy file.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub files: Vec<FileReport>,
    pub clean: usize,
    pub refused: usize,
    /// Files in scanned directories that are no model format.
    pub skipped: usize,
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub millis: u64,
}

fn check_safetensors(
    f: &mut std::fs::File,
    size: u64,
    rep: &mut FileReport,
) -> std::result::Result<(), Unreadable> {
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|_| "truncated safetensors header length".to_string())?;
    rep.bytes_read += 8;
    let hlen = u64::from_le_bytes(n);
    if hlen > 100 << 20 || hlen > size.saturating_sub(8) {
        return Err(format!("safetensors header length {hlen} is out of range").into());
    }
    let mut h = vec![0u8; hlen as usize];
    f.read_exact(&mut h)
        .map_err(|_| "truncated safetensors header".to_string())?;
    rep.bytes_read += hlen;
    let v: serde_json::Value =
        serde_json::from_slice(&h).map_err(|e| format!("safetensors header is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("safetensors header is not a JSON object")?;
    let data_len = size - 8 - hlen;
    for (k, t) in obj {
        if k == "__metadata__" {
            continue;
        }
        let offs = t["data_offsets"]
            .as_array()
            .ok_or(format!("tensor {k}: no data_offsets"))?;
        let (a, b) = (
            offs.first().and_then(|x| x.as_u64()),
            offs.get(1).and_then(|x| x.as_u64()),
        );
        match (a, b, t["dtype"].as_str(), t["shape"].as_array()) {
            (Some(a), Some(b), Some(_), Some(_)) if a <= b && b <= data_len => {}
            _ => {
                return Err(
                    format!("tensor {k}: malformed entry or data offsets outside the file").into(),
                )
            }
        }
    }
    Ok(())
}

/// Why bytes found in a directory are no pickle a loader could run anything from: they stop
/// being a pickle where Python's unpickler stops too (a truncation counts only when `whole`:
/// the bytes end where the file ends), before anything was called and before any global a
/// loader would refuse.
fn not_a_pickle(
    found: &pickle::Found,
    err: Option<pickle::PickleError>,
    whole: bool,
    extra: &[String],
) -> Option<String> {
    let e = err.filter(|e| e.is_certain() && (whole || !e.0.starts_with("truncated")))?;
    (!found.called && found.globals.iter().all(|g| allowed(g, extra)))
        .then(|| format!("not a pickle ({e})"))
}

/// The globals a loader reading the file as pickles would import before it fails: up to the
/// five consecutive pickles of the legacy format, each read until its bytes stop being a
/// pickle. A pickle still going at the read limit is refused.
fn pickle_prefix_globals(
    f: &mut std::fs::File,
    head: &[u8],
    size: u64,
    rep: &mut FileReport,
) -> std::result::Result<Vec<String>, Unreadable> {
    // (globals, whether the bytes ran out while still a pickle)
    let prefix = |buf: &[u8]| {
        let mut globals = Vec::new();
        let mut at = 0;
        for _ in 0..5 {
            let (found, err) = pickle::scan_partial(&buf[at..]);
            globals.extend(found.globals);
            match err {
                None => at += found.len,
                Some(e) => return (globals, e.0.starts_with("truncated")),
            }
        }
        (globals, false)
    };
    let (globals, short) = prefix(head);
    if !short || head.len() as u64 >= size {
        return Ok(globals);
    }
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    f.take(PICKLE_LIMIT).read_to_end(&mut buf)?;
    rep.bytes_read = rep.bytes_read.max(buf.len() as u64);
    let (globals, short) = prefix(&buf);
    if short && (buf.len() as u64) < size {
        return Err(format!(
            "the file's first {} bytes are still one unfinished pickle: refused as a possible polyglot",
            buf.len()
        )
        .into());
    }
    Ok(globals)
}

/// Scan a buffer holding one or more consecutive pickles (all are checked).
fn scan_pickles(
    buf: &[u8],
    member: &str,
    extra: &[String],
    rep: &mut FileReport,
    legacy: bool,
) -> std::result::Result<(), Unreadable> {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        let found = pickle::scan(&buf[at..]).map_err(|e| {
            if n == 0 {
                format!("{member}: {e}")
            } else {
                format!("{member}: data after STOP (pickle #{}) {e}", n + 1)
            }
        })?;
        for g in found.globals {
            if !rep.globals.contains(&g) {
                rep.globals.push(g.clone());
            }
            if !allowed(&g, extra)
                && !rep
                    .offending
                    .iter()
                    .any(|o| o.global == g && o.member == member)
            {
                rep.offending.push(Offence {
                    member: member.to_string(),
                    global: g,
                });
            }
        }
        at += found.len;
        n += 1;
        // Legacy torch files: magic, protocol, sys_info, the object, storage keys; raw
        // storage bytes follow.
        if legacy && n == 5 {
            break;
        }
    }
    Ok(())
}

/// Scan one named file.
pub fn scan_file(path: &Path, extra: &[String]) -> FileReport {
    scan_target(
        &Target {
            path: path.to_path_buf(),
            sniffed: false,
        },
        extra,
    )
}

/// Scan one file by its content, in torch.load's order: zip, tar, then pickle (safetensors
/// beside it).
pub fn scan_target(t: &Target, extra: &[String]) -> FileReport {
    let path = t.path.as_path();
    let mut rep = FileReport {
        path: path.display().to_string(),
        kind: "unknown".into(),
        clean: false,
        globals: vec![],
        offending: vec![],
        error: None,
        bytes_read: 0,
        size: 0,
        skipped: None,
        members: vec![],
    };
    let r = (|| -> std::result::Result<(), Unreadable> {
        let mut f = open_regular(path)?;
        let size = f.metadata()?.len();
        rep.size = size;
        let ext = path
            .extension()
            .and_then(|x| x.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut head = vec![0u8; 4096];
        let got = {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            n
        };
        head.truncate(got);
        rep.bytes_read = got as u64;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(0))?;
        let magic: &[u8] = head.get(..4).unwrap_or(&[]);
        if magic != b"PK\x03\x04" && is_tar(&head) {
            // any tar, wherever it is found: torch.load takes it for a legacy tar checkpoint
            // and unpickles the members it finds by name anywhere in it
            rep.kind = "tar".into();
            return Err("a tar archive: torch.load reads a tar as a legacy checkpoint and unpickles its members, which this scan does not open; re-save it with torch.save (zip) or as safetensors, or keep it out of the scanned paths".into());
        }
        if magic != b"PK\x03\x04" && looks_safetensors(&head, size) {
            rep.kind = "safetensors".into();
            // torch.load (by any name but `*.safetensors` in recent torch, 2.15 here) reads these same
            // bytes as pickles: refuse a polyglot
            let globals = pickle_prefix_globals(&mut f, &head, size, &mut rep)?;
            if let Some(g) = globals.iter().find(|g| !allowed(g, extra)) {
                return Err(format!("a safetensors file whose bytes are also a pickle importing {g}: refused as a polyglot").into());
            }
            f.seek(std::io::SeekFrom::Start(0))?;
            return check_safetensors(&mut f, size, &mut rep);
        }
        if t.sniffed && magic != b"PK\x03\x04" {
            // found in a directory: a model file only if a loader would take it as one
            match head.first() {
                Some(b) if pickle::is_opcode(*b) => {}
                _ => {
                    rep.kind = "other".into();
                    rep.skipped = Some("not a model format (no zip, pickle or safetensors)".into());
                    return Ok(());
                }
            }
            let (found, err) = pickle::scan_partial(&head);
            // text that happens to start with `c` (GLOBAL): the first import, read from its
            // line exactly as the loader reads it, names no module a loader could import, so
            // loading fails there, before anything runs
            if let Some(g) = found
                .globals
                .first()
                .filter(|g| found.first_from_line && !is_python_path(g))
            {
                rep.kind = "other".into();
                rep.skipped = Some(format!(
                    "not a pickle (its first import {g:?} names no module)"
                ));
                return Ok(());
            }
            // loading fails within the head, before anything could run
            if let Some(why) = not_a_pickle(&found, err, head.len() as u64 == size, extra) {
                rep.kind = "other".into();
                rep.skipped = Some(why);
                return Ok(());
            }
        }
        if ext == "safetensors"
            && magic != b"PK\x03\x04"
            && !head.first().is_some_and(|b| pickle::is_opcode(*b))
        {
            rep.kind = "safetensors".into();
            return check_safetensors(&mut f, size, &mut rep);
        }
        if magic == b"PK\x03\x04" {
            rep.kind = "torch-zip".into();
            let mut c = zip::Counting { inner: f, read: 0 };
            let members = zip::members(&mut c, size)?;
            let pkls: Vec<&zip::Member> = members
                .iter()
                .filter(|m| m.name.ends_with(".pkl"))
                .collect();
            if pkls.is_empty() {
                rep.bytes_read = c.read;
                return Err("zip archive with no .pkl member: not a PyTorch checkpoint".into());
            }
            for m in pkls {
                rep.members.push(m.name.clone());
                let buf = zip::read_member(&mut c, m, size, PICKLE_LIMIT)?;
                scan_pickles(&buf, &m.name, extra, &mut rep, false)?;
            }
            rep.bytes_read = c.read;
            return Ok(());
        }
        if size > PICKLE_LIMIT {
            // A large non-zip file: only the legacy torch format keeps its pickles first.
            if !is_legacy(&head) {
                return Err(format!("{size}-byte file is neither a zip checkpoint nor a pickle under the {PICKLE_LIMIT}-byte limit").into());
            }
            f.seek(std::io::SeekFrom::Start(0))?;
        }
        let mut buf = Vec::new();
        f.take(PICKLE_LIMIT).read_to_end(&mut buf)?;
        rep.bytes_read = buf.len() as u64;
        let legacy = is_legacy(&buf);
        if t.sniffed && !legacy {
            // found in a directory and longer than the head: the same test on all of it
            let (found, err) = pickle::scan_partial(&buf);
            if let Some(why) = not_a_pickle(&found, err, buf.len() as u64 == size, extra) {
                rep.kind = "other".into();
                rep.skipped = Some(why);
                return Ok(());
            }
        }
        rep.kind = if legacy { "torch-legacy" } else { "pickle" }.into();
        rep.members.push("(pickle)".into());
        scan_pickles(&buf, "(pickle)", extra, &mut rep, legacy)
    })();
    match r {
        Ok(()) => rep.clean = rep.offending.is_empty(),
        Err(e) => rep.error = Some(e.0),
    }
    rep
}

/// Scan every model file under `paths`.
pub fn scan(paths: &[PathBuf], extra: &[String]) -> Result<ScanReport> {
    let t = Instant::now();
    let targets = collect(paths)?;
    let files: Vec<FileReport> = targets.iter().map(|t| scan_target(t, extra)).collect();
    let skipped = files.iter().filter(|f| f.skipped.is_some()).count();
    let clean = files
        .iter()
        .filter(|f| f.clean && f.skipped.is_none())
        .count();
    if clean + skipped == files.len() && clean == 0 {
        return Err(Error::data(format!(
            "--scan-models: no model file among the {} file(s) found ({} skipped as no model format); nothing was checked, so nothing is called clean: point at the model files",
            files.len(),
            skipped
        )));
    }
    Ok(ScanReport {
        clean,
        skipped,
        refused: files.len() - clean - skipped,
        bytes_read: files.iter().map(|f| f.bytes_read).sum(),
        bytes_total: files.iter().map(|f| f.size).sum(),
        millis: t.elapsed().as_millis() as u64,
        files,
    })
}

/// One line per refused file, for errors and the text report.
pub fn refusal_line(f: &FileReport) -> String {
    if let Some(e) = &f.error {
        format!("{}: cannot be checked: {e}", f.path)
    } else {
        let o: Vec<String> = f
            .offending
            .iter()
            .map(|o| format!("{} (in {})", o.global, o.member))
            .collect();
        format!("{}: imports {}", f.path, o.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutated and truncated pickles and zips are refusals or clean results, never panics.
    #[test]
    fn mutations_never_panic() {
        let dir = std::env::temp_dir().join(format!("si-mut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // a protocol-2 state-dict-like pickle and a stored zip around it
        let pkl: Vec<u8> =
            b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02K\x07s."
                .to_vec();
        assert!(pickle::scan(&pkl).is_ok());
        let mut zip = Vec::new();
        {
            // local header + data + central directory + EOCD for one stored member
            let name = b"archive/data.pkl";
            let crc = 0u32;
            zip.extend(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            zip.extend(crc.to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((name.len() as u16).to_le_bytes());
            zip.extend(0u16.to_le_bytes());
            zip.extend(name);
            zip.extend(&pkl);
            let cd = zip.len() as u32;
            zip.extend(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            zip.extend(crc.to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((pkl.len() as u32).to_le_bytes());
            zip.extend((name.len() as u16).to_le_bytes());
            zip.extend([0u8; 12]);
            zip.extend(0u32.to_le_bytes());
            zip.extend(name);
            let cd_len = zip.len() as u32 - cd;
            zip.extend(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
            zip.extend(cd_len.to_le_bytes());
            zip.extend(cd.to_le_bytes());
            zip.extend(0u16.to_le_bytes());
        }
        let f = dir.join("m.pt");
        std::fs::write(&f, &zip).unwrap();
        assert!(scan_file(&f, &[]).clean, "{:?}", scan_file(&f, &[]));
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let base = if round % 2 == 0 { &pkl } else { &zip };
            let mut m = base.clone();
            for _ in 0..1 + rnd() % 4 {
                let i = (rnd() as usize) % m.len();
                m[i] = rnd() as u8;
            }
            if rnd() % 4 == 0 {
                let cut = (rnd() as usize) % m.len();
                m.truncate(cut);
            }
            let _ = pickle::scan(&m);
            std::fs::write(&f, &m).unwrap();
            let _ = scan_file(&f, &[]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_dotted_name_under_an_allowed_module_is_refused() {
        // protocol 4: STACK_GLOBAL("numpy.dtypes", "__loader__.set_data") resolves an
        // attribute path from an allowed-looking module to an arbitrary callable
        let mut p = b"\x80\x04".to_vec();
        for s in ["numpy.dtypes", "__loader__.set_data"] {
            p.push(0x8c); // SHORT_BINUNICODE
            p.push(s.len() as u8);
            p.extend(s.as_bytes());
        }
        p.extend(b"\x93)R."); // STACK_GLOBAL, EMPTY_TUPLE, REDUCE, STOP
        let dir = std::env::temp_dir().join(format!("si-dotted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.pkl");
        std::fs::write(&f, &p).unwrap();
        let r = scan_file(&f, &[]);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!r.clean, "{r:?}");
        assert_eq!(
            r.offending[0].global, "numpy.dtypes.__loader__.set_data",
            "{r:?}"
        );
    }

    #[test]
    fn scanned_files_are_opened_without_following_symlinks() {
        let dir = std::env::temp_dir().join(format!("si-nofollow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real.pkl");
        std::fs::write(&real, b"\x80\x02}q\x00.").unwrap();
        let link = dir.join("link.pkl");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(scan_file(&real, &[]).clean);
        let r = scan_file(&link, &[]);
        assert!(
            !r.clean && r.error.as_deref().unwrap_or("").contains("symlink"),
            "{r:?}"
        );
        assert!(sha256_file(&link).is_err());
        assert!(
            open_regular(&dir).is_err(),
            "a directory is not a model file"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_manifest_with_a_character_across_the_hash_end_is_malformed_not_a_panic() {
        // the input the fuzzer found
        let line =
            "012345678f0179348526a?cden23913578abcdef0123456345678\u{0}9abJc mod\u{5d0}l.pt\n";
        let text = format!("{}{line}", "0".repeat(10));
        let _ = parse_manifest_text(&text, Path::new("/m/manifest"));
        let t = format!("{}\u{e9}  model.pt\n", "a".repeat(63));
        assert!(parse_manifest_text(&t, Path::new("/m/manifest")).is_err());
    }

    #[test]
    fn what_the_weights_only_loader_accepts_is_accepted() {
        for g in [
            "__builtin__.complex",
            "__builtin__.bytearray",
            "__builtin__.set",
            "__builtin__.xrange",
            "torch.float8_e8m0fnu",
            "torch.float4_e2m1fn_x2",
            "torch.uint3",
            "torch.int7",
            "torch.bits16",
            "torch.FloatTensor",
            "torch.cuda.HalfTensor",
            "torch.sparse.LongTensor",
            "torch.cuda.sparse.FloatTensor",
            "torch.cuda.BFloat16Storage",
        ] {
            assert!(allowed(g, &[]), "{g}");
        }
        for g in [
            "__builtin__.eval",
            "__builtin__.getattr",
            "torch.cuda.FloatTensor.__init__",
            "torch.sparse.FloatStorage",
            "torch.cuda.os",
            "torch.FloatTensorx",
        ] {
            assert!(!allowed(g, &[]), "{g}");
        }
        // the legacy magic number, pickled with every protocol
        let magic: [&[u8]; 4] = [
            b"L119547037146038801333356L\n.",
            b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
            b"\x80\x03\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
            b"\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
        ];
        for m in magic {
            assert!(is_legacy(m), "{m:?}");
        }
        assert!(!is_legacy(b"\x80\x02}q\x00."));
    }

    #[test]
    fn allowlist() {
        assert!(allowed("torch._utils._rebuild_tensor_v2", &[]));
        assert!(allowed("collections.OrderedDict", &[]));
        assert!(allowed("numpy.dtypes.Float32DType", &[]));
        assert!(!allowed("os.system", &[]));
        assert!(!allowed("builtins.eval", &[]));
        assert!(!allowed("builtins.getattr", &[]));
        assert!(!allowed("argparse.Namespace", &[]));
        // exact names only: an allowed prefix reaches anything through attribute paths
        for bypass in [
            "numpy.dtypes.__builtins__.eval",
            "numpy.dtypes.__loader__.set_data",
            "numpy.dtypes.Float32DType.__init__.__globals__",
            "torch._utils._rebuild_tensor_v2.__globals__",
            "collections.OrderedDict.__class__",
        ] {
            assert!(!allowed(bypass, &[]), "{bypass}");
        }
        assert!(allowed(
            "argparse.Namespace",
            &["argparse.Namespace".into()]
        ));
    }
}
