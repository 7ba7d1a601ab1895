//! The logger behind the `log` facade: one event per line on stderr, JSON lines when stderr
//! is not a terminal, a short text form on a terminal. The event name is the log target
//! (`log::info!(target: "priv.drop", uid = 1001; "dropped privileges")`).

use log::kv::{Key, Value, VisitSource};
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON when stderr is not a terminal, text otherwise.
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    Error,
    Warn,
    Info,
    Debug,
}

impl LevelArg {
    pub fn filter(self) -> LevelFilter {
        match self {
            LevelArg::Error => LevelFilter::Error,
            LevelArg::Warn => LevelFilter::Warn,
            LevelArg::Info => LevelFilter::Info,
            LevelArg::Debug => LevelFilter::Debug,
        }
    }
}

struct Logger {
    json: bool,
}

/// Whether an environment variable's value must never be logged.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.contains("PASSWORD")
        || n.contains("PASSWD")
        || n.contains("TOKEN")
        || n.contains("SECRET")
        || n.ends_with("_KEY")
        || n == "KEY"
        || n.contains("CREDENTIAL")
}

/// The value to log for an environment variable: `<redacted>` for secret-looking names.
pub fn redact<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_name(name) {
        "<redacted>"
    } else {
        value
    }
}

/// Install the logger. Safe to call once; later calls are ignored.
pub fn init(format: Format, level: LevelArg) {
    let json = match format {
        Format::Json => true,
        Format::Text => false,
        Format::Auto => !crate::sys::isatty(2),
    };
    if log::set_boxed_logger(Box::new(Logger { json })).is_ok() {
        log::set_max_level(level.filter());
    }
}

/// An RFC 3339 UTC timestamp with milliseconds, appended to `out`.
fn push_rfc3339_now(out: &mut String) {
    use std::fmt::Write as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    );
}

/// Appends `,"key":value` for each field: numbers and booleans as such, fields that hold
/// JSON lists or objects embedded, everything else as a string.
struct JsonFields<'a>(&'a mut String);

/// `s` as a JSON string literal, escaped as serde_json escapes (`"`, `\\`, control
/// characters; everything else as it is), written straight into `out`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_escaped(out, s);
    out.push('"');
}

fn push_json_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// A `fmt::Write` that JSON-escapes what is written (the message, formatted in place).
struct JsonEscaped<'a>(&'a mut String);

impl std::fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        push_json_escaped(self.0, s);
        Ok(())
    }
}

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        use std::fmt::Write as _;
        self.0.push(',');
        push_json_str(self.0, key.as_str());
        self.0.push(':');
        if let Some(b) = value.to_bool() {
            let _ = write!(self.0, "{b}");
        } else if let Some(u) = value.to_u64() {
            let _ = write!(self.0, "{u}");
        } else if let Some(i) = value.to_i64() {
            let _ = write!(self.0, "{i}");
        } else {
            let owned;
            let s = match value.to_borrowed_str() {
                Some(s) => s,
                None => {
                    owned = value.to_string();
                    owned.as_str()
                }
            };
            let embedded = match s.as_bytes().first() {
                Some(b'[' | b'{') => serde_json::from_str::<serde_json::Value>(s)
                    .ok()
                    .filter(|j| j.is_array() || j.is_object()),
                _ => None,
            };
            match embedded {
                Some(j) => self.0.push_str(&j.to_string()),
                None => push_json_str(self.0, s),
            }
        }
        Ok(())
    }
}

struct TextFields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for TextFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        self.0.push_str(&format!(" {}={}", key.as_str(), value));
        Ok(())
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let event = record.target();
        let line = if self.json {
            use std::fmt::Write as _;
            let mut s = String::with_capacity(512);
            s.push_str("{\"ts\":\"");
            push_rfc3339_now(&mut s);
            s.push_str("\",\"level\":\"");
            s.push_str(level);
            s.push_str("\",\"event\":");
            push_json_str(&mut s, event);
            s.push_str(",\"msg\":\"");
            let _ = write!(JsonEscaped(&mut s), "{}", record.args());
            s.push('"');
            let _ = record.key_values().visit(&mut JsonFields(&mut s));
            s.push_str("}\n");
            s
        } else {
            let mut s = format!("secure-init {level:>5} {event}: {}", record.args());
            let _ = record.key_values().visit(&mut TextFields(&mut s));
            s.push('\n');
            s
        };
        // One write per event so lines from the supervisor do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_redacted() {
        assert_eq!(redact("JUPYTER_PASSWORD", "x"), "<redacted>");
        assert_eq!(redact("HF_TOKEN", "x"), "<redacted>");
        assert_eq!(redact("AWS_SECRET_ACCESS_KEY", "x"), "<redacted>");
        assert_eq!(redact("API_KEY", "x"), "<redacted>");
        assert_eq!(redact("PATH", "/bin"), "/bin");
        assert_eq!(redact("KEYBOARD", "us"), "us");
    }

    #[test]
    fn json_lines_are_json() {
        // the whole line is exercised end to end by the integration tests; here the fields
        let mut s = String::from("{\"a\":1");
        let kvs: &[(&str, &dyn log::kv::ToValue)] = &[
            ("n", &7u64),
            ("neg", &-3i64),
            ("b", &true),
            ("s", &"quote \" and \\ and \n"),
            ("list", &"[1,2]"),
            ("notjson", &"[oops"),
        ];
        let _ = log::kv::Source::visit(&kvs, &mut JsonFields(&mut s));
        s.push('}');
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["n"], 7);
        assert_eq!(v["neg"], -3);
        assert_eq!(v["b"], true);
        assert_eq!(v["s"], "quote \" and \\ and \n");
        assert_eq!(v["list"], serde_json::json!([1, 2]));
        assert_eq!(v["notjson"], "[oops");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é ü 日本 \u{2028} \u{1F600} \"q\" \\ end");
        for s in [all.as_str(), "", "plain", "\"", "\\\\", "a\nb\tc\u{7}"] {
            let mut ours = String::new();
            push_json_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_string(s).unwrap(), "{s:?}");
            let mut msg = String::new();
            use std::fmt::Write as _;
            write!(JsonEscaped(&mut msg), "{}", format_args!("<{s}>")).unwrap();
            assert_eq!(
                format!("\"{msg}\""),
                serde_json::to_string(&format!("<{s}>")).unwrap()
            );
        }
    }

    #[test]
    fn timestamp_shape() {
        let mut ts = String::new();
        push_rfc3339_now(&mut ts);
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T');
    }
}
