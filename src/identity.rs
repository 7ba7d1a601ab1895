//! Users and groups, read from /etc/passwd and /etc/group (no NSS: containers have none,
//! and a PID 1 should not dlopen NSS modules), plus the GPU device groups and `HOME`.

use crate::error::{Error, Result};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

fn read_db(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect())
        .collect()
}

pub fn passwd_entries() -> Vec<PasswdEntry> {
    read_db("/etc/passwd")
        .into_iter()
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?.clone(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

pub fn group_entries() -> Vec<GroupEntry> {
    read_db("/etc/group")
        .into_iter()
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?.clone(),
                gid: f.get(2)?.parse().ok()?,
            })
        })
        .collect()
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
pub fn resolve_user(spec: &str) -> Result<Target> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd_entries();
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
        Some(g) => resolve_group(g, "--user")?,
    };
    Ok(Target { uid, gid, entry })
}

/// Resolve one group name or number.
pub fn resolve_group(g: &str, flag: &str) -> Result<u32> {
    match parse_id(g) {
        Some(Ok(gid)) => Ok(gid),
        Some(Err(())) => Err(Error::config(format!(
            "{flag}: gid {g:?} is out of range; use a number below 4294967295 or a group name"
        ))),
        None if g.is_empty() => Err(Error::config(format!(
            "{flag}: empty group name; use a group name or a numeric gid"
        ))),
        None => group_entries()
            .into_iter()
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

/// Whether `uid`/`gids` may write into directory `dir` (mode bits and read-only mounts;
/// ACLs are not consulted).
pub fn dir_writable_by(dir: &Path, uid: u32, gid: u32, groups: &[u32]) -> bool {
    let Ok(md) = std::fs::metadata(dir) else {
        return false;
    };
    if !md.is_dir() || crate::sys::is_readonly_mount(dir) {
        return false;
    }
    uid == 0 || access_bits(&md, uid, gid, groups) & 3 == 3
}

/// The permission bits (`rwx` as 4/2/1) that `uid` with `gid`/`groups` gets from a file's
/// mode: the owner's, the group's or the others' class (ACLs are not consulted).
pub fn access_bits(md: &std::fs::Metadata, uid: u32, gid: u32, groups: &[u32]) -> u32 {
    let mode = md.mode();
    if md.uid() == uid {
        (mode >> 6) & 7
    } else if md.gid() == gid || groups.contains(&md.gid()) {
        (mode >> 3) & 7
    } else {
        mode & 7
    }
}

/// Create (or re-use) a private fallback home `/tmp/secure-init-home-UID`, refusing
/// anything that is not a real directory owned by the target user.
pub fn fallback_home(uid: u32, gid: u32) -> Result<PathBuf> {
    let base = std::env::temp_dir();
    let dir = base.join(format!("secure-init-home-{uid}"));
    match std::fs::create_dir(&dir) {
        Ok(()) => {
            if crate::sys::getuid() == 0 {
                crate::sys::lchown(&dir, uid, gid).map_err(|e| {
                    Error::config(format!(
                        "cannot hand fallback home {} to uid {uid}: {}",
                        dir.display(),
                        crate::sys::strerror(e)
                    ))
                })?;
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(
                |e| Error::hardening(format!("cannot set mode 0700 on {}: {e}", dir.display())),
            )?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let md = std::fs::symlink_metadata(&dir)
                .map_err(|e| Error::config(format!("{}: {e}", dir.display())))?;
            if !md.is_dir() || md.uid() != uid || md.mode() & 0o022 != 0 {
                return Err(Error::config(format!(
                    "fallback home {} exists but is not a private directory owned by uid {uid} (refused); remove it or give the user a writable HOME",
                    dir.display()
                )));
            }
        }
        Err(e) => {
            return Err(Error::config(format!(
            "cannot create fallback home {}: {e}; set HOME to a directory writable by uid {uid}",
            dir.display()
        )))
        }
    }
    Ok(dir)
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

    #[test]
    fn numeric_user_without_entry_uses_same_gid() {
        let t = resolve_user("4000123").unwrap();
        assert_eq!((t.uid, t.gid), (4000123, 4000123));
        let t = resolve_user("4000123:55").unwrap();
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
            let e = resolve_user(s).unwrap_err();
            assert_eq!(e.code, 78, "{s}: {e}");
        }
    }
}
