//! Search-path variables (`PATH`, `LD_LIBRARY_PATH`, `LD_PRELOAD`, `PYTHONPATH`): an entry
//! that is empty or relative (the current directory: `ENV X=/a:$X` on an unset variable
//! leaves a trailing `:`), or that the workload could write, lets the workload plant code
//! that runs later as root — in the next start, in `secure-init healthcheck`, in a
//! `docker exec` shell. Pure: looks at files through the facts' view.

use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::fsview::{Fs, Meta};
use crate::identity::access_bits;
use std::path::{Component, Path, PathBuf};

/// The variables checked, with their separators: the loader's (run before any `main`,
/// root's included), the shell's command search, and Python's code search and start-up
/// files (a root `python` in a `docker exec` reads them too).
pub const VARIABLES: &[(&str, &[char])] = &[
    ("PATH", &[':']),
    ("LD_LIBRARY_PATH", &[':', ';']),
    ("LD_PRELOAD", &[':', ' ']),
    ("LD_AUDIT", &[':', ' ']),
    ("PYTHONPATH", &[':']),
    ("PYTHONHOME", &[':']),
    ("PYTHONUSERBASE", &[]),
    ("PYTHONSTARTUP", &[]),
];

/// Who must not be able to write a search-path entry.
pub struct Workload<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
}

fn can_write(fs: &dyn Fs, path: &Path, md: &Meta, w: &Workload) -> bool {
    md.uid == w.uid
        || (access_bits(md, w.uid, w.gid, w.groups) & 2 != 0 && !fs.readonly_mount(path))
}

/// Why the workload could change what `path` resolves to, if it could: it may write the
/// entry itself, replace it in a directory it may write, or create it.
pub fn writable_reason(fs: &dyn Fs, path: &Path, w: &Workload) -> Option<String> {
    let mut prefix = PathBuf::from("/");
    let comps: Vec<Component> = path.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let Component::Normal(name) = c else {
            continue;
        };
        let parent_md = fs.meta(&prefix)?;
        let child = prefix.join(name);
        let child_md = fs.meta(&child);
        if parent_md.is_dir && can_write(fs, &prefix, &parent_md, w) {
            // A sticky directory protects entries the workload does not own, but not the
            // creation of a missing one.
            let sticky = parent_md.mode & 0o1000 != 0;
            match child_md {
                None => {
                    return Some(format!(
                        "it does not exist and the workload may create it in {}",
                        prefix.display()
                    ))
                }
                Some(m) if !sticky || m.uid == w.uid => {
                    return Some(format!(
                        "the workload may replace it: {} is writable by uid {}",
                        prefix.display(),
                        w.uid
                    ))
                }
                Some(_) => {}
            }
        }
        match child_md {
            None => return None,
            Some(m) if i + 1 == comps.len() && can_write(fs, &child, &m, w) => {
                return Some(format!(
                    "it is writable by uid {} (owner {}, mode {:04o})",
                    w.uid,
                    m.uid,
                    m.mode & 0o7777
                ))
            }
            Some(_) => {}
        }
        prefix = child;
    }
    None
}

/// The facts' file view with each path looked up once (search paths share prefixes).
struct Memo<'a> {
    fs: &'a dyn Fs,
    seen: std::cell::RefCell<Vec<(PathBuf, Option<Meta>)>>,
}

impl Fs for Memo<'_> {
    fn meta(&self, path: &Path) -> Option<Meta> {
        let key = path.as_os_str().as_encoded_bytes();
        if let Some((_, m)) = self
            .seen
            .borrow()
            .iter()
            .find(|(p, _)| p.as_os_str().as_encoded_bytes() == key)
        {
            return *m;
        }
        let m = self.fs.meta(path);
        self.seen.borrow_mut().push((path.to_path_buf(), m));
        m
    }
    fn readonly_mount(&self, path: &Path) -> bool {
        self.fs.readonly_mount(path)
    }
    fn exists_nofollow(&self, path: &Path) -> bool {
        self.fs.exists_nofollow(path)
    }
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        self.fs.canonicalize(path)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.fs.read(path)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(std::ffi::OsString, bool)>> {
        self.fs.read_dir(path)
    }
    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        self.fs.read_link(path)
    }
}

