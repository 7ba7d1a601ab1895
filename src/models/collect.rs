//! Which files a scan covers: files as named; directories walked whole, every regular file
//! sniffed by content; symlinks followed only inside the scanned tree.

use super::*;

/// A file to scan: named (`sniffed` false: it must be a model file) or found in a
/// directory (every regular file, sniffed by content: one in no model format is skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub sniffed: bool,
}

/// Files to scan under the given paths: files as given; directories walked whole, every
/// regular file sniffed by content (extensions say nothing: `model_best.pth.tar`, a Hugging
/// Face blob); symlinks followed when they resolve inside the scanned tree (each target
/// once: a snapshot's links into `blobs/`), refused when they leave it.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let md = std::fs::symlink_metadata(p).map_err(|e| {
            Error::config(format!(
                "--scan-models {}: {e}; check the path",
                p.display()
            ))
        })?;
        if md.is_dir() {
            let root = std::fs::canonicalize(p)
                .map_err(|e| Error::config(format!("--scan-models {}: {e}", p.display())))?;
            let before = out.len();
            walk(&root, &root, &mut out, &mut seen)?;
            if out.len() == before {
                return Err(Error::data(format!(
                    "--scan-models {}: the directory holds no file to check; point at the model files",
                    p.display()
                )));
            }
        } else if md.is_file() {
            if seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())) {
                out.push(Target {
                    path: p.clone(),
                    sniffed: false,
                });
            }
        } else {
            return Err(Error::data(format!(
                "--scan-models {}: not a regular file or directory (a symlink?); point at the file itself",
                p.display()
            )));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

pub(super) fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<Target>,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    if !seen.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::config(format!("--scan-models {}: {e}", dir.display())))?;
    for e in rd {
        let e = e.map_err(|e| Error::config(format!("--scan-models {}: {e}", dir.display())))?;
        let mut p = e.path();
        let mut ft = e.file_type().map_err(|err| {
            Error::config(format!(
                "--scan-models {}: {err}; check the path",
                p.display()
            ))
        })?;
        if ft.is_symlink() {
            let t = std::fs::canonicalize(&p).map_err(|err| {
                Error::data(format!(
                    "--scan-models: {} is a symlink that does not resolve ({err}); remove it",
                    p.display()
                ))
            })?;
            if !t.starts_with(root) {
                return Err(Error::data(format!(
                    "--scan-models: {} is a symlink leaving the scanned tree (to {}); scan the target itself, or remove the link",
                    p.display(),
                    t.display()
                )));
            }
            ft = std::fs::symlink_metadata(&t)
                .map_err(|err| Error::data(format!("--scan-models {}: {err}", t.display())))?
                .file_type();
            p = t;
        }
        if ft.is_dir() {
            walk(root, &p, out, seen)?;
        } else if ft.is_file() && seen.insert(p.clone()) {
            out.push(Target {
                path: p,
                sniffed: true,
            });
        }
    }
    Ok(())
}
