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
    pub mod bpf;
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
    static_unwinder();
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

/// The unwinder (`_Unwind_*`, which std's backtrace code references) is linked statically
/// from gcc's libgcc_eh.a instead of loading libgcc_s.so.1 at every start: rustc asks for
/// `-lgcc_s`, and a linker script of that name, found first, answers with `-lgcc_eh`. One
/// library fewer to look up, map and relocate — and libgcc_s's constructor runs CPUID a dozen
/// times, each a trap to the hypervisor in a VM (~11 µs apiece on the development machine).
/// Only where gcc has the static archive; elsewhere the usual shared library is linked.
fn static_unwinder() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
        || std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu")
        || std::env::var("CARGO_CFG_TARGET_FEATURE")
            .unwrap_or_default()
            .split(',')
            .any(|f| f == "crt-static")
    {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let found = std::process::Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| std::path::Path::new(p).is_absolute());
    let Some(_) = found else {
        println!("cargo:warning=libgcc_eh.a not found: linking the shared libgcc_s");
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create the linker-script directory");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}