/// Refuse (78) an empty, relative or workload-writable entry in any of [`VARIABLES`].
pub fn check(facts: &Facts, w: &Workload) -> Result<()> {
    let fs = Memo {
        fs: facts.fs.as_ref(),
        seen: Default::default(),
    };
    for (var, seps) in VARIABLES {
        let Some(value) = facts.var(var) else {
            continue;
        };
        let value = value.to_string_lossy();
        if value.is_empty() {
            continue;
        }
        for entry in value.split(|c| seps.contains(&c)) {
            let fix = format!(
                "remove it from {var} (in the image: set {var} to absolute, root-owned directories, e.g. ENV {var}=/usr/local/lib without a trailing ':$' expansion of an unset variable)"
            );
            if entry.is_empty() {
                if matches!(*var, "LD_PRELOAD" | "LD_AUDIT") {
                    continue; // separators next to each other: nothing is loaded
                }
                return Err(Error::config(format!(
                    "{var}={value:?} has an empty entry, which means the current directory: code planted there would run (as root in the next start or a `docker exec`); {fix}"
                )));
            }
            if !entry.starts_with('/') {
                return Err(Error::config(format!(
                    "{var} entry {entry:?} is relative (resolved against the current directory, where the workload may plant code); {fix}"
                )));
            }
            if Path::new(entry)
                .components()
                .any(|c| c == Component::ParentDir)
            {
                return Err(Error::config(format!(
                    "{var} entry {entry:?} contains '..'; {fix}"
                )));
            }
            if let Some(why) = writable_reason(&fs, Path::new(entry), w) {
                return Err(Error::config(format!(
                    "{var} entry {entry:?} is not safe: {why}, so the workload could plant code that runs as root later; {fix}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fake::{root_pid1, FakeFs};

    fn with(var: &str, val: &str, fs: FakeFs) -> Facts {
        let mut f = root_pid1();
        f.env = vec![(var.into(), val.into())];
        f.fs = Box::new(fs);
        f
    }

    fn base() -> FakeFs {
        FakeFs::default()
            .dir("/", 0, 0o755)
            .dir("/usr", 0, 0o755)
            .dir("/usr/lib", 0, 0o755)
            .dir("/tmp", 0, 0o1777)
            .dir("/tmp/owned", 1001, 0o755)
            .dir("/tmp/rootdir", 0, 0o755)
            .dir("/home", 0, 0o755)
            .dir("/home/aiuser", 1001, 0o755)
            .dir("/opt", 0, 0o777)
            .dir("/opt/lib", 0, 0o755)
    }

    const W: Workload = Workload {
        uid: 1001,
        gid: 1001,
        groups: &[],
    };

    #[test]
    fn safe_entries_pass() {
        check(&with("LD_LIBRARY_PATH", "/usr/lib", base()), &W).unwrap();
        check(&with("PATH", "/usr/lib:/tmp/rootdir", base()), &W).unwrap();
        check(&with("PATH", "", base()), &W).unwrap();
    }

    #[test]
    fn unsafe_entries_are_refused() {
        for (var, val, want) in [
            ("LD_LIBRARY_PATH", "/usr/lib:", "empty entry"),
            ("LD_LIBRARY_PATH", "::/usr/lib", "empty entry"),
            ("PATH", "bin:/usr/lib", "relative"),
            ("PYTHONPATH", ".", "relative"),
            ("PATH", "/home/aiuser/.local/bin", "may create"),
            ("PATH", "/home/aiuser", "writable by uid"),
            ("LD_LIBRARY_PATH", "/tmp/owned", "writable by uid"),
            ("LD_LIBRARY_PATH", "/tmp/missing", "may create"),
            ("LD_PRELOAD", "/opt/lib/x.so", "may replace"),
            ("LD_AUDIT", "/home/aiuser/audit.so", "may create"),
            ("PYTHONUSERBASE", "/home/aiuser/.local", "may create"),
            ("PYTHONSTARTUP", "/tmp/owned/start.py", "may replace"),
            ("PYTHONHOME", "venv", "relative"),
        ] {
            let e = check(&with(var, val, base()), &W).unwrap_err();
            assert_eq!(e.code(), 78, "{var}={val}");
            assert!(
                e.msg.contains(var) && e.msg.contains(want),
                "{var}={val}: {}",
                e.msg
            );
        }
    }
}
