//! sha256sum-format manifests: parsed, and every listed file verified — a regular file,
//! opened once without following a symlink, hashed in parallel.

use super::*;

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub shown: String,
    pub want: String,
}

/// Parse a sha256sum-format manifest (`<64 hex>  <path>` or `<64 hex> *<path>`).
pub fn parse_manifest(manifest: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(manifest).map_err(|e| {
        Error::data(format!(
            "--verify-manifest {}: cannot read: {e}",
            manifest.display()
        ))
    })?;
    parse_manifest_text(&text, manifest)
}

/// Parse the text of the manifest at `manifest` (paths are relative to its directory).
pub fn parse_manifest_text(text: &str, manifest: &Path) -> Result<Vec<Entry>> {
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || {
            Error::data(format!(
                "--verify-manifest {}:{}: malformed line {line:?}; expected `<64 hex digits>  <path>` as written by sha256sum",
                manifest.display(),
                i + 1
            ))
        };
        if line.is_empty() {
            continue;
        }
        if line.len() < 67 || !line.is_char_boundary(64) {
            // (a multi-byte character across byte 64 is no hex digit either; found by
            // fuzzing: split_at would panic there)
            return Err(bad());
        }
        let (hash, rest) = line.split_at(64);
        if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let name = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        let p = Path::new(name);
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        out.push(Entry {
            path,
            shown: name.to_string(),
            want: hash.to_ascii_lowercase(),
        });
    }
    if out.is_empty() {
        return Err(Error::data(format!(
            "--verify-manifest {}: lists no files",
            manifest.display()
        )));
    }
    Ok(out)
}

/// Open a model file once, without following a symlink, and check through the descriptor
/// that it is a regular file: what is hashed or scanned is what was checked, whatever
/// happens to the path meanwhile.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other("a symlink (not followed: give the file itself)")
            } else {
                e
            }
        })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(f)
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    let mut f = open_regular(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    let d = h.finalize();
    Ok((d.iter().map(|b| format!("{b:02x}")).collect(), total))
}

/// One file's hash result, by entry index.
type Hashed = (usize, std::io::Result<(String, u64)>);

/// Verify every manifest: regular files only, hashed in parallel (threads are joined
/// before this returns, so the caller is single-threaded again).
pub fn verify(manifests: &[PathBuf]) -> Result<(usize, u64)> {
    let t = Instant::now();
    let mut entries = Vec::new();
    for m in manifests {
        entries.extend(parse_manifest(m)?);
    }
    for e in &entries {
        let md = std::fs::symlink_metadata(&e.path).map_err(|err| {
            Error::data(format!(
                "model file {} (listed as {}): {err}; the manifest and the files disagree",
                e.path.display(),
                e.shown
            ))
        })?;
        if !md.file_type().is_file() {
            return Err(Error::data(format!(
                "model file {}: not a regular file ({}); manifests must list the files themselves",
                e.path.display(),
                if md.file_type().is_symlink() {
                    "a symlink"
                } else {
                    "not a file"
                }
            )));
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(entries.len())
        .max(1);
    let results: Vec<Vec<Hashed>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= entries.len() {
                            break;
                        }
                        mine.push((i, sha256_file(&entries[i].path)));
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut flat: Vec<(usize, std::io::Result<(String, u64)>)> =
        results.into_iter().flatten().collect();
    if flat.len() != entries.len() {
        return Err(Error::internal("a hashing thread failed"));
    }
    flat.sort_by_key(|(i, _)| *i);
    let mut bytes = 0;
    for (i, r) in flat {
        let e = &entries[i];
        let (got, n) = r.map_err(|err| {
            Error::data(format!(
                "model file {}: cannot read: {err}",
                e.path.display()
            ))
        })?;
        if got != e.want {
            return Err(Error::data(format!(
                "model file {} does not match its manifest: expected sha256 {}, found {got}; the file was changed or corrupted: restore it or update the manifest from a trusted source",
                e.path.display(),
                e.want
            )));
        }
        bytes += n;
    }
    log::info!(target: "model.verify", files = entries.len(), bytes = bytes, millis = t.elapsed().as_millis() as u64, threads = threads;
        "{} model file(s) match their manifests", entries.len());
    Ok((entries.len(), bytes))
}
