//! Users and groups, read from /etc/passwd and /etc/group (no NSS: containers have none,
//! and a PID 1 should not dlopen NSS modules), plus the GPU device groups and `HOME`.
//! Resolution is pure (over entries gathered as facts); only [`fallback_home`] changes
//! anything.

use crate::error::{Error, Result};
use crate::fsview::Meta;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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

/// Create the private fallback home of `uid:gid` under `tmp`, race-free against a same-uid
/// process in a shared /tmp: `mkdir` with its final mode 0700, then ownership changed
/// through an `O_NOFOLLOW|O_DIRECTORY` descriptor (never by path, so a swapped-in symlink
/// cannot redirect root's `chown`). The usual name ([`fallback_home_path`]) is re-used only
/// when it is exactly what secure-init makes — a real directory (not a symlink) owned by
/// `uid:gid`, mode 0700 — and empty. Anything else there is refused (an error: HOME stays as
/// it was), but for such a directory with contents (an earlier start), for which a new one
/// with a random suffix is made. Returns the directory.
pub fn fallback_home(tmp: &Path, uid: u32, gid: u32) -> Result<PathBuf> {
    let dir = fallback_home_path(tmp, uid);
    match make_private_dir(&dir, uid, gid) {
        Ok(()) => return Ok(dir),
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(Error::config(format!(
                "cannot create fallback home {}: {e}; set HOME to a directory writable by uid {uid}",
                dir.display()
            )))
        }
        Err(_) => {}
    }
    let md = std::fs::symlink_metadata(&dir)
        .map_err(|e| Error::config(format!("{}: {e}", dir.display())))?;
    if !md.is_dir() || md.uid() != uid || md.gid() != gid || md.mode() & 0o7777 != 0o700 {
        return Err(Error::config(format!(
            "fallback home {} exists but is not a private directory owned by uid {uid} (refused: it may have been planted); remove it or give the user a writable HOME",
            dir.display()
        )));
    }
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()) {
        return Ok(dir);
    }
    // The workload's own, from an earlier start (or planted by a same-uid process in a
    // shared /tmp): its contents are not trusted; a fresh directory is made instead.
    log::info!(target: "identity.home", home = dir.display().to_string().as_str();
        "{} is not empty (an earlier start, or planted): a fresh fallback HOME is made", dir.display());
    for _ in 0..16 {
        let mut r = [0u8; 6];
        crate::sys::random_bytes(&mut r).map_err(|e| Error::internal(format!("getrandom: {e}")))?;
        let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let alt = tmp.join(format!("secure-init-home-{uid}.{suffix}"));
        match make_private_dir(&alt, uid, gid) {
            Ok(()) => return Ok(alt),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::config(format!(
                    "cannot create fallback home {}: {e}",
                    alt.display()
                )))
            }
        }
    }
    Err(Error::config(format!(
        "cannot create a fallback home under {}; set HOME to a directory writable by uid {uid}",
        tmp.display()
    )))
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
