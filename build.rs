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
    loader_search_path();
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => Some(seccompiler::TargetArch::x86_64),
        Ok("aarch64") => Some(seccompiler::TargetArch::aarch64),
        _ => None,
    };
    let mut code = String::from("pub static PRECOMPILED: &[Precompiled] = &[\n");
    for (name, _) in seccomp::profile::BUILTIN.iter().filter(|_| arch.is_some()) {
        let profile = seccomp::profile::parse_builtin(name)
            .expect("a built-in")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
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

/// The binary finds its own libraries (libgcc_s, libc) in the system directories BEFORE
/// `LD_LIBRARY_PATH`: an old-style DT_RPATH (not DT_RUNPATH, which comes after
/// `LD_LIBRARY_PATH`). The dynamic loader runs before `main`, so secure-init's refusal of an
/// empty `LD_LIBRARY_PATH` entry (the current directory) comes too late to stop a library
/// planted in the working directory from running as root — in every start and in
/// `secure-init healthcheck` under `docker exec`. With the system directories first, such a
/// library is never looked for.
fn loader_search_path() {
    let multiarch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86_64-linux-gnu",
        Ok("aarch64") => "aarch64-linux-gnu",
        _ => return,
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let dirs = format!("/lib/{multiarch}:/usr/lib/{multiarch}:/lib64:/usr/lib64:/lib:/usr/lib");
    println!("cargo:rustc-link-arg-bins=-Wl,--disable-new-dtags,-rpath,{dirs}");
}
