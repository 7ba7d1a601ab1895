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
}

/// The real file system.
pub struct RealFs;

impl Fs for RealFs {
    fn meta(&self, path: &Path) -> Option<Meta> {
        let md = std::fs::metadata(path).ok()?;
        Some(Meta {
            uid: md.uid(),
            gid: md.gid(),
            mode: md.mode(),
            is_dir: md.is_dir(),
            is_file: md.is_file(),
        })
    }
    fn readonly_mount(&self, path: &Path) -> bool {
        sys::is_readonly_mount(path)
    }
    fn exists_nofollow(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }
    /// One `open(O_PATH)` and one `readlink` of its `/proc/self/fd` entry (the kernel's
    /// own name for what was opened), instead of realpath's `readlink` of every component;
    /// realpath where /proc is missing. `O_PATH` opens nothing (no device, no FIFO) and
    /// needs what realpath needs: search permission on each directory.
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
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
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
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
        for p in [
            dir.clone(),
            dir.join("l"),
            dir.join("l/up/l"),
            dir.join("a/./b/../b"),
            dir.join("fifo"),
            PathBuf::from("/dev/null"),
            PathBuf::from("/proc/self"),
            PathBuf::from("."),
        ] {
            assert_eq!(
                RealFs.canonicalize(&p).unwrap(),
                std::fs::canonicalize(&p).unwrap(),
                "{}",
                p.display()
            );
        }
        for p in [
            dir.join("dangling"),
            dir.join("missing/x"),
            dir.join("fifo/x"),
        ] {
            assert_eq!(
                RealFs.canonicalize(&p).unwrap_err().kind(),
                std::fs::canonicalize(&p).unwrap_err().kind(),
                "{}",
                p.display()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
