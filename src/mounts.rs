//! The mount table (`/proc/self/mountinfo`), read for two purposes: the runtime audit's
//! findings (a host path mounted in, a writable `/sys`) and the volumes the operator
//! mounted read-write, which Landlock keeps writable for the workload.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// One mountinfo line: (root within the fs, mount point, mount options, fs type, source),
/// borrowed from the text (the two paths unescaped where they hold `\040`/`\011`).
pub type Mount<'a> = (Cow<'a, str>, Cow<'a, str>, &'a str, &'a str, &'a str);

fn unescape(s: &str) -> Cow<'_, str> {
    if s.contains('\\') {
        Cow::Owned(s.replace("\\040", " ").replace("\\011", "\t"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Every well-formed line of a mountinfo text.
pub fn parse(mi: &str) -> Vec<Mount<'_>> {
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mut f = pre.split(' ').skip(3);
            let mut p = post.split(' ');
            let (root, point, opts) = (f.next()?, f.next()?, f.next()?);
            let fstype = p.next()?;
            Some((
                unescape(root),
                unescape(point),
                opts,
                fstype,
                p.next().unwrap_or(""),
            ))
        })
        .collect()
}

/// Host paths whose mount gives the container the host (the mount's root within its file
/// system, as mountinfo shows it).
pub const SENSITIVE_ROOTS: &[&str] = &[
    "/",
    "/etc",
    "/root",
    "/home",
    "/var/run",
    "/run",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/boot",
    "/var/log",
];
/// File systems a host's disk is on (tmpfs, overlay and the like are the container's own).
pub const DISK_FS: &[&str] = &["ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "jfs"];
/// Runtime-made file mounts (mountinfo roots under the runtime's state).
pub const RUNTIME_FILES: &[&str] = &[
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/dev/termination-log",
];

/// The host system path a mount exposes (the audit's `host-path-mounted`), if it does. The
/// mount's root is its path within its own file system, so the host's `/var/lib/kubelet` on
/// a file system of its own for `/var/lib` shows as `/lib/kubelet`, and as `/` where
/// `/var/lib/kubelet` is one: a root that ends a sensitive path counts.
pub fn host_path(m: &Mount) -> Option<&'static str> {
    let (root, point, _, fstype, _) = m;
    if !DISK_FS.contains(fstype) || point == "/" || RUNTIME_FILES.contains(&&**point) {
        return None;
    }
    SENSITIVE_ROOTS
        .iter()
        .find(|s| **s == &**root)
        .or_else(|| {
            SENSITIVE_ROOTS
                .iter()
                .find(|s| root.len() > 1 && root.starts_with('/') && s.ends_with(&**root))
        })
        .copied()
}

pub fn is_rw(opts: &str) -> bool {
    opts.split(',').any(|o| o == "rw")
}

/// Kernel and runtime file systems: not volumes.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "devtmpfs",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "pstore",
    "configfs",
    "fusectl",
    "binfmt_misc",
    "autofs",
    "nsfs",
    "efivarfs",
    "selinuxfs",
    "hugetlbfs",
    "rpc_pipefs",
];
/// Where the image's programs, libraries and configuration live: a read-write mount there
/// is not a data volume, and writing there is what Landlock keeps a pickle from doing.
const SYSTEM_DIRS: &[&str] = &[
    "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/run",
    "/var/run",
];
/// Secrets the runtime mounts (read-only in Kubernetes; a read-write one is still no place
/// for the workload to write).
const SECRET_DIRS: &[&str] = &["/run/secrets", "/var/run/secrets"];

/// What to do with the read-write mounts of the table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Volumes {
    /// Made writable: (mount point, why).
    pub writable: Vec<(PathBuf, String)>,
    /// Left read-only although mounted read-write: (mount point, why).
    pub left: Vec<(PathBuf, String)>,
}

