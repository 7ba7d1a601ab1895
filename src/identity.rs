//! Users and groups, read from /etc/passwd and /etc/group (no NSS: containers have none,
//! and a PID 1 should not dlopen NSS modules), plus the GPU device groups and `HOME`.
//! Resolution is pure (over entries gathered as facts); only [`fallback_home`] changes
//! anything.

use crate::error::{Error, Result};
use crate::fsview::Meta;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
}

/// The lines of a passwd/group-style file, each split into its first `N` colon-separated
/// fields (borrowed: nothing is copied but what an entry keeps).
fn for_each_line<const N: usize>(path: &Path, mut f: impl FnMut([Option<&str>; N])) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for l in text.lines() {
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        let mut fields = [None; N];
        for (slot, v) in fields.iter_mut().zip(l.splitn(N + 1, ':')) {
            *slot = Some(v);
        }
        f(fields);
    }
}

/// The entries of a passwd file (unreadable: none).
pub fn read_passwd(path: &Path) -> Vec<PasswdEntry> {
    let mut out = Vec::new();
    for_each_line::<6>(path, |f| {
        let e = (|| {
            Some(PasswdEntry {
                name: f[0]?.to_string(),
                uid: f[2]?.parse().ok()?,
                gid: f[3]?.parse().ok()?,
                home: f[5].unwrap_or_default().to_string(),
            })
        })();
        out.extend(e);
    });
    out
}

/// The entries of a group file (unreadable: none).
pub fn read_group(path: &Path) -> Vec<GroupEntry> {
    let mut out = Vec::new();
    for_each_line::<3>(path, |f| {
        let e = (|| {
            Some(GroupEntry {
                name: f[0]?.to_string(),
                gid: f[2]?.parse().ok()?,
            })
        })();
        out.extend(e);
    });
    out
}

/// Parse a numeric id: decimal, 0..=u32::MAX-1 (u32::MAX is the kernel's "no change").
fn parse_id(s: &str) -> Option<std::result::Result<u32, ()>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match s.parse::<u64>() {
        Ok(v) if v < u32::MAX as u64 => Ok(v as u32),
        _ => Err(()),
    })
}

/// The resolved target user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub uid: u32,
    pub gid: u32,
    /// From /etc/passwd, if the uid has an entry.
    pub entry: Option<PasswdEntry>,
}

/// Resolve `USER[:GROUP]`.
pub fn resolve_user(spec: &str, users: &[PasswdEntry], groups: &[GroupEntry]) -> Result<Target> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, entry) = match parse_id(user) {
        Some(Ok(uid)) => (uid, users.iter().find(|e| e.uid == uid).cloned()),
        Some(Err(())) => {
            return Err(Error::config(format!(
                "--user: uid {user:?} is out of range; use a number below 4294967295 or a user name"
            )))
        }
        None if user.is_empty() => {
            return Err(Error::config(format!(
                "--user {spec:?}: empty user; use NAME, UID, NAME:GROUP or UID:GID"
            )))
        }
        None => match users.iter().find(|e| e.name == user) {
            Some(e) => (e.uid, Some(e.clone())),
            None => {
                return Err(Error::config(format!(
                    "--user: no user named {user:?} in /etc/passwd; use a numeric uid or add the user to the image"
                )))
            }
        },
    };
    let gid = match group {
        None => entry.as_ref().map(|e| e.gid).unwrap_or(uid),
        Some(g) => resolve_group(g, "--user", groups)?,
    };
    Ok(Target { uid, gid, entry })
}

/// Resolve one group name or number.
pub fn resolve_group(g: &str, flag: &str, groups: &[GroupEntry]) -> Result<u32> {
    match parse_id(g) {
        Some(Ok(gid)) => Ok(gid),
        Some(Err(())) => Err(Error::config(format!(
            "{flag}: gid {g:?} is out of range; use a number below 4294967295 or a group name"
        ))),
        None if g.is_empty() => Err(Error::config(format!(
            "{flag}: empty group name; use a group name or a numeric gid"
        ))),
        None => groups
            .iter()
            .find(|e| e.name == g)
            .map(|e| e.gid)
            .ok_or_else(|| {
                Error::config(format!(
                    "{flag}: no group named {g:?} in /etc/group; use a numeric gid or add the group to the image"
                ))
            }),
    }
}

