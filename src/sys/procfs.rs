//! What the kernel reports about this process and itself: small /proc files read whole, the
//! thread count (and glibc's never-threaded record), the kernel release.

use std::ffi::CStr;

/// Read a small file whole — a /proc, /sys or /etc file — with one `read` in the common
/// case: `std::fs::read_to_string` stats the file for a size hint (0 for /proc) and then
/// probes with 32-byte reads, 7 system calls for a 2 KiB status file.
pub fn read_small(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Number of threads of this process (allocates: parent only). procfs gives the directory
/// `/proc/self/task` a link count of 2 + the number of threads, so one `stat` answers
/// (~3 µs, against ~20 for generating and parsing `/proc/self/stat`); the `num_threads`
/// field of /proc/self/stat where that count is not what procfs gives.
pub fn thread_count() -> Option<usize> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(md) = std::fs::metadata("/proc/self/task") {
        if md.nlink() >= 3 {
            return usize::try_from(md.nlink() - 2).ok();
        }
    }
    thread_count_from_stat()
}

fn thread_count_from_stat() -> Option<usize> {
    let stat = read_small("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // fields after ')' start at field 3 (state); num_threads is field 20.
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// glibc's own record that this process has never started a thread
/// (`__libc_single_threaded`, glibc 2.32+; set false by the first `pthread_create` and never
/// set back): true means one thread for certain, with no `/proc` look-up. False says
/// nothing (threads may have come and gone): ask the kernel.
#[cfg(target_env = "gnu")]
fn never_threaded() -> bool {
    extern "C" {
        static __libc_single_threaded: libc::c_char;
    }
    // SAFETY: a `char` glibc defines (2.32+; this binary needs 2.35) and writes only from
    // the thread that creates the process's first thread; read by value.
    unsafe { std::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
}

#[cfg(not(target_env = "gnu"))]
fn never_threaded() -> bool {
    false
}

/// Wait (up to `timeout_ms`) until this process has exactly one thread. A thread that was
/// just joined has finished its Rust code but may not have left the kernel yet, so
/// `num_threads` can lag behind a `join` by a little. Returns the last count seen, or
/// `None` when /proc cannot be read (allocates: parent only).
pub fn wait_single_threaded(timeout_ms: u64) -> Option<usize> {
    if never_threaded() {
        return Some(1);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    let mut pause = 10;
    loop {
        let n = thread_count()?;
        if n == 1 || std::time::Instant::now() >= deadline {
            return Some(n);
        }
        // the lag is microseconds: look again soon, then less often
        std::thread::sleep(std::time::Duration::from_micros(pause));
        pause = (pause * 2).min(1000);
    }
}

/// Kernel release string (`uname -r`).
pub fn kernel_release() -> String {
    // SAFETY: u is a valid out-pointer; release is NUL-terminated by the kernel.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibcs_never_threaded_record_is_false_once_a_thread_was_started() {
        // the shortcut of wait_single_threaded must never answer 1 for a process that has
        // (or had) threads: the test harness runs this test on a thread of its own
        std::thread::spawn(|| {}).join().unwrap();
        assert!(!super::never_threaded());
    }

    #[test]
    fn thread_count_follows_threads_coming_and_going() {
        // Other tests run on threads of their own meanwhile: the two ways of counting must
        // agree (read back to back until they do, as a thread may start or end in between),
        // with this test's three threads alive and once they are gone.
        let agree = || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                let (a, b) = (super::thread_count(), super::thread_count_from_stat());
                if a == b || std::time::Instant::now() > deadline {
                    assert_eq!(a, b);
                    return a.unwrap();
                }
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    let _ = rx.lock().unwrap().recv();
                })
            })
            .collect();
        assert!(agree() >= 4); // this thread and the three
        for _ in 0..3 {
            tx.send(()).unwrap();
        }
        for h in hs {
            h.join().unwrap();
        }
        assert!(agree() >= 1);
    }
}
