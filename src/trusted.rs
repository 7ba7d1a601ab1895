//! Every path an option names (a seccomp profile, a password or hash file, authorized keys,
//! a host key, a manifest, the NVML library, the learn output) is resolved here, trusted or
//! refused, before secure-init — usually root — reads, loads or writes it: the workload
//! (uid 1001 with code execution, say) must not be able to change what the next start reads.
//!
//! The path is resolved one component at a time, symlinks by hand (up to 40), and refused
//! when the workload could write or replace anything on the way: a directory it may write
//! (a sticky one only protects entries it does not own), a symlink in such a directory, the
//! file itself (its owner, or group/other write bits for it). A symlink in a directory only
//! root can change stays trusted — Kubernetes mounts every secret and ConfigMap key as one
//! (`key -> ..data/key`, `..data -> ..2026_…`). The file is then read once, from the
//! resolved path, which nothing the workload can do changes.

use crate::error::{Error, Result};
use crate::fsview::{Fs, Meta};
use crate::identity::access_bits;
use crate::searchpath::Workload;
use std::path::{Component, Path, PathBuf};

fn writable(md: &Meta, w: &Workload) -> bool {
    md.uid == w.uid || access_bits(md, w.uid, w.gid, w.groups) & 2 != 0
}

/// Whether `w` could replace the entry `name` (with metadata `entry`, None: missing) of the
/// directory `dir`.
fn replaceable(dir: &Meta, entry: Option<&Meta>, w: &Workload) -> bool {
    if !dir.is_dir || !writable(dir, w) {
        return false;
    }
    match entry {
        None => true,
        // a sticky directory protects the entries of other owners
        Some(e) => dir.mode & 0o1000 == 0 || e.uid == w.uid,
    }
}

/// Why a path is not trusted.
#[derive(Debug, PartialEq, Eq)]
pub enum Untrusted {
    /// The workload could write or replace something on the way.
    Writable(String),
    /// Missing, unreadable or not a directory on the way: the ordinary error of the read
    /// that follows says so.
    Missing(String),
}

/// One step of a walk: the directory, the entry looked at in it, its symlink target if it
/// is one, and whether it is the last component.
struct Step<'a> {
    dir: &'a Path,
    next: &'a Path,
    link: Option<&'a Path>,
    last: bool,
}

/// Walk `path` (made absolute against `cwd`) one component at a time, symlinks by hand (40
/// at most), showing each step to `visit` before taking it; the path reached.
fn walk<E>(
    path: &Path,
    cwd: &Path,
    fs: &dyn Fs,
    too_many: impl Fn(String) -> E,
    mut visit: impl FnMut(Step) -> std::result::Result<(), E>,
) -> std::result::Result<PathBuf, E> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    let push = |rest: &mut Vec<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => rest.push(n.to_os_string()),
                Component::ParentDir => rest.push("..".into()),
                _ => {}
            }
        }
    };
    let mut rest = vec![];
    push(&mut rest, &abs);
    let mut cur = PathBuf::from("/");
    let mut hops = 0;
    while let Some(c) = rest.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        let link = fs.read_link(&next);
        visit(Step {
            dir: &cur,
            next: &next,
            link: link.as_deref(),
            last: rest.is_empty(),
        })?;
        match link {
            Some(t) => {
                hops += 1;
                if hops > 40 {
                    return Err(too_many(format!("{}: too many symlinks", abs.display())));
                }
                if t.is_absolute() {
                    cur = PathBuf::from("/");
                }
                push(&mut rest, &t);
            }
            None => cur = next,
        }
    }
    Ok(cur)
}

/// The path with every symlink resolved, or why `w` could change what it leads to.
/// `cwd` anchors a relative path. `must_exist`: the last component too (not for a file to
/// be created, whose directory is what matters).
pub fn resolve(
    fs: &dyn Fs,
    path: &Path,
    cwd: &Path,
    w: &Workload,
    must_exist: bool,
) -> std::result::Result<PathBuf, Untrusted> {
    use Untrusted::{Missing, Writable};
    walk(path, cwd, fs, Missing, |s| {
        let dir = fs
            .meta(s.dir)
            .ok_or_else(|| Missing(format!("{} cannot be read", s.dir.display())))?;
        let entry = if s.link.is_some() {
            None
        } else {
            fs.meta(s.next)
        };
        // the sticky bit looks at the symlink's own owner, which a stat cannot tell: a
        // symlink in a directory the workload may write counts as the workload's
        let entry_for_sticky = match s.link {
            Some(_) => Some(Meta { uid: w.uid, ..dir }),
            None => entry,
        };
        if replaceable(&dir, entry_for_sticky.as_ref(), w) {
            return Err(Writable(format!(
                "the workload (uid {}) may replace {} ({} is writable by it)",
                w.uid,
                s.next.display(),
                s.dir.display()
            )));
        }
        if s.link.is_some() {
            return Ok(());
        }
        match entry {
            None if s.last && !must_exist => Ok(()),
            None => Err(Missing(format!("{} does not exist", s.next.display()))),
            Some(m) if s.last && writable(&m, w) => Err(Writable(format!(
                "the workload (uid {}) may write it (owner {}, mode {:04o})",
                w.uid,
                m.uid,
                m.mode & 0o7777
            ))),
            Some(m) if !s.last && !m.is_dir => {
                Err(Missing(format!("{} is not a directory", s.next.display())))
            }
            Some(_) => Ok(()),
        }
    })
}

