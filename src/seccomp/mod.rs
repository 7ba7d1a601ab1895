//! Docker/OCI seccomp profiles, in three stages:
//!
//! - [`profile`]: the JSON model, parsing, actions, the built-in profiles;
//! - [`resolve`]: the profile resolved for one target (capabilities, architecture, kernel);
//! - [`compile`]: the resolved profile as ONE classic-BPF filter (its opcodes: [`bpf`]);
//!
//! plus [`precompiled`] (the built-in profiles compiled at build time) and, in tests,
//! `reference` (the stacked-filter model the single filter must equal).
//!
//! Build-script constraint: `build.rs` compiles `profile`, `resolve`, `compile`, `bpf` and
//! `syscalls` itself (with `#[path]`) to precompile the built-in profiles, so those five
//! files may import only `crate::error`, each other (`super::…`) and external crates —
//! never `crate::sys` or any other module of secure-init. What needs the running system
//! (the kernel version, the native architecture) lives here, in `mod.rs`, which `build.rs`
//! does not compile.

pub mod bpf;
pub mod compile;
pub mod notify;
pub mod precompiled;
pub mod profile;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod testutil {
    //! What the seccomp unit tests share: an x86_64 target on a recent kernel.
    use super::resolve::{resolve, Resolved, Target};
    use crate::error::Result;
    use seccompiler::TargetArch;

    pub fn target(caps: &[&str]) -> Target {
        Target {
            arch: TargetArch::x86_64,
            caps: caps.iter().map(|s| s.to_string()).collect(),
            kernel: (6, 18),
        }
    }

    pub fn resolve_text(t: &str) -> Result<Resolved> {
        resolve(&super::parse(t, "test")?, &target(&[]))
    }
}
pub mod resolve;
mod syscalls;

use crate::error::{Error, Result};
pub use compile::to_kernel;
pub use profile::{builtin, parse, Action, Profile, BUILTIN};
pub use resolve::{resolve, syscall_nr, Resolved, Target};
use seccompiler::TargetArch;

/// The running kernel's (major, minor).
pub fn running_kernel() -> (u32, u32) {
    profile::parse_kernel(&crate::sys::kernel_release()).unwrap_or((0, 0))
}

/// The target of this machine: its architecture and running kernel, with `caps` kept.
pub fn native_target(caps: Vec<String>, kernel: (u32, u32)) -> Result<Target> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => TargetArch::x86_64,
        "aarch64" => TargetArch::aarch64,
        other => {
            return Err(Error::hardening(format!(
                "seccomp: architecture {other} is not supported (x86_64 and aarch64 are); use --seccomp unconfined to run without a filter"
            )))
        }
    };
    Ok(Target { arch, caps, kernel })
}

/// How `r` treats syscall `nr`: its rules, most restrictive first (`errno(1 EPERM)`,
/// `allow if arg0&0x7e020000==0x0`, …), then the default when a condition can fall through.
fn treatment(r: &Resolved, nr: i64) -> String {
    let mut parts: Vec<(Action, String)> = vec![];
    let mut unconditional = false;
    for (a, rules) in &r.groups {
        if let Some((_, conds)) = rules.get(&nr) {
            match conds {
                None => {
                    unconditional = true;
                    parts.push((*a, a.describe()));
                }
                Some(groups) => {
                    let mut alts: Vec<String> = groups
                        .iter()
                        .map(|g| {
                            g.iter()
                                .map(|c| format!("arg{}{}", c.index, c.op.describe(c.value)))
                                .collect::<Vec<_>>()
                                .join(" && ")
                        })
                        .collect();
                    alts.sort();
                    parts.push((*a, format!("{} if {}", a.describe(), alts.join(" || "))));
                }
            }
        }
    }
    parts.sort_by_key(|(a, _)| std::cmp::Reverse(compile::rank_of(*a)));
    let mut out: Vec<String> = parts.into_iter().map(|(_, s)| s).collect();
    if !unconditional {
        out.push(if out.is_empty() {
            r.default.describe()
        } else {
            format!("else {}", r.default.describe())
        });
    }
    out.join("; ")
}

/// Argument vectors that tell two filters apart for `nr`: all zero, and for each argument
/// either profile compares, the compared values and their neighbours (the others zero).
fn probes(rs: &[&Resolved], nr: i64) -> Vec<[u64; 6]> {
    let mut out = vec![[0u64; 6]];
    for r in rs {
        for (_, rules) in &r.groups {
            let Some((_, Some(groups))) = rules.get(&nr) else {
                continue;
            };
            for c in groups.iter().flatten() {
                let mut vals = vec![c.value, c.value.wrapping_sub(1), c.value.wrapping_add(1)];
                if let resolve::CmpOp::MaskedEq(m) = c.op {
                    vals.extend([m, !m & 0xffff_ffff, c.value | !m & 0xffff_ffff]);
                }
                for v in vals {
                    let mut a = [0u64; 6];
                    a[c.index as usize] = if c.wide { v } else { v & 0xffff_ffff };
                    out.push(a);
                }
            }
        }
    }
    out
}

/// The syscalls `a` and `b` treat differently — some argument gets another verdict from
/// their compiled filters — one line each: `name: A's rules -> B's rules`.
pub fn diff(a: &Resolved, b: &Resolved) -> Result<Vec<String>> {
    let (pa, pb) = (to_kernel(&a.compile()?[0]), to_kernel(&b.compile()?[0]));
    let arch = compile::audit_arch(a.arch);
    Ok(resolve::table(a.arch)
        .iter()
        .filter(|(_, nr)| {
            probes(&[a, b], *nr).iter().any(|args| {
                let d = notify::Data {
                    nr: *nr as i32,
                    arch,
                    ip: 0,
                    args: *args,
                };
                notify::evaluate(&pa, &d) != notify::evaluate(&pb, &d)
            })
        })
        .map(|(name, nr)| format!("{name}: {} -> {}", treatment(a, nr), treatment(b, nr)))
        .collect())
}
