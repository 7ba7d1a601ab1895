//! Compilation of a resolved profile into ONE classic-BPF filter (see [`Resolved::layout`]):
//! a binary search over intervals of syscall numbers, seccompiler's own code for each
//! syscall's argument checks, most restrictive rule group first.
//!
//! Compiled by `build.rs` too (see `seccomp/mod.rs`): imports only `crate::error`, its
//! sibling modules and external crates.

use super::bpf::{self, BPF_JMP, BPF_RET, JEQ_K, JGE_K, JMP_JA, LD_W_ABS, RET_K};
use super::profile::Action;
use super::resolve::{CmpOp, Conds, Resolved};
use crate::error::{Error, Result};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

impl Resolved {
    /// Compile into one filter (a `Vec` so callers need not care how many).
    pub fn compile(&self) -> Result<Vec<BpfProgram>> {
        Ok(vec![self.layout()?])
    }
}

/// Resolved conditions -> seccompiler rules (empty = unconditional).
pub(super) fn to_rules(c: &Conds) -> Result<Vec<SeccompRule>> {
    let err = |e: seccompiler::BackendError| {
        Error::config(format!("seccomp profile: cannot compile: {e}"))
    };
    let Some(groups) = c else { return Ok(vec![]) };
    groups
        .iter()
        .map(|g| {
            let conds = g
                .iter()
                .map(|c| {
                    let len = if c.wide {
                        SeccompCmpArgLen::Qword
                    } else {
                        SeccompCmpArgLen::Dword
                    };
                    let op = match c.op {
                        CmpOp::Ne => SeccompCmpOp::Ne,
                        CmpOp::Lt => SeccompCmpOp::Lt,
                        CmpOp::Le => SeccompCmpOp::Le,
                        CmpOp::Eq => SeccompCmpOp::Eq,
                        CmpOp::Ge => SeccompCmpOp::Ge,
                        CmpOp::Gt => SeccompCmpOp::Gt,
                        CmpOp::MaskedEq(m) => SeccompCmpOp::MaskedEq(m),
                    };
                    SeccompCondition::new(c.index, len, op, c.value).map_err(err)
                })
                .collect::<Result<Vec<_>>>()?;
            SeccompRule::new(conds).map_err(err)
        })
        .collect()
}

/// What one interval of syscall numbers does in the compiled filter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf {
    /// Return this seccomp verdict.
    Ret(u32),
    /// Jump to the i-th argument-check block.
    Block(usize),
}

/// How restrictive an action is (for callers outside the compiler).
pub fn rank_of(a: Action) -> u8 {
    rank(a)
}

/// How restrictive an action is, as the kernel ranks verdicts of stacked filters.
fn rank(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Log => 1,
        Action::Trace(_) => 2,
        Action::Errno(_) => 3,
        Action::Trap => 4,
        Action::KillThread => 5,
        Action::KillProcess => 6,
    }
}