/// A directory for a Landlock rule (`--writable`, the Jupyter root): it may well be the
/// workload's own — that is what the rule is for — but the path must not lead there
/// through a symlink the workload could have planted (`~/data -> /opt/conda`: the next
/// start would grant writes to an image directory). Returns the resolved path, or the
/// symlink that could be the workload's.
pub fn resolve_rule_dir(
    fs: &dyn Fs,
    path: &Path,
    cwd: &Path,
    w: &Workload,
) -> std::result::Result<PathBuf, String> {
    walk(
        path,
        cwd,
        fs,
        |e| e,
        |s| {
            if s.link.is_some() && fs.meta(s.dir).is_some_and(|d| d.is_dir && writable(&d, w)) {
                return Err(format!(
                "{} is a symlink in {}, which the workload (uid {}) may write: it could point it anywhere before the next start",
                s.next.display(),
                s.dir.display(),
                w.uid
            ));
            }
            Ok(())
        },
    )
}

/// What to say about a path `w` could change: refused (78) when secure-init started as
/// root (the workload is another user, and the next start reads as root), a warning when
/// it started as the workload's own uid (nothing is crossed; still, the workload could
/// weaken its next start).
fn untrusted(flag: &str, path: &Path, why: &str, root: bool) -> Result<()> {
    let msg = format!(
        "{flag} {}: {why}, so it could change what the next start reads; keep it where only root can write (a root-owned directory such as /etc/secure-init, a read-only Docker or Kubernetes secret/config mount)",
        path.display()
    );
    if root {
        return Err(Error::config(msg));
    }
    log::warn!(target: "config.untrusted", path = path.display().to_string().as_str(); "{msg} (started as the workload's own uid: not refused)");
    Ok(())
}

/// The path, resolved and checked (for a file secure-init loads or creates later: the NVML
/// library, the learn output). Refused paths are errors (78) when started as root.
pub fn check(
    fs: &dyn Fs,
    path: &Path,
    cwd: &Path,
    flag: &str,
    w: &Workload,
    root: bool,
    must_exist: bool,
) -> Result<PathBuf> {
    match resolve(fs, path, cwd, w, must_exist) {
        Ok(p) => Ok(p),
        // the read (or load) that follows reports it as it always did
        Err(Untrusted::Missing(_)) => Ok(path.to_path_buf()),
        Err(Untrusted::Writable(why)) => {
            untrusted(flag, path, &why, root)?;
            Ok(path.to_path_buf())
        }
    }
}

