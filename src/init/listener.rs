//! The supervisor's seccomp listener: the workload's filter sends its denials here
//! (`SECCOMP_RET_USER_NOTIF`). Each is answered at once with the profile's own verdict
//! (the original filter, run on the same `seccomp_data`: never a decision from user memory,
//! never CONTINUE — except in `--seccomp-learn`), then logged: the first of each kind at
//! once, then counts every 10 s and at exit. A thread of the supervisor, started after it
//! dropped its privileges.

use crate::seccomp::notify::{self, Data};
use crate::sys;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many kinds (syscall, command name) get an event of their own; later kinds
/// are counted under `other`.
const MAX_KINDS: usize = 64;
/// Counts are logged this often (when they changed).
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// `--seccomp-learn`: the calls the profile would deny are allowed and recorded; at exit
/// a profile that also allows them is written.
pub struct Learn {
    /// The profile in use, as Docker/OCI JSON.
    pub base: serde_json::Value,
    /// Opened (as root) before the supervisor dropped its privileges.
    pub out: std::fs::File,
    pub path: String,
}

/// What the listener logs, handed to a logger thread through a bounded queue: answering
/// never waits for stderr (a blocked log reader must not stall the workload's calls).
enum Line {
    Denied {
        name: String,
        nr: i32,
        args: String,
        errno: i32,
        pid: u32,
        comm: String,
        exe: String,
        severity: &'static str,
    },
    Learned {
        name: String,
        pid: u32,
        comm: String,
        args: String,
    },
    Count {
        name: String,
        comm: String,
        total: u64,
        delta: u64,
    },
    Dropped(u64),
    Text(log::Level, &'static str, String),
}

fn emit(l: Line) {
    match l {
        Line::Denied {
            name,
            nr,
            args,
            errno,
            pid,
            comm,
            exe,
            severity,
        } => {
            let level = if severity == "high" {
                log::Level::Error
            } else {
                log::Level::Warn
            };
            log::log!(target: "seccomp.denied", level, syscall = name.as_str(), nr = nr, args = args.as_str(),
                errno = errno_name(errno).as_str(), pid = pid, comm = comm.as_str(), exe = exe.as_str(),
                count = 1, severity = severity, hint = notify::hint(&name);
                "seccomp denied {name}({args}) in {comm} (pid {pid}): {}", errno_name(errno));
        }
        Line::Learned {
            name,
            pid,
            comm,
            args,
        } => {
            log::warn!(target: "seccomp.learn", syscall = name.as_str(), pid = pid, comm = comm.as_str(), args = args.as_str();
                "learn mode: {name} allowed and recorded (the profile denies it)");
        }
        Line::Count {
            name,
            comm,
            total,
            delta,
        } => {
            log::warn!(target: "seccomp.denied.count", syscall = name.as_str(), comm = comm.as_str(),
                count = total, since_last = delta;
                "seccomp denied {name} {delta} more time(s) in {comm} ({total} in all)");
        }
        Line::Dropped(n) => {
            log::warn!(target: "seccomp.denied.count", dropped = n;
                "{n} seccomp event(s) not logged: the log was not being read fast enough (the calls were answered)");
        }
        Line::Text(level, target, msg) => log::log!(target: target, level, "{msg}"),
    }
}

/// The sending side: never blocks; what does not fit is counted.
/// The logger thread is started with the first line (most runs deny nothing: no thread).
struct Queue {
    tx: Option<std::sync::mpsc::SyncSender<Line>>,
    logger: Option<std::thread::JoinHandle<()>>,
    dropped: u64,
}

impl Queue {
    fn sender(&mut self) -> Option<&std::sync::mpsc::SyncSender<Line>> {
        if self.tx.is_none() {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Line>(256);
            self.logger = std::thread::Builder::new()
                .name("seccomp-log".into())
                .stack_size(128 << 10)
                .spawn(move || {
                    for l in rx {
                        emit(l);
                    }
                })
                .ok();
            // without a logger thread, lines are counted as dropped
            self.tx = self.logger.as_ref().map(|_| tx);
        }
        self.tx.as_ref()
    }

    fn send(&mut self, l: Line) {
        let dropped = self.dropped;
        match self.sender() {
            Some(tx) if tx.try_send(l).is_ok() => {
                if dropped > 0 && tx.try_send(Line::Dropped(dropped)).is_ok() {
                    self.dropped = 0;
                }
            }
            _ => self.dropped += 1,
        }
    }