impl Resolved {
    /// The whole profile as ONE filter, laid out as a binary search. The semantics are those
    /// of a stack of one filter per action under `defaultAction`: a syscall gets the most
    /// restrictive action among the rules it matches (between equally restrictive ones, the
    /// rule group that comes later in the profile), and `defaultAction` when it matches none.
    ///
    /// Layout: syscall numbers are cut into intervals with one verdict each (runs of
    /// consecutive syscalls with the same unconditional verdict merge, and so do the gaps);
    /// a balanced tree of `JGE` comparisons finds a number's interval in about
    /// log2(intervals) steps. A syscall with argument conditions jumps to a block that tries
    /// its rule groups from the most restrictive down, each group's checks being seccompiler's
    /// own code for that syscall, until one matches; an unconditional group ends the chain.
    /// One filter means one `seccomp()` call at start, a profile need not allow `seccomp`
    /// itself, and syscalls allowed without conditions stay in the kernel's action cache.
    fn layout(&self) -> Result<BpfProgram> {
        let err = |e: &dyn std::fmt::Display| {
            Error::config(format!("seccomp profile: cannot compile: {e}"))
        };
        let default_ret = u32::from(self.default.to_seccompiler());
        // Every group naming each syscall, most restrictive first (later group first on ties).
        let mut per: BTreeMap<i64, Vec<(usize, Action, &Conds)>> = BTreeMap::new();
        for (gi, (a, m)) in self.groups.iter().enumerate() {
            for (nr, (_, c)) in m {
                per.entry(*nr).or_default().push((gi, *a, c));
            }
        }
        let mut intervals: Vec<(u32, Leaf)> = vec![(0, Leaf::Ret(default_ret))];
        let mut push = |start: u32, leaf: Leaf| {
            // A later interval starting at the same number replaces the earlier one; equal
            // neighbours merge (blocks never do: each is one syscall).
            if intervals.last().map(|l| l.0) == Some(start) {
                intervals.pop();
            }
            match intervals.last() {
                Some(l) if l.1 == leaf && !matches!(leaf, Leaf::Block(_)) => {}
                _ => intervals.push((start, leaf)),
            }
        };
        let mut blocks: Vec<Vec<seccompiler::sock_filter>> = Vec::new();
        for (nr, mut groups) in per {
            let nr32 =
                u32::try_from(nr).map_err(|_| err(&format!("syscall number {nr} out of range")))?;
            groups.sort_by(|x, y| rank(y.1).cmp(&rank(x.1)).then(y.0.cmp(&x.0)));
            let mut chain: Vec<(Action, &Conds)> = Vec::new();
            let mut end_ret = default_ret;
            for (_, a, c) in groups {
                if c.is_none() {
                    end_ret = u32::from(a.to_seccompiler());
                    break;
                }
                chain.push((a, c));
            }
            if chain.is_empty() {
                push(nr32, Leaf::Ret(end_ret));
            } else {
                push(nr32, Leaf::Block(blocks.len()));
                blocks.push(self.chain_block(nr, &chain, end_ret)?);
            }
            if nr32 < u32::MAX {
                push(nr32 + 1, Leaf::Ret(default_ret));
            }
        }
        // Numbers beyond the newest syscall this build knows get ENOSYS, not the default
        // errno (as runc's stub does): a libc that probes a syscall newer than the profile
        // then falls back, as on an older kernel, instead of failing with EPERM.
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        if self.default != Action::Allow {
            if let Some(last) = beyond_table(self.arch) {
                push(last, Leaf::Ret(enosys));
            }
        }
        // x32-ABI numbers share the x86_64 audit arch: they fall in the last interval
        // (ENOSYS above); a default-allow profile still gets ENOSYS for them.
        if self.arch == TargetArch::x86_64 && self.default == Action::Allow {
            push(
                0x4000_0000,
                Leaf::Ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
            );
        }
        enum Ins {
            Raw(seccompiler::sock_filter),
            /// Unconditional jump to block i.
            ToBlock(usize),
        }
        fn tree(iv: &[(u32, Leaf)]) -> Vec<Ins> {
            let raw = |code, jt, jf, k| Ins::Raw(seccompiler::sock_filter { code, jt, jf, k });
            if iv.len() == 1 {
                return vec![match iv[0].1 {
                    Leaf::Ret(k) => raw(RET_K, 0, 0, k),
                    Leaf::Block(b) => Ins::ToBlock(b),
                }];
            }
            let mid = iv.len() / 2;
            let left = tree(&iv[..mid]);
            let right = tree(&iv[mid..]);
            // A >= start of the right half: jump over the left subtree (JA takes 32 bits).
            let mut v = vec![
                raw(JGE_K, 0, 1, iv[mid].0),
                raw(JMP_JA, 0, 0, left.len() as u32),
            ];
            v.extend(left);
            v.extend(right);
            v
        }
        let ins = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
        let mut prog: Vec<seccompiler::sock_filter> = vec![
            ins(LD_W_ABS, 0, 0, 4),
            ins(JEQ_K, 1, 0, audit_arch(self.arch)),
            ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
            ins(LD_W_ABS, 0, 0, 0),
        ];
        let code = tree(&intervals);
        let tree_start = prog.len();
        let mut offsets = Vec::with_capacity(blocks.len());
        let mut at = tree_start + code.len();
        for b in &blocks {
            offsets.push(at);
            at += b.len();
        }
        for (i, c) in code.into_iter().enumerate() {
            prog.push(match c {
                Ins::Raw(f) => f,
                Ins::ToBlock(b) => ins(JMP_JA, 0, 0, (offsets[b] - (tree_start + i + 1)) as u32),
            });
        }
        for b in blocks {
            // block-relative "next group" targets become jumps relative to the instruction
            for (j, mut f) in b.into_iter().enumerate() {
                if f.code == JMP_JA && f.jt == NEXT_MARK {
                    f.jt = 0;
                    f.k -= j as u32 + 1;
                }
                prog.push(f);
            }
        }
        let prog = share_returns(compact(prog));
        if prog.len() > 4096 {
            return Err(err(&format!(
                "filter has {} instructions, over the kernel's 4096",
                prog.len()
            )));
        }
        Ok(prog)
    }

