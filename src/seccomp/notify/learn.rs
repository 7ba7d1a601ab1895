//! Learn mode (`--seccomp-learn`): the profile it starts from, and the profile it writes
//! (the calls the workload made that the profile denied, allowed). The supervisor's side —
//! recording the calls — is `init::listener`.

use crate::seccomp::profile;

/// The profile `--seccomp-learn` starts from, as Docker/OCI JSON: the built-in's text, or
/// the custom file's as read once (`custom`); docker-default with the terminal guard that
/// `parse_builtin` adds to Docker's own file.
pub fn base(name: &str, custom: Option<String>) -> crate::error::Result<serde_json::Value> {
    use crate::error::Error;
    let text = match (profile::builtin(name), custom) {
        (Some(t), _) => t.to_string(),
        (None, Some(t)) => t,
        (None, None) => {
            return Err(Error::internal(format!(
                "--seccomp {}: the profile's text was not kept",
                name
            )))
        }
    };
    let mut base: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::config(format!("--seccomp {name}: not JSON: {e}")))?;
    if name == "docker-default" {
        // the terminal guard parse_builtin adds to Docker's own file
        if let Some(e) = base.get_mut("syscalls").and_then(|s| s.as_array_mut()) {
            for (req_name, req) in profile::policy().ioctl_deny {
                e.push(serde_json::json!({"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM,
            "args": [{"index": 1, "value": req, "op": "SCMP_CMP_EQ"}],
            "comment": format!("secure-init terminal guard: {req_name}")}));
            }
        }
    }
    Ok(base)
}

/// The base profile, with every learned call allowed unconditionally (and removed from
/// the profile's other entries, so no narrower rule still denies it).
pub fn learned_profile(base: &serde_json::Value, learned: &[String]) -> serde_json::Value {
    let mut p = base.clone();
    if let Some(entries) = p.get_mut("syscalls").and_then(|s| s.as_array_mut()) {
        for e in entries.iter_mut() {
            let allow = e.get("action").and_then(|a| a.as_str()) == Some("SCMP_ACT_ALLOW");
            if allow {
                continue;
            }
            if let Some(names) = e.get_mut("names").and_then(|n| n.as_array_mut()) {
                names.retain(|n| !learned.iter().any(|l| Some(l.as_str()) == n.as_str()));
            }
        }
        entries.retain(|e| {
            e.get("names")
                .and_then(|n| n.as_array())
                .is_none_or(|n| !n.is_empty())
        });
        if !learned.is_empty() {
            entries.push(serde_json::json!({
                "names": learned,
                "action": "SCMP_ACT_ALLOW",
                "comment": "recorded by secure-init --seccomp-learn: review before use",
            }));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_calls_are_allowed_and_taken_out_of_deny_rules() {
        let base = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["ioctl", "personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 21522, "op": "SCMP_CMP_EQ"}]},
            ]
        });
        let p = learned_profile(&base, &["ptrace".into(), "ioctl".into()]);
        let e = p["syscalls"].as_array().unwrap();
        assert_eq!(e.len(), 3, "{p}");
        assert_eq!(e[1]["names"], serde_json::json!(["personality"]));
        assert_eq!(e[2]["names"], serde_json::json!(["ptrace", "ioctl"]));
        assert_eq!(e[2]["action"], "SCMP_ACT_ALLOW");
    }
}
