//! Facts: what secure-init reads about the system before it plans anything — its ids,
//! capabilities, PID, the kernel, the environment, /etc/passwd and /etc/group, the GPU
//! device nodes — and a read-only view of files ([`Fs`], from `fsview`). Gathering facts
//! changes nothing.
//!
//! `plan::build` is a pure function of these facts and the options: unit tests give it
//! [`Facts`] made by hand, with a fake [`Fs`].

pub use crate::fsview::{Fs, Meta, RealFs};
use crate::identity::{GroupEntry, PasswdEntry};
use crate::sys::{self, CapSets};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Everything the planner knows.
pub struct Facts {
    pub pid: i32,
    /// This process's session id.
    pub sid: i32,
    /// The session whose controlling terminal is on stdin (None: stdin is no such terminal).
    pub stdin_tty_session: Option<i32>,
    /// Real, effective and saved uid.
    pub uids: (u32, u32, u32),
    pub gid: u32,
    /// Current supplementary groups.
    pub groups: Vec<u32>,
    pub caps: CapSets,
    /// The bounding set, read only where secure-init cannot empty it (no `CAP_SETPCAP`
    /// effective: a non-root start): bit N for capability N. `None` where it was not read.
    pub bounding: Option<u64>,
    /// Highest capability number the kernel knows.
    pub last_cap: u32,
    /// Running kernel (major, minor).
    pub kernel: (u32, u32),
    /// secure-init's own environment, in order.
    pub env: Vec<(OsString, OsString)>,
    pub passwd: Vec<PasswdEntry>,
    pub group: Vec<GroupEntry>,
    /// GPU device nodes with their group (`--groups auto`), sorted.
    pub gpu_nodes: Vec<(PathBuf, u32)>,
    /// Whether `<dev>/nvidiactl` exists (`--gpu auto`).
    pub nvidiactl: bool,
    /// Descriptors above 2 that are open (only those `--keep-fd` asks about).
    pub open_fds: Vec<i32>,
    /// The temporary directory (`TMPDIR` or /tmp).
    pub tmp: PathBuf,
    /// The working directory (the command's too).
    pub cwd: Option<PathBuf>,
    pub fs: Box<dyn Fs>,
}

impl Facts {
    /// Read the facts of this process and system. `dev` is where GPU device nodes are
    /// looked for, `fds` the descriptors whose state matters.
    pub fn gather(dev: &Path, fds: &[i32]) -> Result<Facts, crate::error::Error> {
        let caps =
            sys::capget().map_err(|e| crate::error::Error::internal(format!("capget: {e}")))?;
        let count = sys::getgroups(&mut [])
            .map_err(|e| crate::error::Error::internal(format!("getgroups: {e}")))?;
        let mut buf = vec![0 as libc::gid_t; count];
        let n = sys::getgroups(&mut buf)
            .map_err(|e| crate::error::Error::internal(format!("getgroups: {e}")))?;
        buf.truncate(n);
        let last_cap = sys::last_cap();
        let setpcap = 1u64 << caps::Capability::CAP_SETPCAP.index();
        let bounding = (caps.effective & setpcap == 0).then(|| {
            (0..=last_cap)
                .filter(|c| sys::capbset_read(*c) != Ok(false))
                .fold(0u64, |m, c| m | 1u64 << c)
        });
        Ok(Facts {
            pid: sys::getpid(),
            sid: sys::getsid(),
            stdin_tty_session: if sys::isatty(0) {
                sys::tcgetsid(0)
            } else {
                None
            },
            uids: sys::getresuid(),
            gid: sys::getgid(),
            groups: buf,
            caps,
            bounding,
            last_cap,
            kernel: crate::seccomp::running_kernel(),
            env: std::env::vars_os().collect(),
            passwd: crate::identity::read_passwd(Path::new("/etc/passwd")),
            group: crate::identity::read_group(Path::new("/etc/group")),
            gpu_nodes: crate::identity::gpu_device_groups(dev),
            nvidiactl: dev.join("nvidiactl").exists(),
            open_fds: fds
                .iter()
                .copied()
                .filter(|fd| sys::fd_is_open(*fd))
                .collect(),
            tmp: std::env::temp_dir(),
            cwd: std::env::current_dir().ok(),
            fs: Box::new(RealFs::default()),
        })
    }

    /// The value of environment variable `name`.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .find(|(k, _)| k.as_bytes() == name.as_bytes())
            .map(|(_, v)| v.as_os_str())
    }

    /// The value of `name` when it is valid UTF-8.
    pub fn var_str(&self, name: &str) -> Option<&str> {
        self.var(name).and_then(OsStr::to_str)
    }

    /// Overwrite the values of secret variables (`JUPYTER_PASSWORD`) in the facts' copy of
    /// the environment, once the plan has taken what it needs.
    pub fn wipe_secrets(&mut self) {
        use zeroize::Zeroize;
        for (k, v) in self.env.iter_mut() {
            if k.as_bytes() == b"JUPYTER_PASSWORD" {
                let mut bytes = std::os::unix::ffi::OsStringExt::into_vec(std::mem::take(v));
                bytes.zeroize();
            }
        }
    }

    /// Started with root's effective uid.
    pub fn is_root(&self) -> bool {
        self.uids.1 == 0
    }
}

