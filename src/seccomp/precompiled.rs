//! The built-in seccomp profiles compiled by build.rs (see there): the default start needs
//! no JSON parsing, resolution or BPF generation.

/// A built-in profile compiled at build time (build.rs) for the target architecture, with
/// no capability kept. Valid on kernels at or above `min_kernel` (the highest `minKernel`
/// the profile tests), where run-time resolution gives the same programs (unit-tested).
#[derive(Debug)]
pub struct Precompiled {
    pub name: &'static str,
    pub min_kernel: (u32, u32),
    pub syscalls: usize,
    pub skipped_other_arch: &'static [&'static str],
    /// Installation order; instructions as (code, jt, jf, k).
    pub programs: &'static [&'static [(u16, u8, u8, u32)]],
}

include!(concat!(env!("OUT_DIR"), "/precompiled.rs"));

/// The precompiled programs of built-in profile `name`, when they apply: no capability is
/// kept and the running kernel is new enough for every `minKernel` test in it.
pub fn lookup(
    name: &str,
    keep_caps: &[String],
    kernel: (u32, u32),
) -> Option<&'static Precompiled> {
    if !keep_caps.is_empty() {
        return None;
    }
    PRECOMPILED
        .iter()
        .find(|p| p.name == name && kernel >= p.min_kernel)
}

#[cfg(test)]
mod tests {
    use crate::seccomp;

    #[test]
    fn build_time_programs_equal_run_time_compilation() {
        let t = seccomp::native_target(vec![], seccomp::running_kernel()).unwrap();
        assert_eq!(super::PRECOMPILED.len(), seccomp::BUILTIN.len());
        for pc in super::PRECOMPILED {
            let p = seccomp::profile::parse_builtin(pc.name).unwrap().unwrap();
            assert!(
                t.kernel >= pc.min_kernel,
                "test kernel too old for {}",
                pc.name
            );
            let r = seccomp::resolve(&p, &t).unwrap();
            let progs: Vec<Vec<(u16, u8, u8, u32)>> = r
                .compile()
                .unwrap()
                .iter()
                .map(|p| p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect())
                .collect();
            let pre: Vec<Vec<(u16, u8, u8, u32)>> =
                pc.programs.iter().map(|p| p.to_vec()).collect();
            assert_eq!(progs, pre, "{}: rebuild (build.rs) is out of date", pc.name);
            assert_eq!(r.syscall_count(), pc.syscalls);
            assert_eq!(r.skipped_other_arch, pc.skipped_other_arch);
        }
        assert!(super::lookup("pytorch", &[], (6, 1)).is_some());
        assert!(super::lookup("pytorch", &["CAP_NET_BIND_SERVICE".into()], (6, 1)).is_none());
        assert!(
            super::lookup("docker-default", &[], (4, 0)).is_none(),
            "minKernel 4.8"
        );
    }
}
