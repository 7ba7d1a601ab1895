//! sshd's log (it runs with `-e`: every line on stderr, through a pipe to the supervisor)
//! turned into secure-init events: logins accepted and failed, with user, client address,
//! port, method, key type and fingerprint — one JSON line each, ready for fail2ban or Loki.
//! Other lines are passed on as `sshd.log` events.

/// One recognised line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// `ssh.login.accepted`, `ssh.login.failed`, `ssh.auth.closed`, `ssh.connect`,
    /// `ssh.logout`, or `sshd.log`.
    pub name: &'static str,
    pub warn: bool,
    pub user: Option<String>,
    pub addr: Option<String>,
    pub port: Option<u16>,
    pub method: Option<String>,
    pub key_type: Option<String>,
    pub fingerprint: Option<String>,
    pub reason: Option<String>,
    pub invalid_user: bool,
}

/// `… from ADDR port PORT …` or `… USER ADDR port PORT`: the address before ` port `.
fn addr_port(s: &str) -> (Option<String>, Option<u16>) {
    let Some(i) = s.find(" port ") else {
        return (None, None);
    };
    let addr = s[..i].rsplit(' ').next().map(str::to_string);
    let port = s[i + 6..]
        .split([' ', ':'])
        .next()
        .and_then(|p| p.parse().ok());
    (addr, port)
}

/// `ssh2: ED25519 SHA256:…` at the end of an Accepted/Failed line.
fn key_of(s: &str) -> (Option<String>, Option<String>) {
    match s.split_once(": ") {
        Some((_, k)) => {
            let mut it = k.split_whitespace();
            let t = it.next().map(str::to_string);
            let f = it
                .next()
                .filter(|f| f.starts_with("SHA256:"))
                .map(str::to_string);
            (t, f)
        }
        None => (None, None),
    }
}

/// Parse one sshd log line.
pub fn parse(line: &str) -> Event {
    let l = line.trim_end_matches(['\r', '\n']);
    let l = l.strip_suffix(" [preauth]").unwrap_or(l);
    let mut e = Event {
        name: "sshd.log",
        warn: l.starts_with("error:") || l.starts_with("fatal:"),
        ..Default::default()
    };
    // Accepted/Failed METHOD for [invalid user ]USER from ADDR port PORT ssh2[: TYPE FP]
    for (word, name, warn) in [
        ("Accepted ", "ssh.login.accepted", false),
        ("Failed ", "ssh.login.failed", true),
    ] {
        if let Some(rest) = l.strip_prefix(word) {
            if let Some((method, rest)) = rest.split_once(" for ") {
                let (rest, invalid) = match rest.strip_prefix("invalid user ") {
                    Some(r) => (r, true),
                    None => (rest, false),
                };
                if let Some((user, _)) = rest.split_once(" from ") {
                    (e.addr, e.port) = addr_port(rest);
                    (e.key_type, e.fingerprint) = key_of(rest);
                    e.name = name;
                    e.warn = warn;
                    e.user = Some(user.to_string());
                    e.method = Some(method.to_string());
                    e.invalid_user = invalid;
                    return e;
                }
            }
        }
    }
    let failed = |reason: &str, user: Option<&str>, rest: &str, invalid: bool| {
        let (addr, port) = addr_port(rest);
        Event {
            name: "ssh.login.failed",
            warn: true,
            user: user.map(str::to_string),
            addr,
            port,
            reason: Some(reason.to_string()),
            invalid_user: invalid,
            ..Default::default()
        }
    };
    if let Some(rest) = l.strip_prefix("Invalid user ") {
        let user = rest.split(" from ").next();
        return failed("no such user", user, rest, true);
    }
    if let Some(rest) = l.strip_prefix("User ") {
        if let Some((who, why)) = rest.split_once(" not allowed because ") {
            let (user, addr) = who.split_once(" from ").unwrap_or((who, ""));
            let mut e = failed(&format!("not allowed: {why}"), Some(user), "", false);
            e.addr = Some(addr.to_string()).filter(|a| !a.is_empty());
            return e;
        }
    }
    if let Some(rest) = l.strip_prefix("maximum authentication attempts exceeded for ") {
        let (rest, invalid) = match rest.strip_prefix("invalid user ") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let user = rest.split(" from ").next();
        return failed("too many authentication failures", user, rest, invalid);
    }
    if let Some(rest) = l.strip_prefix("Timeout before authentication for ") {
        return failed("timeout before authentication", None, rest, false);
    }
    for (prefix, invalid) in [
        ("Connection closed by authenticating user ", false),
        ("Connection closed by invalid user ", true),
        ("Disconnected from authenticating user ", false),
        ("Disconnected from invalid user ", true),
    ] {
        if let Some(rest) = l.strip_prefix(prefix) {
            let (addr, port) = addr_port(rest);
            return Event {
                name: "ssh.auth.closed",
                warn: true,
                user: rest.split(' ').next().map(str::to_string),
                addr,
                port,
                reason: Some("connection closed before authenticating".into()),
                invalid_user: invalid,
                ..Default::default()
            };
        }
    }
    if let Some(rest) = l.strip_prefix("Connection from ") {
        (e.addr, e.port) = addr_port(rest.split(" on ").next().unwrap_or(rest));
        e.name = "ssh.connect";
        return e;
    }
    if let Some(rest) = l.strip_prefix("Disconnected from user ") {
        (e.addr, e.port) = addr_port(rest);
        e.user = rest.split(' ').next().map(str::to_string);
        e.name = "ssh.logout";
        return e;
    }
    e
}

