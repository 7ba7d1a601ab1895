//! secure-init binary: everything lives in the library (`secure_init::run`).
//!
//! `no_main`: the C `main` is ours, so std's runtime start-up is skipped — it would read
//! `/proc/self/maps` (through `pthread_getattr_np`) and map an alternate signal stack only to
//! print a message on stack overflow, a fifth of a plain start's instructions. What it would
//! also do — ignore SIGPIPE — `run` does itself; the arguments are taken from `main`'s own
//! `argv` (glibc would also hand them to std; a static musl build does not).
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]

#[cfg(not(test))]
#[allow(unsafe_code)] // the C `main` (`no_mangle`) and reading its argv
#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // (The image is not prefaulted: populating all 2.3 MB took longer than the faults of
    // the pages a start touches, measured A/B as PID 1 — BENCHMARKS.md.)
    secure_init::sys::step_mark("main");
    // SAFETY: argc and argv are what the C runtime passed to main.
    let args = unsafe { secure_init::sys::args_from_main(argc, argv) };
    let code = secure_init::run(args);
    secure_init::sys::step_mark("return");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    code
}
