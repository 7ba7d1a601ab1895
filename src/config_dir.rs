//! A configuration directory the workload cannot change (Jupyter's, sshd's): created by
//! secure-init as root, refused when it or its parent is someone else's or writable by
//! others, filled through temporary names and rename (never following a symlink), then
//! sealed read-only. Started non-root, the same steps give a private directory the
//! workload (the same uid) could still rewrite: callers warn about that.

use crate::error::{Error, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A directory being written; `what` names it in errors (`jupyter config`, `sshd`), `fix`
/// says which option moves it.
pub struct ConfigDir<'a> {
    pub dir: &'a Path,
    pub what: &'a str,
    pub fix: &'a str,
    /// Started as root: the parent must be root's and not writable by others.
    pub protected: bool,
}

impl ConfigDir<'_> {
    pub fn io_err(&self, action: &str, p: &Path, e: std::io::Error) -> Error {
        Error::hardening(format!(
            "{}: cannot {action} {}: {e}; {}",
            self.what,
            p.display(),
            self.fix
        ))
    }

    /// Create the directory (0700 while it is filled) or check the existing one: a plain
    /// directory of ours, not group/world-writable, below a parent the workload cannot
    /// write (unless sticky).
    pub fn open(&self) -> Result<()> {
        let dir = self.dir;
        let me = crate::sys::getuid();
        match std::fs::symlink_metadata(dir) {
            Ok(md) => {
                if md.file_type().is_symlink() || !md.is_dir() {
                    return Err(Error::hardening(format!(
                        "{}: {} is not a plain directory (a symlink?); remove it",
                        self.what,
                        dir.display()
                    )));
                }
                if md.uid() != me || md.mode() & 0o022 != 0 {
                    return Err(Error::hardening(format!(
                        "{}: {} is owned by uid {} with mode {:04o}; it must be owned by uid {me} and not group/world-writable: remove it",
                        self.what,
                        dir.display(),
                        md.uid(),
                        md.mode() & 0o7777
                    )));
                }
            }
            Err(_) => {
                if let Some(parent) = dir.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| self.io_err("create", parent, e))?;
                }
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| self.io_err("create", dir, e))?;
            }
        }
        // A parent the workload could write would let it swap the directory out after start.
        if let Some(parent) = dir.parent() {
            let md = std::fs::metadata(parent).map_err(|e| self.io_err("inspect", parent, e))?;
            let sticky = md.mode() & 0o1000 != 0;
            if self.protected && !sticky && (md.uid() != 0 || md.mode() & 0o022 != 0) {
                return Err(Error::hardening(format!(
                    "{}: the parent {} of {} is writable by others (mode {:04o}, uid {}); {}",
                    self.what,
                    parent.display(),
                    dir.display(),
                    md.mode() & 0o7777,
                    md.uid(),
                    self.fix
                )));
            }
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| self.io_err("chmod", dir, e))
    }

    /// Write `name` with `data`, then `mode` and (as root) `owner` — in that order, so no
    /// capability beyond CAP_CHOWN is needed — via a temporary name and
    /// rename (a reader sees the old file or the new one, never a part). Not fsynced: every
    /// file here is written anew at each start, so there is nothing to keep across a power
    /// loss, and in a container `/run` is often the overlay on a real disk, where a sync
    /// costs a journal commit (0.5–1.5 ms here) on every start.
    pub fn write(
        &self,
        name: &str,
        data: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        use std::io::Write;
        let fin = self.dir.join(name);
        if self.unchanged(&fin, data, mode, owner) {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
                .map_err(|e| self.io_err("create", &tmp, e))?;
            f.write_all(data)
                .map_err(|e| self.io_err("write", &tmp, e))?;
            // the mode first, while root owns the file: once it is handed to another uid,
            // changing it would need CAP_FOWNER, which the documented capability set
            // (SETUID, SETGID, SETPCAP, KILL, CHOWN) leaves out
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| self.io_err("chmod", &tmp, e))?;
            if let Some((u, g)) = owner {
                std::os::unix::fs::fchown(&f, Some(u), Some(g)).map_err(|e| {
                    if e.raw_os_error() == Some(libc::EPERM) {
                        Error::hardening(format!(
                            "{}: cannot hand {} to uid {u}/gid {g}: the container lacks CAP_CHOWN (cap_drop: ALL?); add CHOWN to the container's capabilities (cap_add: [SETUID, SETGID, SETPCAP, KILL, CHOWN])",
                            self.what,
                            fin.display()
                        ))
                    } else {
                        self.io_err("chown", &tmp, e)
                    }
                })?;
            }
        }
        std::fs::rename(&tmp, &fin).map_err(|e| self.io_err("rename", &fin, e))
    }

    /// Whether `path` already is exactly what [`ConfigDir::write`] would make: a plain file (no
    /// symlink, one link) of the right owner and mode, with these bytes. Then it is left as
    /// it is: on ext4, renaming over an existing file forces the new file's data out to the
    /// disk at once (`auto_da_alloc`), a block write on every start — while a container's
    /// restart usually writes the same state (the same pids, the same command).
    fn unchanged(&self, path: &Path, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> bool {
        use std::io::Read;
        let (uid, gid) = owner.unwrap_or((crate::sys::getuid(), crate::sys::getgid()));
        let Ok(mut f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
        else {
            return false;
        };
        let Ok(md) = f.metadata() else { return false };
        if !md.is_file()
            || md.nlink() != 1
            || md.uid() != uid
            || md.gid() != gid
            || md.mode() & 0o7777 != mode
            || md.len() != data.len() as u64
        {
            return false;
        }
        let mut old = Vec::with_capacity(data.len());
        f.read_to_end(&mut old).is_ok() && old == data
    }

    /// Set the directory's final mode.
    pub fn seal(&self, mode: u32) -> Result<()> {
        std::fs::set_permissions(self.dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| self.io_err("chmod", self.dir, e))
    }
}
