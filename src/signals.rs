//! Signal names, and `--signal-map` (dumb-init's `-r`): which signal the supervisor forwards
//! for each one it receives.

use crate::error::{Error, Result};

/// The standard signals by number (Linux, x86 and arm numbering).
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// `SIGTERM` for 15, `SIG34` for a real-time signal.
pub fn name(sig: i32) -> String {
    match NAMES.iter().find(|(_, n)| *n == sig) {
        Some((s, _)) => format!("SIG{s}"),
        None => format!("SIG{sig}"),
    }
}

/// `TERM`, `SIGTERM`, `sigterm` or `15` (1..=64); `0` only where `zero` is allowed.
fn parse(s: &str, zero: bool) -> Option<i32> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return ((1..=64).contains(&n) || (zero && n == 0)).then_some(n);
    }
    let up = t.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    NAMES.iter().find(|(n, _)| *n == bare).map(|(_, v)| *v)
}

/// Signals that cannot be rewritten: KILL and STOP never reach a process's handler, CHLD
/// is the supervisor's own (reaping), and the synchronous faults are never forwarded.
const NOT_SOURCES: &[i32] = &[
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGCHLD,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// `--signal-map FROM:TO,...`: (received, forwarded) pairs; forwarded 0 drops the signal.
pub fn parse_map(items: &[String]) -> Result<Vec<(i32, i32)>> {
    let mut out: Vec<(i32, i32)> = vec![];
    for item in items {
        let bad = |why: &str| {
            Error::usage(format!(
                "--signal-map {item:?}: {why}; write FROM:TO with signal names or numbers, e.g. TERM:INT (TO 0 drops the signal)"
            ))
        };
        let (from, to) = item.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let from = parse(from, false).ok_or_else(|| bad("FROM is not a signal"))?;
        let to = parse(to, true).ok_or_else(|| bad("TO is not a signal (or 0)"))?;
        if NOT_SOURCES.contains(&from) {
            return Err(bad(&format!(
                "{} cannot be rewritten (KILL and STOP cannot be caught, CHLD is the supervisor's, faults are never forwarded)",
                name(from)
            )));
        }
        if out.iter().any(|(f, _)| *f == from) {
            return Err(bad(&format!("{} is mapped twice", name(from))));
        }
        out.push((from, to));
    }
    Ok(out)
}

/// The signal forwarded for `sig` (0: dropped).
pub fn mapped(map: &[(i32, i32)], sig: i32) -> i32 {
    map.iter()
        .find(|(f, _)| *f == sig)
        .map(|(_, t)| *t)
        .unwrap_or(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parse_as_dumb_init_writes_them() {
        let m = parse_map(&["TERM:INT".into(), "sigusr1:0".into(), "1:15".into()]).unwrap();
        assert_eq!(
            m,
            vec![(libc::SIGTERM, libc::SIGINT), (libc::SIGUSR1, 0), (1, 15)]
        );
        assert_eq!(mapped(&m, libc::SIGTERM), libc::SIGINT);
        assert_eq!(mapped(&m, libc::SIGUSR1), 0);
        assert_eq!(mapped(&m, libc::SIGQUIT), libc::SIGQUIT);
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(40), "SIG40");
    }

    #[test]
    fn bad_maps_are_usage_errors_naming_the_item() {
        for bad in [
            "TERM",
            "TERM:",
            "NOPE:INT",
            "TERM:NOPE",
            "0:INT",
            "65:INT",
            "TERM:-1",
            "KILL:TERM",
            "STOP:TERM",
            "CHLD:TERM",
            "SEGV:TERM",
        ] {
            let e = parse_map(&[bad.into()]).unwrap_err();
            assert_eq!(e.code(), 64, "{bad}");
            assert!(
                e.msg.contains(&format!("{bad:?}")) && !e.msg.contains('\n'),
                "{}",
                e.msg
            );
        }
        assert!(parse_map(&["TERM:INT".into(), "15:HUP".into()])
            .unwrap_err()
            .msg
            .contains("twice"));
    }
}