/// The read-write mounts the runtime added for the workload — Docker volumes and binds,
/// `--tmpfs`, Kubernetes emptyDirs and PVCs — and those it left read-only, with why.
/// `own` are secure-init's root-owned directories (state, Jupyter and sshd configs): a
/// mount on or above them stays read-only. Not volumes, and not named: the root file
/// system, kernel file systems, `/proc`, `/sys`, `/dev` (their devices have rules of their
/// own) and the runtime's own files (`/etc/hosts`, …).
pub fn volumes(mi: &str, own: &[PathBuf]) -> Volumes {
    let mut v = Volumes::default();
    for m in parse(mi) {
        let (_, point, opts, fstype, source) = &m;
        let p = Path::new(&**point);
        // a later mount on the same point hides the earlier one
        v.writable.retain(|(w, _)| w != p);
        v.left.retain(|(w, _)| w != p);
        let under = |dirs: &[&str]| dirs.iter().any(|d| p.starts_with(d));
        if !is_rw(opts)
            || p == Path::new("/")
            || PSEUDO_FS.contains(fstype)
            || under(&["/proc", "/sys", "/dev"])
            || RUNTIME_FILES.contains(&&**point)
        {
            continue;
        }
        let left = if let Some(h) = host_path(&m) {
            Some(format!(
                "a host system path ({h}: {} of {source}) the runtime audit reports: not a data volume",
                m.0
            ))
        } else if under(SECRET_DIRS) {
            Some("the runtime's secrets".to_string())
        } else if own.iter().any(|o| o.starts_with(p) || p.starts_with(o)) {
            Some("secure-init's own root-owned state and configuration".to_string())
        } else if under(SYSTEM_DIRS) {
            Some(
                "a system directory (programs, libraries, configuration, runtime sockets)"
                    .to_string(),
            )
        } else {
            None
        };
        match left {
            Some(why) => v.left.push((p.to_path_buf(), why)),
            None => v.writable.push((
                p.to_path_buf(),
                format!("a read-write mount ({fstype} from {source})"),
            )),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_read_with_their_escapes() {
        let mi = "601 600 0:52 / /proc rw,nosuid - proc proc rw\n\
                  612 600 254:1 /srv/my\\040data /data\\011x rw,relatime - ext4 /dev/vda1 rw\n\
                  not a mountinfo line\n\
                  613 600 0:60 / /short rw - tmpfs\n";
        let m = parse(mi);
        assert_eq!(m.len(), 3);
        assert_eq!(
            (&*m[0].0, &*m[0].1, m[0].2, m[0].3, m[0].4),
            ("/", "/proc", "rw,nosuid", "proc", "proc")
        );
        assert_eq!((&*m[1].0, &*m[1].1), ("/srv/my data", "/data\tx"));
        assert!(matches!(m[0].1, Cow::Borrowed(_)) && matches!(m[1].0, Cow::Owned(_)));
        assert_eq!((m[1].3, m[1].4), ("ext4", "/dev/vda1"));
        assert_eq!((&*m[2].1, m[2].3, m[2].4), ("/short", "tmpfs", ""));
    }

    /// A Docker container with a named volume, a bind, a --tmpfs, the socket, the host's
    /// /etc, a read-only bind and secure-init's own tmpfs; then a Kubernetes pod's.
    const DOCKER: &str = "\
540 470 0:60 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
541 540 0:64 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
542 540 0:65 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
543 542 0:66 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620
544 540 0:67 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
545 542 0:63 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
546 542 0:68 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
547 540 254:1 /var/lib/docker/volumes/ckpt/_data /ckpt rw,relatime - ext4 /dev/vda1 rw
548 540 254:1 /srv/data /mnt/data\\040set rw,relatime - ext4 /dev/vda1 rw
549 540 254:1 /srv/ro /datasets ro,relatime - ext4 /dev/vda1 rw
550 540 0:70 / /scratch rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
551 540 0:71 / /run/secure-init rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
552 540 254:1 /etc /host-etc rw,relatime - ext4 /dev/vda1 rw
553 540 0:26 /docker.sock /run/docker.sock rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
554 540 254:1 /var/lib/docker/containers/c/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw
555 540 254:1 /var/lib/docker/containers/c/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw
556 540 254:1 /srv/pip /usr/local/lib/python3.12/site-packages rw,relatime - ext4 /dev/vda1 rw
557 540 0:72 / /run/secrets/token rw - tmpfs tmpfs rw
";

    #[test]
    fn docker_volumes_binds_and_tmpfs_are_writable_and_the_rest_is_named() {
        let v = volumes(DOCKER, &[PathBuf::from("/run/secure-init")]);
        let w: Vec<&str> = v
            .writable
            .iter()
            .map(|(p, _)| p.to_str().unwrap())
            .collect();
        assert_eq!(w, ["/ckpt", "/mnt/data set", "/scratch"], "{v:?}");
        let left: Vec<&str> = v.left.iter().map(|(p, _)| p.to_str().unwrap()).collect();
        assert_eq!(
            left,
            [
                "/run/secure-init",
                "/host-etc",
                "/run/docker.sock",
                "/usr/local/lib/python3.12/site-packages",
                "/run/secrets/token"
            ],
            "{v:?}"
        );
        assert!(v.left[1].1.contains("host system path"), "{v:?}");
        assert!(v.left[0].1.contains("secure-init"), "{v:?}");
        assert!(v.writable[0].1.contains("ext4 from /dev/vda1"), "{v:?}");
    }

    #[test]
    fn kubernetes_empty_dirs_and_pvcs_are_writable() {
        let k8s = "\
1 0 0:1 / / rw - overlay overlay rw
2 1 259:1 /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/work /work rw,relatime - xfs /dev/nvme0n1p1 rw
3 1 0:50 / /dev/shm rw - tmpfs tmpfs rw
4 1 0:51 / /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw
5 1 0:52 / /ckpt rw,relatime - nfs4 10.0.0.5:/exports/ckpt rw
6 1 259:1 /var/lib/kubelet/pods/u/etc-hosts /etc/hosts rw - xfs /dev/nvme0n1p1 rw
7 1 259:1 /var/lib/kubelet/pods/u/containers/c/x /dev/termination-log rw - xfs /dev/nvme0n1p1 rw
8 1 259:1 /var/lib/kubelet /var/lib/kubelet rw - xfs /dev/nvme0n1p1 rw
";
        let v = volumes(k8s, &[]);
        let w: Vec<&str> = v
            .writable
            .iter()
            .map(|(p, _)| p.to_str().unwrap())
            .collect();
        assert_eq!(w, ["/work", "/ckpt"], "{v:?}");
        let left: Vec<&str> = v.left.iter().map(|(p, _)| p.to_str().unwrap()).collect();
        assert_eq!(left, ["/var/lib/kubelet"], "{v:?}");
    }

    #[test]
    fn host_paths_on_file_systems_of_their_own_are_recognised() {
        let m = |root: &'static str, fstype: &'static str| -> Mount<'static> {
            (root.into(), "/host".into(), "rw", fstype, "/dev/sdb1")
        };
        // /var/lib on its own file system: the kubelet's directory shows as /lib/kubelet
        assert_eq!(
            host_path(&m("/lib/kubelet", "xfs")),
            Some("/var/lib/kubelet")
        );
        assert_eq!(
            host_path(&m("/lib/docker", "ext4")),
            Some("/var/lib/docker")
        );
        assert_eq!(host_path(&m("/log", "ext4")), Some("/var/log"));
        assert_eq!(host_path(&m("/etc", "ext4")), Some("/etc"));
        // data directories, and the kubelet's own volumes, are not host system paths
        assert_eq!(
            host_path(&m(
                "/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/w",
                "xfs"
            )),
            None
        );
        assert_eq!(
            host_path(&m("/var/lib/docker/volumes/ckpt/_data", "ext4")),
            None
        );
        assert_eq!(host_path(&m("/srv/data", "ext4")), None);
        assert_eq!(host_path(&m("/lib/kubelet", "tmpfs")), None);
    }

    #[test]
    fn a_later_mount_on_the_same_point_decides() {
        let mi = "\
1 0 0:1 / / rw - overlay overlay rw
2 1 0:2 / /data rw - tmpfs tmpfs rw
3 1 0:3 / /data ro - tmpfs tmpfs ro
";
        assert_eq!(volumes(mi, &[]), Volumes::default());
    }
}
