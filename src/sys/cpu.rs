//! CPU affinity: the supervisor's step aside from the CPU the command starts on.

use super::Errno;

/// A set of CPUs (plain data).
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

/// The CPUs this thread may run on, and the one it runs on now (when known).
pub fn cpus() -> Result<(CpuSet, Option<usize>), Errno> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size given.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(Errno::last());
    }
    // SAFETY: sched_getcpu has no preconditions.
    let now = unsafe { libc::sched_getcpu() };
    Ok((CpuSet(set), usize::try_from(now).ok()))
}

impl CpuSet {
    /// The set without `cpu`; `None` when that leaves nothing.
    pub fn without(&self, cpu: usize) -> Option<CpuSet> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return None;
        }
        let mut s = self.0;
        // SAFETY: `cpu` is within the set's size (checked above); `s` is a valid set.
        let left = unsafe {
            libc::CPU_CLR(cpu, &mut s);
            libc::CPU_COUNT(&s)
        };
        (left > 0).then_some(CpuSet(s))
    }
}

/// Let `pid` run on `set` without the CPU the caller runs on now (`sched_setaffinity` of
/// another process: for one that sleeps it only changes the mask, it moves nothing and
/// waits for nothing). `Ok(false)` when that would leave no CPU (one allowed) or the current
/// CPU is unknown. Allocation-free: the child calls it before `execve`.
pub fn move_off_this_cpu(pid: libc::pid_t, set: &CpuSet) -> Result<bool, Errno> {
    // SAFETY: sched_getcpu has no preconditions.
    let now = unsafe { libc::sched_getcpu() };
    let Some(elsewhere) = usize::try_from(now).ok().and_then(|c| set.without(c)) else {
        return Ok(false);
    };
    // SAFETY: `elsewhere` is a valid cpu_set_t of the size given.
    let r = unsafe {
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &elsewhere.0)
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(true)
}

/// Let this thread run on `set` only (`sched_setaffinity`).
pub fn set_cpus(set: &CpuSet) -> Result<(), Errno> {
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set.0) };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn another_process_is_moved_off_the_callers_cpu_and_nowhere_else() {
        // A sleeping process (as the supervisor is, suspended in the vfork) gets every CPU
        // it had but the one the caller runs on; with one CPU nothing changes.
        let cpus_of = |pid: u32| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let l = s
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .unwrap();
            let mut v = vec![];
            for part in l["Cpus_allowed_list:".len()..].trim().split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                v.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
            }
            v
        };
        let (all, _) = super::cpus().unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let before = cpus_of(sleeper.id());
        // pin ourselves, so that "the CPU the caller runs on" is known when it is asked
        let here = before[0];
        // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `here` is below CPU_SETSIZE (a CPU the kernel listed); `one` is valid.
        unsafe { libc::CPU_SET(here, &mut one) };
        super::set_cpus(&super::CpuSet(one)).unwrap();
        let moved = super::move_off_this_cpu(sleeper.id() as libc::pid_t, &all);
        super::set_cpus(&all).unwrap();
        let after = cpus_of(sleeper.id());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        if before.len() == 1 {
            assert_eq!(moved, Ok(false));
            assert_eq!(after, before, "one CPU: nothing may change");
        } else {
            assert_eq!(moved, Ok(true));
            let expected: Vec<usize> = before.iter().copied().filter(|c| *c != here).collect();
            assert_eq!(after, expected);
        }
        // a process that is not there: the kernel's answer, not a panic
        assert_eq!(
            super::move_off_this_cpu(i32::MAX, &all).map_err(|e| e.raw()),
            if before.len() == 1 {
                Ok(false)
            } else {
                Err(libc::ESRCH)
            }
        );
    }
}
