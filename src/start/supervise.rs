//! Phase 4: the supervisor, beside the running command. As root still: the state file
//! (`secure-init healthcheck`), the warn-mode audit, what will tell why the command ended
//! (the cgroup's OOM counter, the termination log). Then its own posture (a uid of its own,
//! `CAP_KILL` only, `no_new_privs`, non-dumpable, verified), the sshd log relay and the
//! seccomp listener, and the loop: forward, reap, end leftovers, report.

use crate::cli::RunArgs;
use crate::error::Result;
use crate::init;
use crate::plan::Plan;
use crate::sys;

use super::launch::Launched;

/// Supervise the launched command until it ends; returns its exit status.
pub fn supervise(
    plan: &Plan,
    args: &RunArgs,
    launched: Launched,
    learn_out: Option<std::fs::File>,
    audit: crate::audit::Pending,
) -> Result<i32> {
    let Launched {
        companion,
        child,
        listener_fd,
        sshd_log,
        aside,
        listeners,
    } = launched;
    write_state(
        plan,
        &args.state_file,
        child.pid(),
        companion.as_ref().map(|c| c.pid()),
    );
    sys::step_mark("state");

    // The warn-mode audit, read while the command starts (the supervisor is still root:
    // what root could write is what it checks).
    let _ = audit.finish();
    sys::step_mark("audit");
    // What tells why the command will end, opened while still root: the cgroup's OOM
    // counter (its value now) and peak memory, and the termination log (an existing file:
    // Kubernetes mounts one).
    let mut exit_report = init::ExitReport {
        memory: crate::cgroup::Memory::open(),
        termination_log: open_termination_log(&args.termination_log),
    };

    // The supervisor's own posture; secrets it read are already gone. On failure sshd and
    // the command are killed (dropped), in that order.
    if let Err(e) = init::drop_supervisor(&plan.supervisor_posture()) {
        drop(companion);
        return Err(e);
    }
    aside.back();
    sys::step_mark("drop_supervisor");
    // sshd's log lines become events (a thread: the supervisor's loop waits on signals).
    let relay = sshd_log.and_then(|fd| match crate::sshd::events::relay(fd) {
        Ok(h) => Some(h),
        Err(e) => {
            log::warn!(target: "sshd.log", "cannot start the sshd log reader: {e}; sshd's lines are lost");
            None
        }
    });

    // The seccomp listener answers and logs the workload's denials: a thread, started with
    // the first denial (in learn mode at once); the supervisor watches it until then.
    let mut listener = match listener_fd {
        Some(fd) => {
            let learn = match (&plan.seccomp.learn, learn_out) {
                (Some((path, base)), Some(out)) => Some(init::listener::Learn {
                    base: base.clone(),
                    out,
                    path: path.display().to_string(),
                }),
                _ => None,
            };
            init::listener::ListenerState::new(fd, plan.seccomp.programs[0].clone(), learn)
        }
        None => init::listener::ListenerState::Gone,
    };
    sys::step_mark("listener_started");

    // Forward, reap, end leftovers, return the child's status: the loop owns the processes
    // from here.
    let stop = init::Stop {
        grace: plan.stop_grace,
        map: plan.signal_map.clone(),
    };
    let companion = companion.map(|c| init::Companion {
        pid: c.release(),
        name: "sshd",
    });
    let code = init::supervise(
        child.release(),
        plan.kill_process_group,
        companion,
        &mut listener,
        &stop,
        &mut exit_report,
    );
    sys::step_mark("supervised");
    // the services' ports stay held until here: a workload that outlived them never got one
    drop(listeners);
    listener.finish();
    if let Some(h) = relay {
        // every writer is gone (sshd and its sessions ended): the last lines are logged
        h.wait(std::time::Duration::from_secs(2));
    }
    sys::step_mark("finished");
    Ok(code)
}
/// The termination log for the child's exit line: only an existing regular file, never a
/// symlink, never created.
fn open_termination_log(path: &std::path::Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
}

/// Record what runs for `secure-init healthcheck` (as root, before the supervisor drops).
/// A state file that cannot be written is a warning: the health check then falls back to
/// probing Jupyter's port from its flags.
fn write_state(plan: &Plan, path: &std::path::Path, child: libc::pid_t, sshd: Option<libc::pid_t>) {
    let jupyter = plan
        .jupyter
        .as_ref()
        .filter(|j| j.is_server_command)
        .and_then(|j| j.settings.as_ref())
        .map(|s| crate::state::Jupyter {
            port: s.port,
            base_url: s.base_url.clone(),
        });
    let s = crate::state::State {
        version: 1,
        mode: plan.mode.name().into(),
        supervisor_pid: sys::getpid(),
        child_pid: child,
        command: plan.command[0].to_string_lossy().into_owned(),
        jupyter,
        sshd_pid: sshd,
    };
    if let Err(e) = crate::state::write(path, &s) {
        log::warn!(target: "init.state", path = path.display().to_string().as_str();
            "{}: `secure-init healthcheck` will probe Jupyter's port instead", e.msg);
    }
}
