//! What the child execs and with what: the environment, the command's argv and the paths to
//! try, the terminal, the descriptors passed on.

use super::{Facts, Identity, RunMode};
use crate::error::{Error, Result};
use crate::sandbox::{self, Terminal, MAX_KEEP_FDS};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// Variables secure-init consumes and never passes on.
fn is_consumed(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"SECURE_INIT_")
}

/// How the child treats the terminal on stdin: job control when secure-init's session owns
/// it (the runtime made it for the container: `docker run -it`) or when the container's own
/// init leads that session (`docker run -it --init`: tini, PID 1 of this PID namespace, is
/// the session leader and secure-init its child) — no person's shell reads from that
/// terminal, and TIOCSTI/TIOCLINUX are denied by the built-in profiles anyway; a session of
/// its own when it belongs to someone else's session (started by hand from a shell, whose
/// session leader another PID namespace's or this one's non-init process is).
pub(super) fn terminal(mode: RunMode, facts: &Facts) -> Terminal {
    match (mode, facts.stdin_tty_session) {
        (RunMode::Exec, _) => Terminal::Keep,
        (_, Some(1)) if facts.sid == 1 && facts.pid != 1 => Terminal::ProcessGroup,
        (_, Some(sid)) if sid != facts.sid || facts.sid != facts.pid => Terminal::NewSession,
        _ => Terminal::ProcessGroup,
    }
}

/// `--keep-fd`: sorted, deduplicated, above 2, open now, at most MAX_KEEP_FDS.
pub(super) fn keep_fds(given: &[i32], facts: &Facts) -> Result<Vec<i32>> {
    let mut keep_fds = given.to_vec();
    keep_fds.sort();
    keep_fds.dedup();
    for fd in &keep_fds {
        if *fd <= 2 {
            return Err(Error::config(format!(
                "--keep-fd {fd}: descriptors 0, 1 and 2 are always passed on; name descriptors above 2"
            )));
        }
        if !facts.open_fds.contains(fd) {
            return Err(Error::config(format!(
                "--keep-fd {fd}: descriptor {fd} is not open in secure-init; open it before starting secure-init or drop the option"
            )));
        }
    }
    if keep_fds.len() > MAX_KEEP_FDS {
        return Err(Error::config(format!(
            "--keep-fd: at most {MAX_KEEP_FDS} descriptors can be passed on"
        )));
    }
    Ok(keep_fds)
}

/// The child's environment: what secure-init inherited, less what it consumes (its own
/// variables, the Jupyter password, what its Jupyter configuration replaces), with HOME,
/// USER and LOGNAME as planned and Jupyter's variables.
pub(super) fn child_env(
    facts: &Facts,
    identity: &Identity,
    jupyter: Option<&crate::jupyter::JupyterPlan>,
) -> Vec<(OsString, OsString)> {
    let configured = jupyter.is_some_and(|j| j.settings.is_some());
    let mut env: Vec<(OsString, OsString)> = facts
        .env
        .iter()
        .filter(|(k, _)| !is_consumed(k))
        // The password is ours alone; the rest only when secure-init owns the config.
        .filter(|(k, _)| k != "JUPYTER_PASSWORD")
        .filter(|(k, _)| !(configured && crate::jupyter::REMOVED_ENV.iter().any(|r| k == r)))
        .filter(|(k, _)| !jupyter.is_some_and(|j| j.env_set.iter().any(|(n, _)| k == n.as_str())))
        .filter(|(k, _)| k != "HOME" && k != "USER" && k != "LOGNAME")
        .cloned()
        .collect();
    let user = identity
        .user_name
        .clone()
        .unwrap_or_else(|| identity.uid.to_string());
    env.push(("HOME".into(), identity.home.clone().into_os_string()));
    env.push(("USER".into(), user.clone().into()));
    env.push(("LOGNAME".into(), user.into()));
    for (k, v) in jupyter.iter().flat_map(|j| j.env_set.iter()) {
        env.push((k.into(), v.into()));
    }
    env
}

/// The command as C strings, and the paths to try (execvp-style, over the child's PATH).
pub(super) fn argv_and_candidates(
    run: &[OsString],
    env: &[(OsString, OsString)],
) -> Result<(Vec<CString>, Vec<CString>)> {
    let argv = run
        .iter()
        .map(|a| sandbox::cstring(a.as_bytes(), "an argument"))
        .collect::<Result<Vec<_>>>()?;
    let candidates = sandbox::exec_candidates(&run[0], env)?;
    Ok((argv, candidates))
}
