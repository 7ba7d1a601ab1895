//! This process's cgroup, as `/proc/self/cgroup` names it (v2's unified hierarchy, or a v1
//! controller's): the audit reads its limits, the supervisor its OOM kills and peak memory
//! (why the command ended).

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// The text of `/proc/self/cgroup` says cgroup v2 only.
pub fn is_v2(cgroup: &str) -> bool {
    !cgroup.is_empty() && cgroup.lines().all(|l| l.starts_with("0::"))
}

/// This process's cgroup directory for `controller` ("" for cgroup v2).
fn dir(cgroup: &str, controller: &str) -> Option<PathBuf> {
    for l in cgroup.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        if controller.is_empty() && ctrls.is_empty() {
            return Some(Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')));
        }
        if !controller.is_empty() && ctrls.split(',').any(|c| c == controller) {
            return Some(
                Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join(path.trim_start_matches('/')),
            );
        }
    }
    None
}

/// A file of this cgroup or, when the cgroup's path is not visible (a cgroup namespace, or
/// Docker's v1 mounts, which show the container's own cgroup at the mount's root), the same
/// file at the mount's root.
pub fn file(cgroup: &str, controller: &str, name: &str) -> Option<PathBuf> {
    let own = dir(cgroup, controller)?.join(name);
    if own.exists() {
        return Some(own);
    }
    let base = if controller.is_empty() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        Path::new("/sys/fs/cgroup").join(controller)
    };
    Some(base.join(name)).filter(|p| p.exists())
}

/// A small cgroup file's text.
pub fn read(cgroup: &str, controller: &str, name: &str) -> Option<String> {
    crate::sys::read_small(file(cgroup, controller, name)?).ok()
}

/// `key N` from a flat-keyed cgroup file (`memory.events`, v1's `memory.oom_control`).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The files that tell why the command ended, opened while the supervisor is still root
/// (it drops to a uid that may not read them later) and read again at the command's exit.
pub struct Memory {
    /// v2 `memory.events` / v1 `memory.oom_control` (both carry `oom_kill N`, v1 from 4.13).
    events: Option<std::fs::File>,
    /// v2 `memory.peak` (5.19+) / v1 `memory.max_usage_in_bytes`.
    peak: Option<std::fs::File>,
    /// `oom_kill` when the command started.
    start: Option<u64>,
}

fn reread(f: &Option<std::fs::File>) -> Option<String> {
    let mut f = f.as_ref()?;
    f.rewind().ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).ok()?;
    Some(s)
}

impl Memory {
    pub fn open() -> Memory {
        let cg = crate::sys::read_small("/proc/self/cgroup").unwrap_or_default();
        let (ctl, events, peak) = if is_v2(&cg) {
            ("", "memory.events", "memory.peak")
        } else {
            ("memory", "memory.oom_control", "memory.max_usage_in_bytes")
        };
        let open = |name| file(&cg, ctl, name).and_then(|p| std::fs::File::open(p).ok());
        let mut m = Memory {
            events: open(events),
            peak: open(peak),
            start: None,
        };
        m.start = m.oom_kills_total();
        m
    }

    fn oom_kills_total(&self) -> Option<u64> {
        keyed(&reread(&self.events)?, "oom_kill")
    }

    /// OOM kills in this cgroup since [`Memory::open`].
    pub fn oom_kills(&self) -> Option<u64> {
        Some(self.oom_kills_total()?.saturating_sub(self.start?))
    }

    /// The cgroup's peak memory use in bytes.
    pub fn peak(&self) -> Option<u64> {
        reread(&self.peak)?.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_keys() {
        assert!(is_v2("0::/docker/abc\n"));
        assert!(!is_v2("12:memory:/x\n0::/x\n"));
        assert!(!is_v2(""));
        let ev = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed(ev, "oom_kill"), Some(2));
        assert_eq!(keyed(ev, "oom"), Some(3));
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n";
        assert_eq!(keyed(v1, "oom_kill"), Some(5));
        assert_eq!(keyed(v1, "absent"), None);
    }

    #[test]
    fn this_process_memory_files_are_found_and_read() {
        // whatever this machine runs (v1 or v2), the counters read as numbers
        let m = Memory::open();
        assert_eq!(m.oom_kills(), m.start.map(|_| 0));
        if m.peak.is_some() {
            assert!(m.peak().unwrap() > 0);
        }
    }
}
