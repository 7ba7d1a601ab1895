//! Secrets: the kernel's CSPRNG, and scrubbing a value out of this process's environment.

use super::Errno;
use std::ffi::CStr;

/// Fill `buf` from the kernel's CSPRNG (`getrandom`).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Errno> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination range lies inside buf.
        let rc = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        if rc < 0 {
            if Errno::last().0 == libc::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        got += rc as usize;
    }
    Ok(())
}

extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Overwrite, in place, the value of environment variable `name` with NUL bytes, so the
/// secret is gone from this process's memory and from /proc/PID/environ.
///
/// # Safety
/// The process must be single-threaded and no reference into the environment (from
/// `std::env::var_os` and the like, or libc's `getenv`) may be alive: this bypasses std's
/// environment lock and changes the strings in place.
pub unsafe fn scrub_env_value(name: &str) {
    let key = name.as_bytes();
    // SAFETY: environ is the NULL-terminated array of NUL-terminated strings that libc
    // maintains; we only write NUL bytes inside the bounds of one string's value (up to its
    // terminating NUL), and the process is single-threaded.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return;
        }
        while !(*p).is_null() {
            let s = *p as *mut u8;
            let entry = CStr::from_ptr(s as *const libc::c_char).to_bytes();
            if entry.len() > key.len() && entry.starts_with(key) && entry[key.len()] == b'=' {
                let mut q = s.add(key.len() + 1);
                while *q != 0 {
                    *q = 0;
                    q = q.add(1);
                }
            }
            p = p.add(1);
        }
    }
}