    /// The argument checks of one syscall: its conditional rule groups in order, each
    /// compiled by seccompiler; a group that does not match falls through to the next, the
    /// last one to `end_ret`.
    fn chain_block(
        &self,
        nr: i64,
        chain: &[(Action, &Conds)],
        end_ret: u32,
    ) -> Result<Vec<seccompiler::sock_filter>> {
        let err = |e: &dyn std::fmt::Display| {
            Error::config(format!("seccomp profile: cannot compile: {e}"))
        };
        let mut parts: Vec<Vec<seccompiler::sock_filter>> = Vec::new();
        for (a, c) in chain {
            let matched = a.to_seccompiler();
            // A mismatch verdict no rule can produce marks "try the next group".
            let sentinel = if matched == SeccompAction::Trace(0xfffe) {
                SeccompAction::Trace(0xfffd)
            } else {
                SeccompAction::Trace(0xfffe)
            };
            let sentinel_k = u32::from(sentinel.clone());
            let single: BTreeMap<i64, Vec<SeccompRule>> =
                [(nr, to_rules(c)?)].into_iter().collect();
            let f =
                SeccompFilter::new(single, sentinel, matched, self.arch).map_err(|e| err(&e))?;
            let prog = BpfProgram::try_from(f).map_err(|e| err(&e))?;
            // seccompiler's shape: 3 arch-check instructions, `LD nr`, `JEQ nr`, then the
            // rules (self-contained: every path ends in a RET). The `JEQ nr` is dropped: the
            // dispatch already chose this syscall, and after an earlier part the accumulator
            // holds an argument, not the number. Nothing jumps to it, and every later jump
            // is relative, so the rest stands as compiled.
            if prog.len() < 6
                || prog[3].code != LD_W_ABS
                || prog[3].k != 0
                || prog[4].code != JEQ_K
                || prog[4].k as i64 != nr
            {
                return Err(err(&"unexpected seccompiler output"));
            }
            let mut part = prog[5..].to_vec();
            for f in part.iter_mut() {
                if f.code == RET_K && f.k == sentinel_k {
                    // placeholder: "jump to the end of this part"; resolved below
                    *f = seccompiler::sock_filter {
                        code: JMP_JA,
                        jt: NEXT_MARK,
                        jf: 0,
                        k: 0,
                    };
                }
            }
            parts.push(part);
        }
        // Concatenate; a part's "next" jumps land on the following part, the last part's on
        // a final RET end_ret. Offsets are stored block-relative (k = target index) and made
        // relative to each instruction in `layout`.
        let mut out: Vec<seccompiler::sock_filter> = Vec::new();
        for part in parts {
            let next = (out.len() + part.len()) as u32;
            for mut f in part {
                if f.code == JMP_JA && f.jt == NEXT_MARK {
                    f.k = next;
                }
                out.push(f);
            }
        }
        out.push(seccompiler::sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: end_ret,
        });
        Ok(out)
    }
}

