//! The start-up recipe (docs: "Operation"), in four phases, one file each. Each phase hands
//! the next what it made, typed, so that no phase reaches back:
//!
//! 1. [`prepare`]: facts, the plan (a pure function of options and facts), `--dry-run`,
//!    the read-only preflights (GPU, model files, the strict audit). A failure here has
//!    changed nothing (exit 64/65/69/78).
//! 2. [`effects`]: what must exist before the command runs — the fallback HOME, the Jupyter
//!    and sshd configurations, the learn output, the Landlock ruleset. Each effect returns
//!    what it grants the workload; the plan is finished there, once, and read-only after.
//! 3. [`launch`]: the command (and sshd beside it) started. From here no exit path may leave
//!    them running: each is a [`launch::Running`], killed and reaped when dropped, until the
//!    supervisor's loop takes it over.
//! 4. [`supervise`]: the supervisor's own posture, then forward, reap, end, report.
//!
//! The child's own steps (between fork and exec) are `sandbox::harden`; the loop is
//! `init::supervise`.

mod effects;
mod launch;
mod prepare;
mod supervise;

use crate::cli::RunArgs;
use crate::error::Result;
use crate::init;
use crate::plan::RunMode;

/// Run the command under the plan made from `args`. Returns the exit status.
pub fn run(args: &RunArgs) -> Result<i32> {
    // Every asynchronous signal is blocked first: one that arrives while we prepare is
    // forwarded once the command runs, or stops the start before it does.
    let sigmask = init::block_signals()?;
    let Some(prepared) = prepare::prepare(args)? else {
        return Ok(0); // --dry-run: the plan was printed
    };
    let (plan, held) = effects::apply(prepared.plan)?;
    if plan.mode == RunMode::Exec {
        return launch::exec_in_place(&plan, held, sigmask, prepared.audit);
    }
    let launched = match launch::launch(&plan, held.landlock, sigmask)? {
        launch::Outcome::Started(l) => l,
        launch::Outcome::Stopped(code) => return Ok(code),
    };
    supervise::supervise(&plan, args, launched, held.learn_out, prepared.audit)
}
