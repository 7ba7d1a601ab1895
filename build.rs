//! Compiles the built-in seccomp profiles (profiles/*.json) for the target architecture at
//! build time, with the same code the binary uses at run time (src/seccomp), so the default
//! start needs no JSON parsing, resolution or BPF generation. The result is only used when
//! no capability is kept and the running kernel is at least the profile's highest
//! `minKernel`; a unit test checks it equals what run-time compilation produces.

use std::fmt::Write as _;

#[allow(dead_code)]
#[path = "src/error.rs"]
mod error;

/// The parts of src/seccomp that need nothing of the running system (see the build-script
/// constraint in src/seccomp/mod.rs).
#[allow(dead_code)]
#[path = "src/seccomp"]
mod seccomp {
    pub mod compile;
    pub mod profile;
    pub mod resolve;
    mod syscalls;
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/seccomp");
    println!("cargo:rerun-if-changed=src/error.rs");
    println!("cargo:rerun-if-changed=profiles");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => Some(seccompiler::TargetArch::x86_64),
        Ok("aarch64") => Some(seccompiler::TargetArch::aarch64),
        _ => None,
    };
    let mut code = String::from("pub static PRECOMPILED: &[Precompiled] = &[\n");
    for (name, text) in seccomp::profile::BUILTIN.iter().filter(|_| arch.is_some()) {
        let profile = seccomp::profile::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let target = seccomp::resolve::Target {
            arch: arch.unwrap(),
            caps: vec![],
            kernel: (u32::MAX, u32::MAX),
        };
        let r =
            seccomp::resolve::resolve(&profile, &target).unwrap_or_else(|e| panic!("{name}: {e}"));
        let progs = r.compile().unwrap_or_else(|e| panic!("{name}: {e}"));
        let (ka, kb) = seccomp::profile::max_min_kernel(&profile);
        let _ = write!(
            code,
            "    Precompiled {{ name: {name:?}, min_kernel: ({ka}, {kb}), syscalls: {}, skipped_other_arch: &{:?}, programs: &[",
            r.syscall_count(),
            r.skipped_other_arch
        );
        for p in &progs {
            code.push_str("&[");
            for i in p {
                let _ = write!(code, "({}, {}, {}, {}),", i.code, i.jt, i.jf, i.k);
            }
            code.push_str("],");
        }
        code.push_str("] },\n");
    }
    code.push_str("];\n");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("precompiled.rs");
    std::fs::write(out, code).expect("write precompiled.rs");
}