/// Take the unconditional jumps out of a laid-out program where the conditional jumps can
/// reach their final targets themselves. The layout above (and seccompiler's argument
/// code) writes every comparison as `Jcc 0,1` + `JA far`, and chains of `JA`; a
/// conditional jump reaches 255 instructions, which most targets here are within. Every
/// jump is pointed at the end of the `JA` chain it lands on, and a `JA` that no instruction
/// falls into (the one before it jumps or returns) and no jump still needs is dropped.
/// Same verdict for every input (the reference test runs both); for the pytorch profile
/// 291 → 184 instructions, so the kernel converts and JIT-compiles a third less at each
/// start, and a syscall's path through the filter is shorter.
fn compact(prog: Vec<seccompiler::sock_filter>) -> Vec<seccompiler::sock_filter> {
    let n = prog.len();
    // Absolute targets (a malformed target — past the end — leaves the program as it is).
    let target = |i: usize, off: u32| i + 1 + off as usize;
    let mut bad = false;
    for (i, f) in prog.iter().enumerate() {
        let reach = if is_ja(f) {
            target(i, f.k)
        } else if is_cond(f) {
            target(i, f.jt.max(f.jf) as u32)
        } else {
            i
        };
        bad |= reach >= n;
    }
    if bad {
        return prog;
    }
    // Where a jump to `t` ends up after following JAs (the chain is acyclic: JA only jumps
    // forward).
    let settle = |mut t: usize| {
        while is_ja(&prog[t]) {
            t = target(t, prog[t].k);
        }
        t
    };
    // A JA can go when nothing falls into it: it is first, or the instruction before it
    // is a jump or a return.
    let falls_in = |j: usize| {
        j == 0 || {
            let p = &prog[j - 1];
            bpf::class(p.code) != BPF_JMP && bpf::class(p.code) != BPF_RET
        }
    };
    let mut drop: Vec<bool> = (0..n).map(|j| is_ja(&prog[j]) && !falls_in(j)).collect();
    // Conditional jumps whose settled target would be out of reach keep their first hop.
    let mut direct = vec![[false; 2]; n];
    loop {
        let mut new_at = Vec::with_capacity(n + 1);
        let mut k = 0;
        for d in &drop {
            new_at.push(k);
            k += usize::from(!d);
        }
        new_at.push(k);
        let dest = |i: usize, off: u8, direct: bool| {
            let t = target(i, off as u32);
            if direct {
                t
            } else {
                settle(t)
            }
        };
        let mut changed = false;
        for i in 0..n {
            if drop[i] || !is_cond(&prog[i]) {
                continue;
            }
            for (b, off) in [prog[i].jt, prog[i].jf].into_iter().enumerate() {
                let t = dest(i, off, direct[i][b]);
                if new_at[t] - new_at[i] - 1 > 255 {
                    // keep the first hop, and the instruction it lands on
                    direct[i][b] = true;
                    let first = target(i, off as u32);
                    drop[first] = false;
                    changed = true;
                }
            }
        }
        if !changed {
            let mut out = Vec::with_capacity(k);
            for (i, f) in prog.iter().enumerate() {
                if drop[i] {
                    continue;
                }
                let mut g = f.clone();
                // (offsets that do not fit — which the loop above rules out — leave the
                // program as it was rather than truncate a jump)
                if is_ja(f) {
                    let Ok(off) = u32::try_from(new_at[settle(target(i, f.k))] - new_at[i] - 1)
                    else {
                        return prog;
                    };
                    g.k = off;
                } else if is_cond(f) {
                    let fit = |t: usize| u8::try_from(new_at[t] - new_at[i] - 1).ok();
                    let (Some(jt), Some(jf)) = (
                        fit(dest(i, f.jt, direct[i][0])),
                        fit(dest(i, f.jf, direct[i][1])),
                    ) else {
                        return prog;
                    };
                    (g.jt, g.jf) = (jt, jf);
                }
                out.push(g);
            }
            return out;
        }
    }
}