#[cfg(test)]
pub mod fake {
    //! Hand-made facts for unit tests.
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory file system: paths with metadata and contents.
    #[derive(Default)]
    pub struct FakeFs {
        pub files: BTreeMap<PathBuf, (Meta, Vec<u8>)>,
        /// Symlinks: path -> target (`meta` and `read` follow them, as stat does).
        pub links: BTreeMap<PathBuf, PathBuf>,
    }

    impl FakeFs {
        pub fn dir(mut self, p: &str, uid: u32, mode: u32) -> Self {
            let m = Meta {
                uid,
                gid: uid,
                mode: 0o040000 | mode,
                is_dir: true,
                is_file: false,
            };
            self.files.insert(PathBuf::from(p), (m, vec![]));
            self
        }
        pub fn file(mut self, p: &str, uid: u32, mode: u32, data: &[u8]) -> Self {
            let m = Meta {
                uid,
                gid: uid,
                mode: 0o100000 | mode,
                is_dir: false,
                is_file: true,
            };
            self.files.insert(PathBuf::from(p), (m, data.to_vec()));
            self
        }
        /// A symlink at `p` to `target`.
        pub fn link(mut self, p: &str, target: &str) -> Self {
            self.links.insert(PathBuf::from(p), PathBuf::from(target));
            self
        }
        /// The path with its symlinks resolved (whole components, up to 40 hops).
        fn follow(&self, path: &Path) -> PathBuf {
            let mut cur = PathBuf::from("/");
            let mut rest: Vec<std::ffi::OsString> = path
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(n) => Some(n.to_os_string()),
                    _ => None,
                })
                .rev()
                .collect();
            let mut hops = 0;
            while let Some(c) = rest.pop() {
                let next = cur.join(&c);
                match self.links.get(&next).filter(|_| hops < 40) {
                    Some(t) => {
                        hops += 1;
                        if t.is_absolute() {
                            cur = PathBuf::from("/");
                        }
                        for n in t.components().rev() {
                            match n {
                                std::path::Component::Normal(n) => rest.push(n.to_os_string()),
                                std::path::Component::ParentDir => rest.push("..".into()),
                                _ => {}
                            }
                        }
                    }
                    None if c == ".." => {
                        cur.pop();
                    }
                    None => cur = next,
                }
            }
            cur
        }
        /// Neither a directory nor a regular file: `mode` holds its type (a socket, 0o140000).
        pub fn node(mut self, p: &str, uid: u32, mode: u32) -> Self {
            let m = Meta {
                uid,
                gid: uid,
                mode,
                is_dir: false,
                is_file: false,
            };
            self.files.insert(PathBuf::from(p), (m, vec![]));
            self
        }
    }

    impl Fs for FakeFs {
        fn meta(&self, path: &Path) -> Option<Meta> {
            self.files.get(&self.follow(path)).map(|(m, _)| *m)
        }
        fn exists_nofollow(&self, path: &Path) -> bool {
            self.files.contains_key(path) || self.links.contains_key(path)
        }
        fn readonly_mount(&self, _: &Path) -> bool {
            false
        }
        fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
            let p = self.follow(path);
            if self.files.contains_key(&p) {
                Ok(p)
            } else {
                Err(std::io::Error::from_raw_os_error(libc::ENOENT))
            }
        }
        fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
            self.files
                .get(&self.follow(path))
                .map(|(_, d)| d.clone())
                .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT))
        }
        fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(std::ffi::OsString, bool)>> {
            Ok(self
                .files
                .iter()
                .filter(|(p, _)| p.parent() == Some(path))
                .map(|(p, (m, _))| (p.file_name().unwrap().to_os_string(), m.is_dir))
                .collect())
        }
        fn read_link(&self, path: &Path) -> Option<PathBuf> {
            self.links.get(path).cloned()
        }
    }

    /// Root, PID 1, every capability, a passwd with aiuser (1001), an empty file system.
    pub fn root_pid1() -> Facts {
        Facts {
            pid: 1,
            sid: 1,
            stdin_tty_session: None,
            uids: (0, 0, 0),
            gid: 0,
            groups: vec![0],
            caps: CapSets {
                effective: (1 << 41) - 1,
                permitted: (1 << 41) - 1,
                inheritable: 0,
            },
            bounding: None,
            last_cap: 40,
            kernel: (6, 1),
            env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
            passwd: vec![
                PasswdEntry {
                    name: "root".into(),
                    uid: 0,
                    gid: 0,
                    home: "/root".into(),
                },
                PasswdEntry {
                    name: "aiuser".into(),
                    uid: 1001,
                    gid: 1001,
                    home: "/home/aiuser".into(),
                },
            ],
            group: vec![
                GroupEntry {
                    name: "root".into(),
                    gid: 0,
                },
                GroupEntry {
                    name: "video".into(),
                    gid: 44,
                },
            ],
            gpu_nodes: vec![],
            nvidiactl: false,
            open_fds: vec![],
            tmp: PathBuf::from("/tmp"),
            cwd: Some(PathBuf::from("/home/aiuser")),
            fs: Box::new(
                FakeFs::default()
                    .dir("/", 0, 0o755)
                    .dir("/tmp", 0, 0o1777)
                    .dir("/home", 0, 0o755)
                    .dir("/home/aiuser", 1001, 0o755),
            ),
        }
    }
}