    /// Log what was dropped, then let the logger finish.
    fn close(mut self) {
        let dropped = self.dropped;
        if dropped > 0 {
            if let Some(tx) = self.sender() {
                let _ = tx.try_send(Line::Dropped(dropped));
            }
        }
        drop(self.tx.take());
        if let Some(h) = self.logger.take() {
            let _ = h.join();
        }
    }
}

#[derive(Default)]
struct Kind {
    total: u64,
    logged: u64,
}

pub struct ListenerThread {
    stop: Arc<AtomicBool>,
    worker: super::Worker,
}

impl ListenerThread {
    /// Start answering notifications from `fd` with the verdicts of `plain`.
    pub fn start(
        fd: RawFd,
        plain: Vec<libc::sock_filter>,
        learn: Option<Learn>,
    ) -> std::io::Result<ListenerThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let worker = super::Worker::spawn("seccomp-listener", 256 << 10, move || {
            run(fd, &plain, learn, &s2)
        })?;
        Ok(ListenerThread { stop, worker })
    }

    /// The command is gone: answer what is pending, log the counts (write the learned
    /// profile), and end, waiting at most 2 s.
    pub fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.worker.wait(Duration::from_secs(2));
    }
}

/// The listener as the supervisor holds it: its thread starts with the first notification
/// (most commands are never denied anything, and then no thread is made for them: none to
/// create before the supervisor can wait, none to end after); in learn mode at once (it
/// writes the learned profile at the end, denials or not).
pub enum ListenerState {
    Waiting {
        fd: RawFd,
        plain: Vec<libc::sock_filter>,
    },
    Running(ListenerThread),
    Gone,
}

impl ListenerState {
    pub fn new(fd: RawFd, plain: Vec<libc::sock_filter>, learn: Option<Learn>) -> ListenerState {
        match learn {
            Some(l) => ListenerState::start(fd, plain, Some(l)),
            None => ListenerState::Waiting { fd, plain },
        }
    }

    fn start(fd: RawFd, plain: Vec<libc::sock_filter>, learn: Option<Learn>) -> ListenerState {
        match ListenerThread::start(fd, plain, learn) {
            Ok(l) => ListenerState::Running(l),
            Err(e) => {
                log::error!(target: "seccomp.listener", "cannot start the seccomp listener: {e}; denied calls now fail with ENOSYS");
                sys::close(fd);
                ListenerState::Gone
            }
        }
    }

    /// The descriptor the supervisor watches while no thread answers it.
    pub fn waiting_fd(&self) -> Option<RawFd> {
        match self {
            ListenerState::Waiting { fd, .. } => Some(*fd),
            _ => None,
        }
    }

    /// The watched descriptor woke the supervisor: a notification starts the thread; a
    /// hang-up alone (no process left under the filter) ends it.
    pub fn woken(&mut self, readable: bool) {
        let ListenerState::Waiting { fd, plain } = std::mem::replace(self, ListenerState::Gone)
        else {
            return;
        };
        if readable {
            *self = ListenerState::start(fd, plain, None);
        } else {
            sys::close(fd);
        }
    }

    /// The command is gone: a running listener answers what is pending and logs its counts.
    pub fn finish(self) {
        match self {
            ListenerState::Running(l) => l.finish(),
            ListenerState::Waiting { fd, .. } => sys::close(fd),
            ListenerState::Gone => {}
        }
    }
}

/// The command name and argv[0] of a process (world-readable; /proc/PID/exe of another
/// uid is not readable by the supervisor).
fn proc_names(pid: u32) -> (String, String) {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default();
    let argv0 = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|b| {
            b.split(|c| *c == 0)
                .next()
                .map(|a| String::from_utf8_lossy(a).into_owned())
        })
        .unwrap_or_default();
    (comm, argv0)
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::ENOSYS => "ENOSYS".into(),
        libc::EINVAL => "EINVAL".into(),
        _ => format!("errno {e}"),
    }
}