/// Let the jumps that land on a `RET K` share one: each is pointed at the farthest `RET`
/// of the same value it can reach (a conditional jump 255 instructions, `JA` any), and a
/// `RET` that no jump targets any more and nothing falls into (the instruction before it
/// jumps or returns) is dropped. The layout ends every leaf of its search tree with a
/// return of its own; a filter has three or four distinct ones. Same verdict for every
/// input (the random-program test runs both); `pytorch` 184 → 103 instructions, so the
/// kernel converts, checks and JIT-compiles ~45 % less at each start. Targets past the end
/// (malformed) leave the program as it is.
fn share_returns(prog: Vec<seccompiler::sock_filter>) -> Vec<seccompiler::sock_filter> {
    let n = prog.len();
    let is_ret_k = |f: &seccompiler::sock_filter| f.code == RET_K;
    // every jump's absolute targets; a malformed one leaves the program as it is
    let mut targets: Vec<[Option<usize>; 2]> = vec![[None; 2]; n];
    for (i, f) in prog.iter().enumerate() {
        if is_ja(f) {
            targets[i][0] = (i + 1).checked_add(f.k as usize);
        } else if is_cond(f) {
            targets[i] = [Some(i + 1 + f.jt as usize), Some(i + 1 + f.jf as usize)];
        }
        if targets[i].iter().flatten().any(|t| *t >= n) {
            return prog;
        }
    }
    // the positions of each RET K, ascending
    let mut rets: Vec<(u32, usize)> = prog
        .iter()
        .enumerate()
        .filter(|(_, f)| is_ret_k(f))
        .map(|(j, f)| (f.k, j))
        .collect();
    rets.sort_unstable();
    let farthest = |k: u32, from: usize, reach: usize| {
        let lo = rets.partition_point(|&(rk, j)| (rk, j) < (k, from));
        let hi = rets.partition_point(|&(rk, j)| (rk, j) <= (k, reach));
        rets[lo..hi].last().map(|&(_, j)| j).unwrap_or(from)
    };
    let mut targeted = vec![false; n];
    for i in 0..n {
        let reach = if is_ja(&prog[i]) { usize::MAX } else { i + 256 };
        for t in targets[i].iter_mut().flatten() {
            if is_ret_k(&prog[*t]) {
                *t = farthest(prog[*t].k, *t, reach);
            }
            targeted[*t] = true;
        }
    }
    let drop: Vec<bool> = (0..n)
        .map(|j| {
            j > 0
                && is_ret_k(&prog[j])
                && !targeted[j]
                && matches!(bpf::class(prog[j - 1].code), BPF_JMP | BPF_RET)
        })
        .collect();
    let mut new_at = Vec::with_capacity(n);
    let mut k = 0;
    for d in &drop {
        new_at.push(k);
        k += usize::from(!d);
    }
    let mut out = Vec::with_capacity(k);
    for (i, f) in prog.iter().enumerate() {
        if drop[i] {
            continue;
        }
        let mut g = f.clone();
        let off = |t: usize| new_at[t] - new_at[i] - 1;
        match targets[i] {
            [Some(t), None] => {
                let Ok(o) = u32::try_from(off(t)) else {
                    return prog;
                };
                g.k = o;
            }
            [Some(t), Some(e)] => {
                // (distances only shrink: a target within reach before stays within it)
                let (Ok(jt), Ok(jf)) = (u8::try_from(off(t)), u8::try_from(off(e))) else {
                    return prog;
                };
                (g.jt, g.jf) = (jt, jf);
            }
            _ => {}
        }
        out.push(g);
    }
    out
}

