//! What only start-up needs: the arguments `main` received, the step marks of
//! `--features steptime`, and giving back the memory start-up used.

use std::ffi::CStr;

/// `--features steptime` (bench/steps.py only): write `@T <step> <CLOCK_MONOTONIC ns>` to
/// stderr. Allocation-free, so it may mark the child's steps too; without the feature it
/// compiles to nothing.
#[inline(always)]
pub fn step_mark(_step: &str) {
    #[cfg(feature = "steptime")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let mut ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let mut buf = [0u8; 96];
        let name = _step.as_bytes();
        let n = name.len().min(64);
        buf[..3].copy_from_slice(b"@T ");
        buf[3..3 + n].copy_from_slice(&name[..n]);
        let mut i = 3 + n;
        buf[i] = b' ';
        i += 1;
        let mut digits = [0u8; 20];
        let mut d = 0;
        loop {
            digits[d] = b'0' + (ns % 10) as u8;
            d += 1;
            ns /= 10;
            if ns == 0 {
                break;
            }
        }
        while d > 0 {
            d -= 1;
            buf[i] = digits[d];
            i += 1;
        }
        buf[i] = b'\n';
        let _ = super::write_all(2, &buf[..=i]);
    }
}

/// The arguments C's `main` received (std's `args_os` is filled by glibc's start-up hook,
/// which a static musl binary, started through our own `main`, does not have).
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings, as `main` receives them.
pub unsafe fn args_from_main(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: i < argc, and each argv[i] is a NUL-terminated string (the caller's
            // contract).
            let s = unsafe { CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(s.to_bytes()).to_owned()
        })
        .collect()
}

/// Give back the memory only start-up needed: the binary's own mapped pages (parsing,
/// planning and compiling code) and free heap. Pages the supervisor loop touches again fault
/// back in from the page cache (minor faults). Best effort; returns the bytes advised
/// (allocates: parent only).
///
/// # Safety
/// No other thread may map, unmap or `mprotect` this process's memory while it runs: the
/// mappings are chosen from /proc/self/smaps and then advised, and a mapping changed in
/// between (made writable and written, or replaced) would lose its pages. Threads that only
/// read and write their own data and descriptors are no concern.
pub unsafe fn release_startup_memory() -> usize {
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    // Candidate mappings: our executable, not writable, and without a single private
    // (copy-on-write) page: relocated RELRO pages are read-only but modified, and dropping
    // them would revert them to the file's contents.
    let mut candidates: Vec<(usize, usize, bool)> = Vec::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let mut f = line.split_whitespace();
            let perms = f.nth(1).unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            candidates.push((a, b, path == exe && !perms.contains('w')));
        } else if let Some(kb) = line.strip_prefix("Anonymous:") {
            if kb.trim().trim_end_matches("kB").trim() != "0" {
                if let Some(last) = candidates.last_mut() {
                    last.2 = false;
                }
            }
        }
    }
    let mut advised = 0;
    for (a, b, ok) in candidates {
        if !ok {
            continue;
        }
        // SAFETY: MADV_DONTNEED on a read-only, file-backed private mapping of our own
        // executable that holds no private (modified) page only unmaps its pages from this
        // process; they stay in the page cache (the next start of secure-init still finds
        // them) and fault back in from the file on access.
        if unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED) } == 0 {
            advised += b - a;
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel (glibc's; musl's
    // allocator returns freed memory by itself).
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0)
    };
    advised
}