fn run(fd: RawFd, plain: &[libc::sock_filter], mut learn: Option<Learn>, stop: &AtomicBool) {
    let mut q = Queue {
        tx: None,
        logger: None,
        dropped: 0,
    };
    let (notif_size, resp_size) = sys::seccomp_notif_sizes().unwrap_or((80, 24));
    let _ = sys::seccomp_notif_sync_wakeup(fd); // older kernels: the ordinary wake-up
    let mut rbuf = vec![0u64; notif_size.max(80).div_ceil(8)];
    let mut sbuf = vec![0u64; resp_size.max(24).div_ceil(8)];
    let mut kinds: BTreeMap<(String, String), Kind> = BTreeMap::new();
    let mut learned: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_summary = Instant::now();
    // names per pid: /proc is read once per process, not once per denial
    let mut names: std::collections::HashMap<u32, (String, String)> = Default::default();
    loop {
        let (readable, hup) = match sys::poll_in(fd, 200) {
            Ok(r) => r,
            Err(e) => {
                q.send(Line::Text(
                    log::Level::Warn,
                    "seccomp.listener",
                    format!(
                        "poll: {e}; seccomp denials are no longer reported (the calls get ENOSYS)"
                    ),
                ));
                break;
            }
        };
        if readable {
            let n = match sys::seccomp_notif_recv(fd, &mut rbuf) {
                Ok(n) => n,
                // interrupted, or the caller died before we read it
                Err(_) => continue,
            };
            let d = Data {
                nr: n.data.nr,
                arch: n.data.arch,
                ip: n.data.instruction_pointer,
                args: n.data.args,
            };
            let verdict = notify::evaluate(plain, &d);
            let errno = if verdict & libc::SECCOMP_RET_ACTION_FULL == libc::SECCOMP_RET_ERRNO {
                (verdict & libc::SECCOMP_RET_DATA) as i32
            } else {
                libc::EPERM
            };
            // answer first: the workload waits for it
            let _ = sys::seccomp_notif_send(fd, &mut sbuf, n.id, errno, learn.is_some());
            let name = notify::syscall_name(d.nr);
            if learn.is_some() {
                let c = learned.entry(name.clone()).or_default();
                *c += 1;
                if *c == 1 {
                    let (comm, _) = proc_names(n.pid);
                    q.send(Line::Learned {
                        args: notify::decode_args(&name, &d),
                        name,
                        pid: n.pid,
                        comm,
                    });
                }
                continue;
            }
            if names.len() > 1024 {
                names.clear();
            }
            let (comm, exe) = names
                .entry(n.pid)
                .or_insert_with(|| proc_names(n.pid))
                .clone();
            let key =
                if kinds.len() < MAX_KINDS || kinds.contains_key(&(name.clone(), comm.clone())) {
                    (name.clone(), comm.clone())
                } else {
                    ("other".to_string(), String::new())
                };
            let k = kinds.entry(key).or_default();
            k.total += 1;
            if k.total == 1 {
                k.logged = 1;
                q.send(Line::Denied {
                    severity: notify::severity(&name, &d),
                    args: notify::decode_args(&name, &d),
                    name,
                    nr: d.nr,
                    errno,
                    pid: n.pid,
                    comm,
                    exe,
                });
            }
        }
        if last_summary.elapsed() >= SUMMARY_EVERY {
            summarize(&mut kinds, &mut q);
            last_summary = Instant::now();
        }
        if hup || (stop.load(Ordering::SeqCst) && !readable) {
            break;
        }
    }
    sys::close(fd);
    summarize(&mut kinds, &mut q);
    if let Some(l) = learn.as_mut() {
        write_learned(l, &learned, &mut q);
    }
    q.close();
}

/// One event per kind whose count grew since it was last logged.
fn summarize(kinds: &mut BTreeMap<(String, String), Kind>, q: &mut Queue) {
    for ((name, comm), k) in kinds.iter_mut() {
        if k.total > k.logged {
            q.send(Line::Count {
                name: name.clone(),
                comm: comm.clone(),
                total: k.total,
                delta: k.total - k.logged,
            });
            k.logged = k.total;
        }
    }
}

fn write_learned(l: &mut Learn, learned: &BTreeMap<String, u64>, q: &mut Queue) {
    use std::io::Write;
    let names: Vec<String> = learned.keys().cloned().collect();
    let p = crate::seccomp::notify::learned_profile(&l.base, &names);
    let text = serde_json::to_string_pretty(&p).unwrap_or_default();
    q.send(match l.out.write_all(text.as_bytes()).and_then(|_| l.out.sync_all()) {
        Ok(()) => Line::Text(log::Level::Warn, "seccomp.learn", format!(
            "learn mode: wrote {} ({} call(s) added to the profile: {names:?}): review it before using it with --seccomp", l.path, names.len())),
        Err(e) => Line::Text(log::Level::Error, "seccomp.learn", format!("learn mode: cannot write {}: {e}", l.path)),
    });
}
