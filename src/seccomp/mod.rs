//! Docker/OCI seccomp profiles, in three stages:
//!
//! - [`profile`]: the JSON model, parsing, actions, the built-in profiles;
//! - [`resolve`]: the profile resolved for one target (capabilities, architecture, kernel);
//! - [`compile`]: the resolved profile as ONE classic-BPF filter;
//!
//! plus [`precompiled`] (the built-in profiles compiled at build time) and, in tests,
//! `reference` (the stacked-filter model the single filter must equal).
//!
//! Build-script constraint: `build.rs` compiles `profile`, `resolve`, `compile` and
//! `syscalls` itself (with `#[path]`) to precompile the built-in profiles, so those four
//! files may import only `crate::error`, each other (`super::…`) and external crates —
//! never `crate::sys` or any other module of secure-init. What needs the running system
//! (the kernel version, the native architecture) lives here, in `mod.rs`, which `build.rs`
//! does not compile.

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