fn is_ja(f: &seccompiler::sock_filter) -> bool {
    f.code == JMP_JA
}

/// A conditional jump (any comparison; not `JA`).
fn is_cond(f: &seccompiler::sock_filter) -> bool {
    bpf::class(f.code) == BPF_JMP && !is_ja(f)
}

/// Marks a chain-block jump whose `k` still holds a block-relative target (JA ignores jt).
const NEXT_MARK: u8 = 0xA5;

/// The first syscall number after the newest one in this build's table for `arch`.
pub fn beyond_table(arch: TargetArch) -> Option<u32> {
    let max = super::resolve::table(arch).iter().map(|(_, nr)| nr).max()?;
    u32::try_from(max + 1).ok()
}

pub fn audit_arch(a: TargetArch) -> u32 {
    match a {
        TargetArch::x86_64 => 0xC000_003E,
        TargetArch::aarch64 => 0xC000_00B7,
        TargetArch::riscv64 => 0xC000_00F3,
    }
}

/// Convert seccompiler's instructions into the kernel's layout.
pub fn to_kernel(prog: &BpfProgram) -> Vec<libc::sock_filter> {
    prog.iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::seccomp::profile::{parse, BUILTIN};
    use crate::seccomp::resolve::resolve;
    use crate::seccomp::testutil::{resolve_text, target};

    #[test]
    fn builtins_compile() {
        for (name, text) in BUILTIN {
            let r = resolve(&parse(text, name).unwrap(), &target(&[])).unwrap();
            let progs = r.compile().unwrap();
            assert_eq!(progs.len(), 1, "{name}");
            assert!(progs.iter().all(|p| p.len() < 4096));
        }
    }

    /// The compaction keeps every verdict, drops the `JA`s a conditional jump can do
    /// without, and keeps those it cannot (a target more than 255 instructions away).
    #[test]
    fn compaction_keeps_verdicts_and_far_jumps() {
        use super::compact;
        use crate::seccomp::bpf::{JEQ_K, JMP_JA, LD_W_ABS, RET_K};
        use crate::seccomp::notify::{interpret, Data};
        let ins = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
        // nr 1 -> far RET 7 (300 fillers away), nr 2 -> near RET 8 through a JA chain,
        // anything else -> RET 9
        let mut p = vec![
            ins(LD_W_ABS, 0, 0, 0),
            ins(JEQ_K, 0, 1, 1),
            ins(JMP_JA, 0, 0, 305),
            ins(JEQ_K, 0, 1, 2),
            ins(JMP_JA, 0, 0, 1),
            ins(RET_K, 0, 0, 9),
            ins(JMP_JA, 0, 0, 0),
            ins(RET_K, 0, 0, 8),
        ];
        p.extend((0..300).map(|i| ins(RET_K, 0, 0, 100 + i)));
        p.push(ins(RET_K, 0, 0, 7));
        let c = compact(p.clone());
        let verdict = |prog: &[seccompiler::sock_filter], nr| {
            let prog: Vec<libc::sock_filter> = prog
                .iter()
                .map(|f| libc::sock_filter {
                    code: f.code,
                    jt: f.jt,
                    jf: f.jf,
                    k: f.k,
                })
                .collect();
            interpret(
                &prog,
                &Data {
                    nr,
                    ..Data::default()
                },
                true,
            )
        };
        for nr in 0..5 {
            assert_eq!(verdict(&c, nr), verdict(&p, nr), "nr {nr}");
        }
        assert_eq!(verdict(&c, 1), Some(7));
        assert_eq!(verdict(&c, 2), Some(8));
        // the far JA stays, the chain to RET 8 goes
        assert_eq!(c.iter().filter(|f| f.code == JMP_JA).count(), 1);
        assert_eq!(c.len(), p.len() - 2);
        // the pytorch profile: the comparisons jump by themselves
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == "pytorch").unwrap();
        let r = resolve(&parse(text, "pytorch").unwrap(), &target(&[])).unwrap();
        let prog = &r.compile().unwrap()[0];
        let ja = prog.iter().filter(|f| f.code == JMP_JA).count();
        assert!(
            ja < 10 && prog.len() < 200,
            "{} instructions, {ja} JA",
            prog.len()
        );
    }

    /// Random forward-jumping programs (loads, comparisons of every kind, JA chains, returns,
    /// offsets up to 255 and JAs across the whole program): the compacted program gives the
    /// verdict of the original for inputs made of the constants the program compares with.
    #[test]
    fn compaction_keeps_verdicts_of_random_programs() {
        use super::{compact, share_returns};
        use crate::seccomp::bpf::{JEQ_K, JGE_K, JGT_K, JMP_JA, JSET_K, LD_W_ABS, RET_K};
        use crate::seccomp::notify::{interpret, Data};
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let ins = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
        let to_libc = |p: &[seccompiler::sock_filter]| -> Vec<libc::sock_filter> {
            p.iter()
                .map(|f| libc::sock_filter {
                    code: f.code,
                    jt: f.jt,
                    jf: f.jf,
                    k: f.k,
                })
                .collect()
        };
        let mut shrunk = 0;
        let mut shared = 0;
        for _ in 0..300 {
            let n = 2 + rnd(700) as usize;
            let mut p = Vec::with_capacity(n);
            for i in 0..n - 1 {
                let left = (n - i - 2) as u64; // instructions after the next one
                let k = rnd(8) as u32;
                p.push(match rnd(10) {
                    0 => ins(LD_W_ABS, 0, 0, [0, 16, 20][rnd(3) as usize]),
                    1..=4 => {
                        let code = [JEQ_K, JGE_K, JGT_K, JSET_K][rnd(4) as usize];
                        let jt = rnd(left.min(255) + 1) as u8;
                        let jf = rnd(left.min(255) + 1) as u8;
                        ins(code, jt, jf, k)
                    }
                    5..=7 => {
                        let reach = if rnd(4) == 0 { 1000 } else { 3 };
                        ins(JMP_JA, 0, 0, rnd(left.min(reach) + 1) as u32)
                    }
                    _ => ins(RET_K, 0, 0, 0x7fff_0000 | k),
                });
            }
            p.push(ins(RET_K, 0, 0, 0x0005_0001));
            let c = compact(p.clone());
            assert!(c.len() <= p.len());
            shrunk += usize::from(c.len() < p.len());
            // the returns shared, after the compaction (as compile does) and alone
            let (s, sc) = (share_returns(p.clone()), share_returns(c.clone()));
            assert!(s.len() <= p.len() && sc.len() <= c.len());
            shared += usize::from(sc.len() < c.len());
            let (pl, cl) = (to_libc(&p), to_libc(&c));
            let (sl, scl) = (to_libc(&s), to_libc(&sc));
            for _ in 0..40 {
                let mut d = Data {
                    nr: rnd(9) as i32,
                    ..Data::default()
                };
                d.args[0] = rnd(9);
                d.args[1] = rnd(9);
                let want = interpret(&pl, &d, true);
                assert_eq!(interpret(&cl, &d, true), want, "{d:?}");
                assert_eq!(interpret(&sl, &d, true), want, "shared: {d:?}");
                assert_eq!(interpret(&scl, &d, true), want, "compacted, shared: {d:?}");
            }
        }
        assert!(shrunk > 200, "the pass did something: {shrunk}");
        assert!(shared > 200, "the returns were shared: {shared}");
    }

    #[test]
    fn denylist_profile_compiles_to_one_filter() {
        let r = resolve_text(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let p = r.compile().unwrap();
        assert_eq!(p.len(), 1);
    }
}
