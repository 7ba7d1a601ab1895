//! The reference model the compiled filter is tested against (tests only): the profile as
//! a stack of one linear seccompiler filter per action under `defaultAction`, whose combined
//! kernel verdict — the most restrictive action, the most recently installed on ties — the
//! single filter of `compile.rs` must reproduce exactly; and a classic-BPF interpreter to
//! run both.

use super::compile::to_rules;
use super::profile::{parse, Action, BUILTIN};
use super::resolve::{resolve, syscall_nr, Conds, Resolved};
use super::testutil::target;
use crate::error::Result;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule, TargetArch};
use std::collections::BTreeMap;

/// One filter's rules with its mismatch and match actions.
type FilterRules = (
    BTreeMap<i64, Vec<SeccompRule>>,
    SeccompAction,
    SeccompAction,
);

impl Resolved {
    /// The reference model (tests): the profile as a stack of filters, one per action, in
    /// installation order — (rules, mismatch action, match action) — whose combined kernel
    /// verdict the single compiled filter must reproduce exactly.
    fn filter_rules(&self) -> Result<Vec<FilterRules>> {
        let mut out = Vec::new();
        // 1. one filter per non-allow action, each allowing everything else (so none of them
        //    stops the `seccomp` calls that install the next filters)
        for (a, m) in &self.groups {
            if *a == Action::Allow || m.is_empty() {
                continue;
            }
            let rules = m
                .iter()
                .map(|(nr, (_, c))| Ok((*nr, to_rules(c)?)))
                .collect::<Result<BTreeMap<_, _>>>()?;
            out.push((rules, SeccompAction::Allow, a.to_seccompiler()));
        }
        // 2. the base filter, installed last: every syscall any rule names, with the union
        //    of its conditions, is allowed; everything else gets the default action. A
        //    profile therefore need not allow `seccomp` itself, as with a single filter.
        if self.default != Action::Allow {
            let mut union: BTreeMap<i64, Conds> = BTreeMap::new();
            for (_, m) in &self.groups {
                for (nr, (_, c)) in m {
                    let slot = union.entry(*nr).or_insert_with(|| Some(Vec::new()));
                    match (slot.as_mut(), c) {
                        (None, _) => {}
                        (Some(_), None) => *slot = None,
                        (Some(v), Some(g)) => {
                            for x in g {
                                if !v.contains(x) {
                                    v.push(x.clone());
                                }
                            }
                        }
                    }
                }
            }
            let rules = union
                .iter()
                .map(|(nr, c)| Ok((*nr, to_rules(c)?)))
                .collect::<Result<BTreeMap<_, _>>>()?;
            out.push((rules, self.default.to_seccompiler(), SeccompAction::Allow));
        }
        Ok(out)
    }
}