/// GPU device nodes whose group grants access: (path, gid).
pub fn gpu_device_groups(dev: &Path) -> Vec<(PathBuf, u32)> {
    let ctl = dev.join("nvidiactl");
    // The NVIDIA runtime always adds nvidiactl with the per-GPU nodes: without it no
    // /dev/nvidiaN is worth a group, and /dev (which can hold many entries) is not walked.
    let walk = ctl.exists();
    let mut nodes = vec![ctl, dev.join("nvidia-uvm"), dev.join("nvidia-uvm-tools")];
    if let Some(rd) = walk.then(|| std::fs::read_dir(dev).ok()).flatten() {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.strip_prefix("nvidia")
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
            {
                nodes.push(e.path());
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(dev.join("dri")) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("renderD") {
                nodes.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    for p in nodes {
        if let Ok(md) = std::fs::metadata(&p) {
            // Only a group with read/write bits matters; never add root's group.
            if md.mode() & 0o060 != 0 {
                out.push((p, md.gid()));
            }
        }
    }
    out.sort();
    out
}

/// Whether `uid`/`gids` may write into the directory described by `md` (mode bits, then
/// `readonly_mount` — asked only when the bits allow it; ACLs are not consulted).
pub fn dir_writable_by(
    md: &Meta,
    uid: u32,
    gid: u32,
    groups: &[u32],
    readonly_mount: impl FnOnce() -> bool,
) -> bool {
    md.is_dir && (uid == 0 || access_bits(md, uid, gid, groups) & 3 == 3) && !readonly_mount()
}

/// The permission bits (`rwx` as 4/2/1) that `uid` with `gid`/`groups` gets from a file's
/// mode: the owner's, the group's or the others' class (ACLs are not consulted).
pub fn access_bits(md: &Meta, uid: u32, gid: u32, groups: &[u32]) -> u32 {
    let mode = md.mode;
    if md.uid == uid {
        (mode >> 6) & 7
    } else if md.gid == gid || groups.contains(&md.gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    }
}

/// The private fallback home of `uid` under `tmp`.
pub fn fallback_home_path(tmp: &Path, uid: u32) -> PathBuf {
    tmp.join(format!("secure-init-home-{uid}"))
}

/// A fallback home in use: the directory and the open descriptor that holds its lock
/// (`flock`, exclusive) for as long as a start uses it.
pub struct FallbackHome {
    pub dir: PathBuf,
    pub lock: std::fs::File,
    /// Entries of an earlier start removed from it.
    pub emptied: usize,
    /// Stale fallback homes of earlier starts removed.
    pub swept: usize,
}

/// Open `dir` (no symlink), check it is what secure-init makes — a real directory owned by
/// `uid:gid`, mode 0700 — and take its lock; `Ok(None)`: another start holds it.
fn lock_private_dir(dir: &Path, uid: u32, gid: u32) -> Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| Error::config(format!("{}: {e}", dir.display())))?;
    let md = f
        .metadata()
        .map_err(|e| Error::config(format!("{}: {e}", dir.display())))?;
    if md.uid() != uid || md.gid() != gid || md.mode() & 0o7777 != 0o700 {
        return Err(Error::config(format!(
            "fallback home {} exists but is not a private directory owned by uid {uid} (refused: it may have been planted); remove it or give the user a writable HOME",
            dir.display()
        )));
    }
    match crate::sys::flock_exclusive_nb(f.as_raw_fd()) {
        Ok(true) => Ok(Some(f)),
        Ok(false) => Ok(None),
        Err(e) => Err(Error::config(format!("{}: flock: {e}", dir.display()))),
    }
}

/// Remove everything inside the directory open as `d`, through the descriptor
/// (`/proc/self/fd/N`): the workload may rename the directory or plant symlinks in it
/// meanwhile, and root must neither follow one nor work on a path it swapped
/// (`remove_dir_all` opens each level with `O_NOFOLLOW` and works through descriptors).
fn empty_dir(d: &std::fs::File) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let base = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd()));
    let mut n = 0;
    for e in std::fs::read_dir(&base)? {
        let p = base.join(e?.file_name());
        if std::fs::symlink_metadata(&p)?.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
        n += 1;
    }
    Ok(n)
}