/// The file's bytes, read once from the resolved path after the check.
pub fn read(
    fs: &dyn Fs,
    path: &Path,
    cwd: &Path,
    flag: &str,
    w: &Workload,
    root: bool,
) -> Result<Vec<u8>> {
    let p = check(fs, path, cwd, flag, w, root, true)?;
    fs.read(&p).map_err(|e| {
        Error::config(format!(
            "{flag} {}: cannot read: {e}; check the path and its permissions",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fake::FakeFs;

    const W: Workload = Workload {
        uid: 1001,
        gid: 1001,
        groups: &[],
    };

    fn fs() -> FakeFs {
        FakeFs::default()
            .dir("/", 0, 0o755)
            .dir("/etc", 0, 0o755)
            .dir("/etc/secure-init", 0, 0o755)
            .file("/etc/secure-init/p.json", 0, 0o644, b"{}")
            .dir("/home", 0, 0o755)
            .dir("/home/aiuser", 1001, 0o755)
            .file("/home/aiuser/p.json", 1001, 0o644, b"{}")
            .file("/home/aiuser/rootowned.json", 0, 0o644, b"{}")
            .dir("/tmp", 0, 0o1777)
            .file("/tmp/root.json", 0, 0o644, b"{}")
            .file("/tmp/mine.json", 1001, 0o644, b"{}")
            .file("/etc/secure-init/g.json", 0, 0o664, b"{}")
            // Kubernetes: key -> ..data/key, ..data -> ..2026_01 (a root-owned mount)
            .dir("/run", 0, 0o755)
            .dir("/run/secrets", 0, 0o755)
            .dir("/run/secrets/..2026_01", 0, 0o755)
            .file("/run/secrets/..2026_01/pw", 0, 0o400, b"pw")
            .link("/run/secrets/..data", "..2026_01")
            .link("/run/secrets/pw", "..data/pw")
            // a root-owned link into the workload's home
            .link("/etc/secure-init/via.json", "/home/aiuser/rootowned.json")
            .link("/home/aiuser/link.json", "/etc/secure-init/p.json")
    }

    #[test]
    fn trusted_and_refused_paths() {
        let f = fs();
        let cwd = Path::new("/");
        let ok = |p: &str| resolve(&f, Path::new(p), cwd, &W, true);
        assert_eq!(
            ok("/etc/secure-init/p.json").unwrap(),
            Path::new("/etc/secure-init/p.json")
        );
        assert_eq!(
            ok("/tmp/root.json").unwrap(),
            Path::new("/tmp/root.json"),
            "sticky /tmp protects root's file"
        );
        assert_eq!(
            ok("/run/secrets/pw").unwrap(),
            Path::new("/run/secrets/..2026_01/pw"),
            "a Kubernetes secret"
        );
        for bad in [
            "/home/aiuser/p.json",         // the workload's own file
            "/home/aiuser/rootowned.json", // root's file in the workload's directory
            "/tmp/mine.json",              // its file in sticky /tmp
            "/etc/secure-init/g.json", // group-writable, and gid 1001... (mode 0664, group 0): no
            "/etc/secure-init/via.json", // a root-owned link into the workload's directory
            "/home/aiuser/link.json",  // a link the workload could re-point
            "/nonexistent/p.json",
        ] {
            let r = ok(bad);
            if bad == "/etc/secure-init/g.json" {
                assert!(r.is_ok(), "group 0 is not the workload's: {r:?}");
                continue;
            }
            assert!(r.is_err(), "{bad}: {r:?}");
            if bad == "/nonexistent/p.json" {
                assert!(matches!(r, Err(Untrusted::Missing(_))), "{r:?}");
            } else {
                assert!(matches!(r, Err(Untrusted::Writable(_))), "{bad}: {r:?}");
            }
        }
        assert!(resolve(
            &f,
            Path::new("p.json"),
            Path::new("/etc/secure-init"),
            &W,
            true
        )
        .is_ok());
        // the workload's group
        let g = Workload {
            uid: 1001,
            gid: 0,
            groups: &[],
        };
        assert!(resolve(&f, Path::new("/etc/secure-init/g.json"), cwd, &g, true).is_err());
        // a file to be made: its directory decides
        assert!(resolve(&f, Path::new("/etc/secure-init/new.json"), cwd, &W, false).is_ok());
        assert!(resolve(&f, Path::new("/home/aiuser/new.json"), cwd, &W, false).is_err());
    }

    #[test]
    fn rule_directories_refuse_only_links_the_workload_could_plant() {
        let f = fs()
            .dir("/opt", 0, 0o755)
            .dir("/opt/conda", 1001, 0o755)
            .dir("/home/aiuser/data", 1001, 0o755)
            .link("/home/aiuser/env", "/opt/conda")
            .link("/etc/secure-init/ckpt", "/home/aiuser/data");
        let r = |p: &str| resolve_rule_dir(&f, Path::new(p), Path::new("/"), &W);
        // the workload's own directory is what a rule is for
        assert_eq!(
            r("/home/aiuser/data").unwrap(),
            Path::new("/home/aiuser/data")
        );
        // a root-owned link leads there: trusted
        assert_eq!(
            r("/etc/secure-init/ckpt").unwrap(),
            Path::new("/home/aiuser/data")
        );
        // ~/env -> /opt/conda: a link the workload could have planted
        let e = r("/home/aiuser/env").unwrap_err();
        assert!(
            e.contains("/home/aiuser/env is a symlink in /home/aiuser"),
            "{e}"
        );
        assert!(r("/home/aiuser/env/lib").is_err());
    }

    #[test]
    fn refused_as_root_warned_otherwise() {
        let f = fs();
        let e = read(
            &f,
            Path::new("/home/aiuser/p.json"),
            Path::new("/"),
            "--seccomp",
            &W,
            true,
        )
        .unwrap_err();
        assert_eq!(e.code(), 78);
        assert!(
            e.msg
                .starts_with("--seccomp /home/aiuser/p.json: the workload (uid 1001) may replace"),
            "{}",
            e.msg
        );
        assert!(!e.msg.contains('\n'));
        assert_eq!(
            read(
                &f,
                Path::new("/home/aiuser/p.json"),
                Path::new("/"),
                "--seccomp",
                &W,
                false
            )
            .unwrap(),
            b"{}"
        );
        assert_eq!(
            read(
                &f,
                Path::new("/run/secrets/pw"),
                Path::new("/"),
                "--x",
                &W,
                true
            )
            .unwrap(),
            b"pw"
        );
    }
}
