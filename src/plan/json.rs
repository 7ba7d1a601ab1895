//! The plan as JSON (`--dry-run`): what `secure-init --dry-run` prints. Names of
//! environment variables only, never values.

use super::Plan;
use crate::seccomp;

impl Plan {
    /// What the profile resolves to (re-resolved for a precompiled built-in: only the dry
    /// run asks).
    fn seccomp_summary(&self) -> Option<serde_json::Value> {
        if let Some(r) = &self.seccomp.resolved {
            return Some(r.summary());
        }
        let p = seccomp::profile::parse_builtin(&self.seccomp.name)?.ok()?;
        let t = seccomp::native_target(self.keep_names.clone(), seccomp::running_kernel()).ok()?;
        seccomp::resolve(&p, &t).ok().map(|r| r.summary())
    }

    /// The plan as JSON (`--dry-run`): names of environment variables only, never values.
    pub fn to_json(&self) -> serde_json::Value {
        let env_names: Vec<String> = self
            .env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        let bounding = if self.can_drop_bounding {
            serde_json::json!(self.keep_names)
        } else {
            serde_json::json!("unchanged (no CAP_SETPCAP; inert under no_new_privs)")
        };
        serde_json::json!({
            "mode": self.mode.name(),
            "started_as_root": self.started_as_root,
            "user": {
                "uid": self.identity.uid,
                "gid": self.identity.gid,
                "name": self.identity.user_name,
                "switch": self.identity.switch,
                "home": self.identity.home,
                "home_fallback": self.identity.home_fallback,
            },
            "groups": self.identity.groups,
            "groups_source": self.identity.groups_source,
            "capabilities": {
                "effective": self.keep_names,
                "permitted": self.keep_names,
                "inheritable": self.keep_names,
                "ambient": self.keep_names,
                "bounding": bounding,
            },
            "supervisor": {
                "uid": self.supervisor.uid,
                "capabilities": if self.supervisor.own_uid { vec!["CAP_KILL"] } else { vec![] },
            },
            "no_new_privs": true,
            "core_dumps": self.core_dumps,
            "seccomp": {
                "profile": self.seccomp.name,
                "filters": self.seccomp.programs.len(),
                "instructions": self.seccomp.programs.iter().map(Vec::len).sum::<usize>(),
                "events": self.seccomp.notify.is_some(),
                "learn": self.seccomp.learn.as_ref().map(|(p, _)| p),
                "resolved": self.seccomp_summary(),
            },
            "terminal": format!("{:?}", self.terminal),
            "environment": env_names,
            "command": self.command.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "kill_process_group": self.kill_process_group,
            "keep_fds": self.keep_fds,
            "landlock": self.landlock.to_json(),
            "sshd": self.sshd.as_ref().map(|s| s.to_json()),
            "jupyter": self.jupyter.as_ref().map(|j| serde_json::json!({
                "auth": j.auth.describe(),
                "config_dir": j.config_dir,
                "server_command": j.is_server_command,
            })),
            "gpu": {
                "mode": format!("{:?}", self.gpu.mode).to_lowercase(),
                "requested": self.gpu.requested,
                "reason": self.gpu.reason,
                "requirement": self.gpu.need_source,
            },
        })
    }
}