/// The private fallback home of `uid:gid` under `tmp`, one per start that needs it and
/// never one more: the usual name ([`fallback_home_path`]) is made, or re-used when it is
/// exactly what secure-init makes (a real directory owned by `uid:gid`, mode 0700) and no
/// running start holds its lock — emptied first, since what an earlier workload left there
/// (`~/.bashrc`, a user-site `.pth`) is not to be trusted. Only when another running start
/// holds it is a second one made (`…-<uid>.<random>`); those of starts that have ended are
/// removed. Anything else at the usual name is refused (an error: HOME stays as it was).
/// Creation is race-free against a same-uid process in a shared /tmp: `mkdir` with its final
/// mode, then ownership changed through an `O_NOFOLLOW|O_DIRECTORY` descriptor.
pub fn fallback_home(tmp: &Path, uid: u32, gid: u32) -> Result<FallbackHome> {
    let dir = fallback_home_path(tmp, uid);
    let swept = sweep_stale_homes(tmp, uid, gid);
    let made = |d: &Path| -> Result<Option<FallbackHome>> {
        match make_private_dir(d, uid, gid) {
            Ok(()) => Ok(lock_private_dir(d, uid, gid)?.map(|lock| FallbackHome {
                dir: d.to_path_buf(),
                lock,
                emptied: 0,
                swept,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(Error::config(format!(
                "cannot create fallback home {}: {e}; set HOME to a directory writable by uid {uid}",
                d.display()
            ))),
        }
    };
    if let Some(h) = made(&dir)? {
        return Ok(h);
    }
    if let Some(lock) = lock_private_dir(&dir, uid, gid)? {
        let emptied = empty_dir(&lock).map_err(|e| {
            Error::config(format!(
                "cannot empty the fallback home {} of an earlier start: {e}; remove it or give the user a writable HOME",
                dir.display()
            ))
        })?;
        return Ok(FallbackHome {
            dir,
            lock,
            emptied,
            swept,
        });
    }
    // another running start (sharing this /tmp) holds it
    for _ in 0..16 {
        let mut r = [0u8; 6];
        crate::sys::random_bytes(&mut r).map_err(|e| Error::internal(format!("getrandom: {e}")))?;
        let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(h) = made(&tmp.join(format!("secure-init-home-{uid}.{suffix}")))? {
            return Ok(h);
        }
    }
    Err(Error::config(format!(
        "cannot create a fallback home under {}; set HOME to a directory writable by uid {uid}",
        tmp.display()
    )))
}

/// Remove the extra fallback homes (`…-<uid>.<random>`) of starts that have ended (their
/// lock is free), at most 64 a start. Returns how many went.
fn sweep_stale_homes(tmp: &Path, uid: u32, gid: u32) -> usize {
    let prefix = format!("secure-init-home-{uid}.");
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten().filter(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
    }) {
        if n == 64 {
            break;
        }
        let p = e.path();
        // not ours (planted, another uid's), held by a running start, or not emptied: left
        if let Ok(Some(lock)) = lock_private_dir(&p, uid, gid) {
            if empty_dir(&lock).is_ok() && std::fs::remove_dir(&p).is_ok() {
                n += 1;
            }
        }
    }
    n
}

/// Remove a directory tree the workload owns (a runtime directory of an earlier start), as
/// root with only CAP_CHOWN among the file capabilities — the documented set has neither
/// CAP_DAC_OVERRIDE nor CAP_FOWNER, so a 0700 directory of the workload cannot even be
/// listed. Each directory is taken back first (owner root, mode 0700) through an `O_PATH`
/// descriptor, then read and emptied through that descriptor (`/proc/self/fd/N`): no
/// symlink is followed and no path the workload could swap is used twice. Where CAP_CHOWN
/// is missing too, the plain removal is tried (it works with CAP_DAC_OVERRIDE).
pub fn remove_workload_tree(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let md = std::fs::symlink_metadata(path)?;
    if !md.is_dir() {
        return std::fs::remove_file(path);
    }
    let o = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)?;
    let base = PathBuf::from(format!("/proc/self/fd/{}", o.as_raw_fd()));
    if md.uid() != crate::sys::getuid() {
        match std::os::unix::fs::chown(
            &base,
            Some(crate::sys::getuid()),
            Some(crate::sys::getgid()),
        ) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                return std::fs::remove_dir_all(path)
            }
            Err(e) => return Err(e),
        }
    }
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))?;
    for e in std::fs::read_dir(&base)? {
        remove_workload_tree(&base.join(e?.file_name()))?;
    }
    std::fs::remove_dir(path)
}

/// `mkdir(dir, 0700)`, then, as root, `fchown` to `uid:gid` through a descriptor opened
/// with `O_NOFOLLOW|O_DIRECTORY` and checked to be the directory just made.
pub fn make_private_dir(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)?;
    let md = f.metadata()?;
    let me = crate::sys::getuid();
    if md.uid() != me || md.mode() & 0o7777 != 0o700 {
        return Err(std::io::Error::other(format!(
            "not the directory secure-init just created (uid {}, mode {:04o})",
            md.uid(),
            md.mode() & 0o7777
        )));
    }
    if me == 0 {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(parse_id("1001"), Some(Ok(1001)));
        assert_eq!(parse_id("4294967295"), Some(Err(())));
        assert_eq!(parse_id("99999999999"), Some(Err(())));
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("abc"), None);
    }

    fn db() -> (Vec<PasswdEntry>, Vec<GroupEntry>) {
        (
            read_passwd(Path::new("/etc/passwd")),
            read_group(Path::new("/etc/group")),
        )
    }

    #[test]
    fn numeric_user_without_entry_uses_same_gid() {
        let (u, g) = db();
        let t = resolve_user("4000123", &u, &g).unwrap();
        assert_eq!((t.uid, t.gid), (4000123, 4000123));
        let t = resolve_user("4000123:55", &u, &g).unwrap();
        assert_eq!(t.gid, 55);
    }

    #[test]
    fn bad_users_are_config_errors() {
        for s in [
            "no-such-user-xyz",
            "",
            "1001:no-such-group-xyz",
            "1001:",
            "99999999999",
        ] {
            let (u, g) = db();
            let e = resolve_user(s, &u, &g).unwrap_err();
            assert_eq!(e.code(), 78, "{s}: {e}");
        }
    }
}
