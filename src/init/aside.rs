//! The supervisor's step aside from the CPU the command starts on — all of it, in one
//! place. A matter of speed, never of hardening: every step is best effort.
//!
//! Without a companion the child moves the suspended supervisor before its `execve`
//! ([`aside_by_child`]) and the supervisor takes its CPUs back as soon as it runs; with sshd
//! beside the command (started after it, with the supervisor's own CPUs) the supervisor
//! moves itself once sshd runs ([`step_aside`]) and comes back before its wait.

use crate::sandbox::ChildSpec;
use crate::sys;

/// Where the supervisor stands: arranged before the fork, ended by [`StepAside::back`].
pub struct StepAside {
    held: Option<Aside>,
    companion: bool,
}

impl StepAside {
    /// Before the command's fork. Without a companion, `spec` gets the child-made move.
    pub fn arrange(spec: &mut ChildSpec, companion: bool) -> StepAside {
        StepAside {
            held: if companion {
                None
            } else {
                aside_by_child(spec)
            },
            companion,
        }
    }

    /// The command has started (or failed to): the child-made move is taken back at once.
    pub fn spawned(&mut self) {
        if !self.companion {
            step_back(self.held.take());
        }
    }

    /// The companion runs: the supervisor moves itself off the command's CPU now.
    pub fn companion_started(&mut self, child: libc::pid_t) {
        if self.companion {
            self.held = step_aside(child);
        }
    }

    /// Before the supervisor's wait: its whole CPU set back.
    pub fn back(self) {
        step_back(self.held);
    }
}

/// The supervisor's CPUs while it steps aside ([`step_aside`], [`aside_by_child`]): what
/// to restore.
struct Aside(sys::CpuSet);

/// Step aside from the CPU the command starts on, arranged before the fork: the child, while
/// the supervisor is suspended in the vfork, moves it off its own CPU (a sleeping process's
/// affinity changes without any wait), so the kernel wakes it after the exec on another
/// allowed CPU, beside the command rather than before it. The supervisor then takes its
/// whole set back at once with [`step_back`] (it already runs on an allowed CPU: nothing
/// moves): when the command ends early, the CPU it freed is the supervisor's again. This
/// spares the blocking migration of [`step_aside`] (a stop of the command's CPU, and a wait
/// for the other CPU's turn, ~0.1 ms on an idle host). `None` with one CPU allowed.
fn aside_by_child(spec: &mut ChildSpec) -> Option<Aside> {
    let (all, now) = sys::cpus().ok()?;
    // two CPUs at least (the one the child will be on is only known there)
    all.without(now?)?;
    spec.step_aside = Some((sys::getpid(), all));
    Some(Aside(all))
}

/// Step aside from the CPU the just-exec'd command runs on, from the supervisor (after
/// sshd's start, which the child-made move of [`aside_by_child`] cannot cover). The kernel
/// wakes the supervisor from the clone on the CPU where the command's `execve` runs, and
/// lets it run first there: its own work until it waits (the listener descriptor, the
/// state file, the warn-mode audit, its privilege drop: ~0.5 ms) then delays the command's
/// start by as much. Moved
/// to another allowed CPU, it runs beside the command instead. Only this process's own
/// affinity changes, never the command's (nor sshd's: it is started before the move);
/// [`step_back`] restores it before the wait. `None` (nothing changed) with one CPU allowed,
/// or when the kernel refuses: this is a matter of speed, never of hardening. Also `None`
/// when `child` has already ended — on a busy host the kernel often runs a short command to
/// its end before the woken supervisor gets a CPU; a move to another (possibly descheduled)
/// vCPU would then only delay the reaping (`waitid(WNOWAIT)`: the child stays waitable).
fn step_aside(child: libc::pid_t) -> Option<Aside> {
    if sys::has_ended(child) {
        return None;
    }
    let (all, now) = sys::cpus().ok()?;
    let elsewhere = all.without(now?)?;
    sys::set_cpus(&elsewhere).ok()?;
    Some(Aside(all))
}

/// The affinity the supervisor had before [`step_aside`].
fn step_back(a: Option<Aside>) {
    if let Some(Aside(all)) = a {
        if let Err(e) = sys::set_cpus(&all) {
            log::warn!(target: "init.cpus", "cannot restore the supervisor's CPU affinity: {e}; it stays on the other CPUs");
        }
    }
}