/// Log one line as its event.
pub fn emit(line: &str) {
    let e = parse(line);
    let text = line.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        return;
    }
    let level = if e.warn {
        log::Level::Warn
    } else {
        log::Level::Info
    };
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    if e.name == "sshd.log" {
        // the key lookups before every accepted login: detail, not events
        let level = if text.starts_with("Postponed ") || text.starts_with("Accepted key ") {
            log::Level::Debug
        } else {
            level
        };
        log::log!(target: "sshd.log", level, "{text}");
        return;
    }
    log::log!(target: e.name, level, user = s(&e.user).as_str(), invalid_user = e.invalid_user,
        addr = s(&e.addr).as_str(), port = e.port.unwrap_or(0), method = s(&e.method).as_str(),
        key_type = s(&e.key_type).as_str(), fingerprint = s(&e.fingerprint).as_str(),
        reason = s(&e.reason).as_str(); "{text}");
}

/// Read sshd's stderr (the pipe's read end, owned from here on) and log each line, until
/// every writer has closed it. A thread of the supervisor, started once it has dropped its
/// privileges.
pub fn relay(fd: std::os::fd::RawFd) -> std::io::Result<crate::init::Worker> {
    let file = crate::sys::file_from_fd(fd);
    crate::init::Worker::spawn("sshd-log", 64 << 10, move || {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(file);
        let mut buf = Vec::with_capacity(512);
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => emit(&String::from_utf8_lossy(&buf)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_accepted_and_failed_are_events_with_their_fields() {
        let e = parse("Accepted publickey for aiuser from 10.1.2.3 port 51234 ssh2: ED25519 SHA256:IqLQAgVYR1tLrv7CaZmNmfRX/buYoQTKlptW0XjUNZc\r\n");
        assert_eq!(e.name, "ssh.login.accepted");
        assert_eq!(e.user.as_deref(), Some("aiuser"));
        assert_eq!(e.addr.as_deref(), Some("10.1.2.3"));
        assert_eq!(e.port, Some(51234));
        assert_eq!(e.method.as_deref(), Some("publickey"));
        assert_eq!(e.key_type.as_deref(), Some("ED25519"));
        assert!(e.fingerprint.unwrap().starts_with("SHA256:Iq"));
        let e = parse("Failed publickey for aiuser from ::1 port 40000 ssh2: RSA SHA256:abc");
        assert_eq!((e.name, e.warn), ("ssh.login.failed", true));
        assert_eq!(e.addr.as_deref(), Some("::1"));
        let e = parse("Failed none for invalid user root from 127.0.0.1 port 4 ssh2");
        assert!(e.invalid_user && e.user.as_deref() == Some("root"));
        let e = parse("Invalid user bob from 192.0.2.7 port 5555");
        assert_eq!(
            (e.name, e.user.as_deref(), e.port),
            ("ssh.login.failed", Some("bob"), Some(5555))
        );
        let e = parse("User root from 127.0.0.1 not allowed because not listed in AllowUsers");
        assert_eq!(e.user.as_deref(), Some("root"));
        assert_eq!(e.addr.as_deref(), Some("127.0.0.1")); // no port in this line
        assert!(e.reason.unwrap().contains("AllowUsers"));
        let e =
            parse("Connection closed by authenticating user aiuser 127.0.0.1 port 35580 [preauth]");
        assert_eq!(
            (e.name, e.addr.as_deref(), e.port),
            ("ssh.auth.closed", Some("127.0.0.1"), Some(35580))
        );
        let e = parse("maximum authentication attempts exceeded for aiuser from 127.0.0.1 port 9 ssh2 [preauth]");
        assert_eq!(e.name, "ssh.login.failed");
        let e = parse("Server listening on 0.0.0.0 port 2222.");
        assert_eq!(e.name, "sshd.log");
        assert_eq!(
            parse("Connection from 127.0.0.1 port 36588 on 127.0.0.1 port 2299 rdomain \"\"").port,
            Some(36588)
        );
    }
}
