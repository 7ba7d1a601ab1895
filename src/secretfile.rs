//! Secret files (a password, authorized keys, a host key): read through the facts' file
//! view, one trailing newline stripped, and whether the workload could read them.

use crate::error::{Error, Result};
use crate::fsview::Fs;
use std::path::Path;
use zeroize::Zeroizing;

/// A secret's text: UTF-8, with one trailing newline (`\n` or `\r\n`) stripped.
pub fn secret_text(raw: &[u8], source: &str) -> Result<Zeroizing<String>> {
    let mut pw: &[u8] = raw;
    if let Some(p) = pw.strip_suffix(b"\n") {
        pw = p.strip_suffix(b"\r").unwrap_or(p);
    }
    let text = std::str::from_utf8(pw)
        .map_err(|_| Error::config(format!("{source}: not valid UTF-8; store it as UTF-8 text")))?;
    Ok(Zeroizing::new(text.to_string()))
}

/// Read a secret file through the facts' file view, once its path is trusted
/// ([`crate::trusted`]: nothing on the way the workload could write or replace; refused
/// when started as root).
pub fn read_secret(
    fs: &dyn Fs,
    path: &Path,
    what: &str,
    w: &crate::searchpath::Workload,
    root: bool,
    cwd: &Path,
) -> Result<Zeroizing<String>> {
    let resolved = crate::trusted::check(fs, path, cwd, what, w, root, true)?;
    let raw = Zeroizing::new(fs.read(&resolved).map_err(|e| {
        Error::config(format!(
            "{what} {}: cannot read: {e}; check the secret mount and its permissions",
            path.display()
        ))
    })?);
    secret_text(&raw, &format!("{what} {}", path.display()))
}

/// Whether `uid`/`groups` could read `path`: read permission on the file and search
/// permission on every directory above it (mode bits; ACLs are not consulted). Returns the
/// file's mode when readable.
pub fn readable_by(fs: &dyn Fs, path: &Path, uid: u32, gid: u32, groups: &[u32]) -> Option<u32> {
    use crate::identity::access_bits;
    let abs = fs.canonicalize(path).ok()?;
    let md = fs.meta(&abs)?;
    if access_bits(&md, uid, gid, groups) & 4 == 0 {
        return None;
    }
    for dir in abs.ancestors().skip(1) {
        let d = fs.meta(dir)?;
        if access_bits(&d, uid, gid, groups) & 1 == 0 {
            return None;
        }
    }
    Some(md.mode & 0o777)
}