/// x86_64: return ENOSYS for x32-ABI syscall numbers; kill other architectures (the
/// reference model's guard, in tests).
fn x32_guard() -> BpfProgram {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    let i = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        i(LD_W_ABS, 0, 0, 4),        // A = seccomp_data.arch
        i(JEQ_K, 1, 0, 0xC000_003E), // AUDIT_ARCH_X86_64
        i(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        i(LD_W_ABS, 0, 0, 0),        // A = seccomp_data.nr
        i(JGE_K, 0, 1, 0x4000_0000), // __X32_SYSCALL_BIT
        i(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        i(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

thread_local!(static STEPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });

/// A classic-BPF interpreter for the instructions seccompiler and the tree emit.
fn run_bpf(prog: &[seccompiler::sock_filter], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = &prog[pc];
        pc += 1;
        STEPS.with(|s| s.set(s.get() + 1));
        match i.code {
            0x20 => {
                a = u32::from_le_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap())
            }
            0x54 => a &= i.k,
            0x05 => pc += i.k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let t = match i.code {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    0x35 => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += if t { i.jt } else { i.jf } as usize;
            }
            0x06 => return i.k,
            c => panic!("unknown BPF instruction {c:#x}"),
        }
    }
}

/// The kernel's verdict for a stack of filters: the most restrictive action wins
/// (compared as signed action values), the most recently installed on ties.
fn stacked(progs: &[BpfProgram], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
    let mut ret = libc::SECCOMP_RET_ALLOW;
    for p in progs.iter().rev() {
        let r = run_bpf(p, nr, arch, args);
        if ((r & 0xffff_0000) as i32) < ((ret & 0xffff_0000) as i32) {
            ret = r;
        }
    }
    ret
}

fn check_single_filter_equals_stack(name: &str, r: &Resolved, large: bool) {
    let interesting = [
        0u64,
        1,
        2,
        8,
        9,
        16,
        38,
        39,
        40,
        41,
        0x20000,
        0x7E02_0000,
        0x1000,
        (1 << 32) | 38,
        u64::MAX,
        0xffff_ffff,
    ];
    let single = r.compile().unwrap();
    assert_eq!(single.len(), 1, "{name}: one filter");
    // the reference: one seccompiler filter per action, linear, under the x32 guard
    let mut stack: Vec<BpfProgram> = vec![];
    if r.arch == TargetArch::x86_64 {
        stack.push(x32_guard());
    }
    for (rules, mismatch, matched) in r.filter_rules().unwrap() {
        stack.push(
            BpfProgram::try_from(SeccompFilter::new(rules, mismatch, matched, r.arch).unwrap())
                .unwrap(),
        );
    }
    let mut nrs: Vec<u32> = (0..600).collect();
    nrs.extend([0x4000_0000, 0x4000_00a5, u32::MAX]);
    let mut checked = 0;
    let beyond = super::compile::beyond_table(r.arch).unwrap();
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    for &nr in &nrs {
        for &a0 in &interesting {
            for &(a1, a2) in &[(0u64, 0u64), (0x7E02_0000, 9), (3, 9)] {
                let args = [a0, a1, a2, 0, 0, 0];
                for arch in [0xC000_003E, 0x4000_0003] {
                    let want = stacked(&stack, nr, arch, &args);
                    let got = run_bpf(&single[0], nr, arch, &args);
                    // x32 numbers under a deny-by-default profile: the stack answers
                    // with the guard's or the default errno, the single filter with the
                    // default; both deny.
                    if nr >= 0x4000_0000 && arch == 0xC000_003E && r.default != Action::Allow {
                        assert_ne!(got, libc::SECCOMP_RET_ALLOW, "{name}: x32 nr {nr:#x}");
                        continue;
                    }
                    // beyond the table: ENOSYS under a deny-by-default profile (runc's stub)
                    if arch == 0xC000_003E && nr >= beyond && r.default != Action::Allow {
                        assert_eq!(got, enosys, "{name}: nr {nr} beyond the table");
                        continue;
                    }
                    assert_eq!(got, want, "{name}: nr {nr} args {args:?} arch {arch:#x}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000);
    // instructions executed for a syscall near the end of the table
    let nr = syscall_nr(TargetArch::x86_64, "add_key").unwrap() as u32;
    let steps = |p: &BpfProgram| {
        STEPS.with(|s| s.set(0));
        run_bpf(p, nr, 0xC000_003E, &[0; 6]);
        STEPS.with(|s| s.get())
    };
    let linear: usize = stack.iter().map(steps).sum();
    let t = steps(&single[0]);
    if large {
        assert!(
            t * 5 < linear,
            "{name}: single filter path {t} vs stacked linear {linear}"
        );
    }
}

#[test]
fn single_filter_matches_the_stacked_reference() {
    for (name, text) in BUILTIN {
        let r = resolve(&parse(text, name).unwrap(), &target(&[])).unwrap();
        check_single_filter_equals_stack(name, &r, true);
        let r = resolve(
            &parse(text, name).unwrap(),
            &target(&["CAP_SYS_ADMIN", "CAP_SYS_NICE"]),
        )
        .unwrap();
        check_single_filter_equals_stack(name, &r, true);
    }
    // conditional rules of several actions on one syscall, as in podman's profile
    // (socket: EINVAL for AF_NETLINK + NETLINK_AUDIT, allowed otherwise), a default
    // errno other than EPERM, a kill action and a denylist-style default allow
    let mixed = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
        {"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"},
        {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":9,"op":"SCMP_CMP_NE"}]},
        {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":16,"op":"SCMP_CMP_NE"}]},
        {"names":["personality"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
        {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
        {"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
        {"names":["mount"],"action":"SCMP_ACT_ERRNO","errnoRet":5},
        {"names":["clone"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
        {"names":["clone"],"action":"SCMP_ACT_ALLOW"}
    ]}"#;
    let r = resolve(&parse(mixed, "mixed").unwrap(), &target(&[])).unwrap();
    check_single_filter_equals_stack("mixed", &r, false);
    let deny = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["mount","umount2"],"action":"SCMP_ACT_ERRNO"},
        {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,"args":[{"index":0,"value":38,"op":"SCMP_CMP_EQ"}]}
    ]}"#;
    let r = resolve(&parse(deny, "deny").unwrap(), &target(&[])).unwrap();
    check_single_filter_equals_stack("deny", &r, false);
}
