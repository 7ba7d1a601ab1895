//! A read-only view of the file system ([`Fs`]): the only way the planner looks at files,
//! so unit tests can give it a fake one.

use crate::sys;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the planner may know about one path (from `stat`, following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits and file type bits (`st_mode`).
    pub mode: u32,
    pub is_dir: bool,
    pub is_file: bool,
}

/// A read-only view of the file system: the only way the planner looks at files.
pub trait Fs {
    /// `stat` (following symlinks); `None` when the path does not exist or cannot be seen.
    fn meta(&self, path: &Path) -> Option<Meta>;
    /// Whether `path` is on a read-only mount (`statvfs`; asked only when the mode bits
    /// would allow a write).
    fn readonly_mount(&self, path: &Path) -> bool;
    /// `lstat`: whether the path exists at all (a dangling symlink too).
    fn exists_nofollow(&self, path: &Path) -> bool;
    /// The absolute path with every symlink resolved.
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf>;
    /// The whole file (secrets, profiles).
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// The entries of a directory: (name, is a directory), without following symlinks.
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(std::ffi::OsString, bool)>>;
    /// The target of `path` when it is a symlink (`readlink`); None otherwise.
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
}

/// The real file system. It remembers the paths it found to be no symlink on the way
/// (with their `lstat`, which is their `stat`) for the one planning pass it serves: the
/// planner asks about `/dev/null`, `/dev/zero`, `/dev/shm`... and their parents over and
/// over, and each answer already known is a syscall less.
#[derive(Default)]
pub struct RealFs {
    known: std::cell::RefCell<std::collections::HashMap<PathBuf, Meta>>,
}

fn meta_of(md: &std::fs::Metadata) -> Meta {
    Meta {
        uid: md.uid(),
        gid: md.gid(),
        mode: md.mode(),
        is_dir: md.is_dir(),
        is_file: md.is_file(),
    }
}

impl RealFs {
    /// The canonical form of an absolute path none of whose components is a symlink, `.`
    /// or `..`: the path itself, found by one `lstat` per component not yet known.
    /// `Ok(None)`: a symlink, `.`, `..` or a relative path is on the way (the kernel then
    /// resolves it). An error is the one resolving the path would give (`ENOENT`,
    /// `ENOTDIR`, `EACCES`).
    fn walk(&self, path: &Path) -> std::io::Result<Option<PathBuf>> {
        use std::path::Component;
        if !path.is_absolute() {
            return Ok(None);
        }
        let mut cur = PathBuf::from("/");
        for c in path.components() {
            match c {
                Component::RootDir => {}
                Component::Normal(name) => {
                    cur.push(name);
                    if self.known.borrow().contains_key(&cur) {
                        continue;
                    }
                    let md = std::fs::symlink_metadata(&cur)?;
                    if md.file_type().is_symlink() {
                        return Ok(None);
                    }
                    self.known.borrow_mut().insert(cur.clone(), meta_of(&md));
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The kernel's own name for what `path` opens: one `open(O_PATH)` and one `readlink`
    /// of its `/proc/self/fd` entry, instead of realpath's `readlink` of every component;
    /// realpath where /proc is missing. `O_PATH` opens nothing (no device, no FIFO) and
    /// needs what realpath needs: search permission on each directory.
    fn resolve(path: &Path) -> std::io::Result<PathBuf> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path)?;
        match std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())) {
            Ok(p)
                if p.is_absolute()
                    && !p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") =>
            {
                Ok(p)
            }
            _ => std::fs::canonicalize(path),
        }
    }
}

impl Fs for RealFs {
    fn meta(&self, path: &Path) -> Option<Meta> {
        if let Some(m) = self.known.borrow().get(path) {
            return Some(*m);
        }
        std::fs::metadata(path).ok().map(|md| meta_of(&md))
    }
    fn readonly_mount(&self, path: &Path) -> bool {
        sys::is_readonly_mount(path)
    }
    fn exists_nofollow(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }
    /// Paths without symlinks by `lstat` of each component not yet known; others by the
    /// kernel's resolution ([`RealFs::resolve`]).
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        match self.walk(path)? {
            Some(p) => Ok(p),
            None => Self::resolve(path),
        }
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        if self.known.borrow().contains_key(path) {
            return None; // found to be no symlink on the way
        }
        std::fs::read_link(path).ok()
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(std::ffi::OsString, bool)>> {
        std::fs::read_dir(path)?
            .map(|e| {
                let e = e?;
                Ok((e.file_name(), e.file_type()?.is_dir()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_are_realpath_s() {
        let dir = std::env::temp_dir().join(format!("si-canon-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::os::unix::fs::symlink("a/b", dir.join("l")).unwrap();
        std::os::unix::fs::symlink("../..", dir.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
        let st = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status()
            .unwrap();
        assert!(st.success());
        // one view for all (what it learns on the way is re-used), each list twice
        let fs = RealFs::default();
        for _ in 0..2 {
            for p in [
                dir.clone(),
                dir.join("a/b"),
                dir.join("l"),
                dir.join("l/up/l"),
                dir.join("l/up/a/b/up"),
                dir.join("a/./b/../b"),
                dir.join("fifo"),
                PathBuf::from("/dev/null"),
                PathBuf::from("/proc/self"),
                PathBuf::from("/proc/self/fd"),
                PathBuf::from("."),
            ] {
                assert_eq!(
                    fs.canonicalize(&p).unwrap(),
                    std::fs::canonicalize(&p).unwrap(),
                    "{}",
                    p.display()
                );
                // what it remembered is what stat says
                let md = std::fs::metadata(&p).unwrap();
                let m = fs.meta(&p).unwrap();
                assert_eq!(
                    (m.uid, m.mode, m.is_dir),
                    (md.uid(), md.mode(), md.is_dir())
                );
            }
            for p in [
                dir.join("dangling"),
                dir.join("missing/x"),
                dir.join("fifo/x"),
                dir.join("a/b/missing"),
            ] {
                assert_eq!(
                    fs.canonicalize(&p).unwrap_err().kind(),
                    std::fs::canonicalize(&p).unwrap_err().kind(),
                    "{}",
                    p.display()
                );
            }
        }
        assert!(fs.meta(&dir.join("dangling")).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
