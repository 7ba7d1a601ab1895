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
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::canonicalize(path)
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
