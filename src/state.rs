//! The supervisor's state file: what secure-init started, for `secure-init healthcheck`
//! (run later by `docker exec`/the runtime, as root, in the same PID namespace). Written by
//! root before the supervisor drops its privileges: root-owned, world-readable, replaced
//! atomically, never following a symlink.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jupyter {
    pub port: u16,
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub mode: String,
    pub supervisor_pid: i32,
    pub child_pid: i32,
    pub command: String,
    pub jupyter: Option<Jupyter>,
    /// sshd beside the command (`--sshd`): its pid, for an operator's signal. sshd writes
    /// no pid file of its own: one the workload could rewrite would aim that signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sshd_pid: Option<i32>,
}

/// Write `s` to `path` (temporary name + rename, `O_NOFOLLOW`, mode 0644); the directory is
/// made (0755) when missing.
pub fn write(path: &Path, s: &State) -> Result<()> {
    let err = |what: &str, e: std::io::Error| {
        Error::config(format!("state file {}: cannot {what}: {e}", path.display()))
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| err("create its directory", e))?;
    }
    let text = serde_json::to_string(s).map_err(|e| Error::internal(e.to_string()))? + "\n";
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("state.json");
    crate::config_dir::ConfigDir {
        dir,
        what: "state file",
        fix: "with a read-only root file system give /run/secure-init a tmpfs (docker run --tmpfs /run/secure-init), or set SECURE_INIT_STATE_FILE to a writable path",
        protected: false,
    }
    .write(name, text.as_bytes(), 0o644, None)
}

/// Read the state file; None when there is none (or it is not secure-init's).
pub fn read(path: &Path) -> Option<State> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let i = s.rfind(')')?;
            s[i + 1..]
                .split_whitespace()
                .next()
                .map(|st| st != "Z" && st != "X")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("si-state-{}", std::process::id()));
        let p = dir.join("state.json");
        let s = State {
            version: 1,
            mode: "pid1".into(),
            supervisor_pid: 1,
            child_pid: std::process::id() as i32,
            command: "python".into(),
            jupyter: Some(Jupyter {
                port: 9999,
                base_url: "/x/".into(),
            }),
            sshd_pid: Some(42),
        };
        write(&p, &s).unwrap();
        assert_eq!(read(&p), Some(s));
        assert!(alive(std::process::id() as i32));
        assert!(!alive(i32::MAX));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_same_state_is_not_written_again_anything_else_is() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("si-state-same-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("state.json");
        let mut s = State {
            version: 1,
            mode: "pid1".into(),
            supervisor_pid: 1,
            child_pid: 7,
            command: "python".into(),
            jupyter: None,
            sshd_pid: None,
        };
        let ino = |p: &Path| std::fs::symlink_metadata(p).unwrap().ino();
        write(&p, &s).unwrap();
        let first = ino(&p);
        // a restart with the same pids and command: the file stays (no rename)
        write(&p, &s).unwrap();
        assert_eq!(ino(&p), first);
        // other content: replaced
        s.child_pid = 8;
        write(&p, &s).unwrap();
        assert_ne!(ino(&p), first);
        assert_eq!(read(&p), Some(s.clone()));
        // the same bytes, but not a file of ours as we make it: replaced
        let same = std::fs::read(&p).unwrap();
        for spoil in ["mode", "link", "symlink"] {
            let before = ino(&p);
            match spoil {
                "mode" => std::fs::set_permissions(
                    &p,
                    std::os::unix::fs::PermissionsExt::from_mode(0o666),
                )
                .unwrap(),
                "link" => std::fs::hard_link(&p, dir.join("other")).unwrap(),
                _ => {
                    std::fs::write(dir.join("target"), &same).unwrap();
                    std::fs::remove_file(&p).unwrap();
                    std::os::unix::fs::symlink(dir.join("target"), &p).unwrap();
                }
            }
            write(&p, &s).unwrap();
            let md = std::fs::symlink_metadata(&p).unwrap();
            assert!(md.is_file() && md.nlink() == 1, "{spoil}");
            assert_eq!(md.mode() & 0o7777, 0o644, "{spoil}");
            assert!(spoil == "symlink" || ino(&p) != before, "{spoil}");
            assert_eq!(read(&p), Some(s.clone()), "{spoil}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
