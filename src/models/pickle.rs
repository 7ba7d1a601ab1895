//! A pickle *reader* that never executes anything: it walks the opcode stream of protocols
//! 0–5 with a symbolic stack and memo, and collects every global the pickle would import
//! (`GLOBAL`, `STACK_GLOBAL`, `INST`), plus the callables `REDUCE`, `OBJ`, `NEWOBJ` and
//! `NEWOBJ_EX` would call. Anything it cannot follow exactly is an error (a refusal), never
//! a guess.

use std::collections::HashMap;

/// A value on the symbolic stack.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Mark,
    Str(String),
    Global(String, String),
    Other,
}

/// What a scan of one pickle found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Every imported global, `module.name`, in order of appearance (deduplicated).
    pub globals: Vec<String>,
    /// Bytes consumed up to and including STOP.
    pub len: usize,
    /// Whether an opcode that calls something ran before the scan ended (`REDUCE`, `BUILD`,
    /// `INST`, `OBJ`, `NEWOBJ`, `NEWOBJ_EX`, a persistent load): before the first one, a
    /// loader has run nothing.
    pub called: bool,
    /// Whether the first global came from a protocol-0 `GLOBAL` line (its text is exactly
    /// what the loader imports: no escapes, no computed strings).
    pub first_from_line: bool,
}

/// Why a scan stopped. `certain`: Python's unpickler fails at this same opcode too
/// (truncation, an unknown opcode, an empty stack, a missing memo entry, a malformed
/// argument); otherwise the bytes may go on loading where this reader refuses to follow
/// (a computed `STACK_GLOBAL` name, a call of a computed callable, the extension registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError(pub String, pub bool);

impl PickleError {
    fn certain(m: String) -> Self {
        PickleError(m, true)
    }
    fn unfollowed(m: String) -> Self {
        PickleError(m, false)
    }
    /// Python's unpickler fails here too.
    pub fn is_certain(&self) -> bool {
        self.1
    }
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct R<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        if self.b.len() - self.p < n {
            return Err(PickleError::certain(format!(
                "truncated at byte {} (needs {n} more)",
                self.p
            )));
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let s = self.take(n)?;
        let mut v = 0u64;
        for (i, x) in s.iter().enumerate() {
            v |= (*x as u64) << (8 * i);
        }
        Ok(v)
    }
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.b[self.p..];
        let i = rest.iter().position(|c| *c == b'\n').ok_or_else(|| {
            PickleError::certain(format!("truncated: unterminated line at byte {}", self.p))
        })?;
        self.p += i + 1;
        Ok(&rest[..i])
    }
    fn sized(&mut self, n: u64) -> Result<&'a [u8], PickleError> {
        let n = usize::try_from(n).map_err(|_| PickleError::certain("length overflows".into()))?;
        self.take(n)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A protocol-0 `STRING` argument as the loader reads it: it must be quoted exactly (the
/// same quote first and last, nothing around); with a backslash it is escape-decoded by the
/// loader, so it is no plain string here (`Other`: a `STACK_GLOBAL` taking it is refused).
fn unquote(b: &[u8], at: usize) -> Result<V, PickleError> {
    match b {
        [q, inner @ .., l] if q == l && (*q == b'\'' || *q == b'"') => Ok(plain(inner)),
        _ => Err(PickleError::certain(format!(
            "the STRING argument at byte {at} is not quoted"
        ))),
    }
}

/// A string whose bytes are exactly its text (ASCII, no backslash): anything else is
/// decoded by rules this reader does not repeat, so it is not tracked as a name.
fn plain(b: &[u8]) -> V {
    if b.is_ascii() && !b.contains(&b'\\') {
        V::Str(text(b))
    } else {
        V::Other
    }
}

/// Every opcode of pickle protocols 0–5 (CPython's `pickletools.opcodes`): a file whose
/// first byte is none of them is no pickle to any loader.
pub fn is_opcode(b: u8) -> bool {
    b"(.012BCFGIJKLMNPQRSTUVXabcdeghijlopqrstu}])".contains(&b) || (0x80..=0x98).contains(&b)
}

/// Scan one pickle starting at the beginning of `b`.
pub fn scan(b: &[u8]) -> Result<Found, PickleError> {
    let mut found = Found::default();
    scan_into(b, &mut found).map(|_| found)
}

/// Scan as far as the bytes are a pickle: what was found, and the error that ended it (a
/// loader stops there too: only globals imported before it can have been reached).
pub fn scan_partial(b: &[u8]) -> (Found, Option<PickleError>) {
    let mut found = Found::default();
    let e = scan_into(b, &mut found).err();
    (found, e)
}

fn scan_into(b: &[u8], found: &mut Found) -> Result<(), PickleError> {
    let mut r = R { b, p: 0 };
    let mut stack: Vec<V> = Vec::new();
    let mut memo: HashMap<u64, V> = HashMap::new();
    let record = |m: &str, n: &str, found: &mut Found| {
        let g = format!("{m}.{n}");
        if !found.globals.contains(&g) {
            found.globals.push(g);
        }
    };
    let under = |at: usize, op: u8| {
        PickleError::certain(format!("stack underflow at byte {at} (opcode {op:#04x})"))
    };
    macro_rules! pop {
        ($at:expr, $op:expr) => {
            match stack.pop() {
                Some(V::Mark) | None => return Err(under($at, $op)),
                Some(v) => v,
            }
        };
    }
    macro_rules! pop_mark {
        ($at:expr, $op:expr) => {{
            let i = stack
                .iter()
                .rposition(|v| *v == V::Mark)
                .ok_or_else(|| under($at, $op))?;
            stack.drain(i..).skip(1).collect::<Vec<V>>()
        }};
    }
    loop {
        let at = r.p;
        let op = r.u8().map_err(|_| {
            PickleError::certain(format!("truncated: no STOP opcode (ended at byte {at})"))
        })?;
        match op {
            b'.' => {
                found.len = r.p;
                return Ok(());
            }
            // ---- constants pushed
            b'N' | 0x88 | 0x89 => stack.push(V::Other),
            b'I' | b'L' | b'F' => {
                r.line()?;
                stack.push(V::Other)
            }
            b'J' => {
                r.take(4)?;
                stack.push(V::Other)
            }
            b'K' => {
                r.take(1)?;
                stack.push(V::Other)
            }
            b'M' => {
                r.take(2)?;
                stack.push(V::Other)
            }
            b'G' => {
                r.take(8)?;
                stack.push(V::Other)
            }
            0x8a => {
                let n = r.le(1)?;
                r.sized(n)?;
                stack.push(V::Other)
            }
            0x8b => {
                let n = r.le(4)?;
                r.sized(n)?;
                stack.push(V::Other)
            }
            b'S' => {
                let v = unquote(r.line()?, at)?;
                stack.push(v)
            }
            b'V' => {
                // raw-unicode-escape: `\u` escapes and Latin-1 bytes
                let v = plain(r.line()?);
                stack.push(v)
            }
            b'T' | b'X' => {
                let n = r.le(4)?;
                let s = text(r.sized(n)?);
                stack.push(V::Str(s))
            }
            b'U' | 0x8c => {
                let n = r.le(1)?;
                let s = text(r.sized(n)?);
                stack.push(V::Str(s))
            }
            0x8d => {
                let n = r.le(8)?;
                let s = text(r.sized(n)?);
                stack.push(V::Str(s))
            }
            b'B' => {
                let n = r.le(4)?;
                r.sized(n)?;
                stack.push(V::Other)
            }
            b'C' => {
                let n = r.le(1)?;
                r.sized(n)?;
                stack.push(V::Other)
            }
            0x8e | 0x96 => {
                let n = r.le(8)?;
                r.sized(n)?;
                stack.push(V::Other)
            }
            0x97 => stack.push(V::Other), // NEXT_BUFFER (out-of-band data)
            0x98 => {
                pop!(at, op);
                stack.push(V::Other)
            }
            // ---- containers
            b'(' => stack.push(V::Mark),
            b')' | b']' | b'}' | 0x8f => stack.push(V::Other),
            b'l' | b't' | b'd' | 0x91 => {
                let _ = pop_mark!(at, op);
                stack.push(V::Other)
            }
            0x85 => {
                pop!(at, op);
                stack.push(V::Other)
            }
            0x86 => {
                pop!(at, op);
                pop!(at, op);
                stack.push(V::Other)
            }
            0x87 => {
                pop!(at, op);
                pop!(at, op);
                pop!(at, op);
                stack.push(V::Other)
            }
            b'a' => {
                pop!(at, op);
                if stack.is_empty() {
                    return Err(under(at, op));
                }
            }
            b'e' | b'u' | 0x90 => {
                let _ = pop_mark!(at, op);
                if stack.is_empty() {
                    return Err(under(at, op));
                }
            }
            b's' => {
                pop!(at, op);
                pop!(at, op);
                if stack.is_empty() {
                    return Err(under(at, op));
                }
            }
            b'b' => {
                pop!(at, op);
                if stack.is_empty() {
                    return Err(under(at, op));
                }
                found.called = true;
            }
            // ---- stack and memo
            b'0' => {
                stack.pop().ok_or_else(|| under(at, op))?;
            }
            b'1' => {
                let _ = pop_mark!(at, op);
            }
            b'2' => {
                let v = stack.last().cloned().ok_or_else(|| under(at, op))?;
                stack.push(v)
            }
            b'p' => {
                let i: u64 = text(r.line()?).trim().parse().map_err(|_| PickleError::unfollowed(format!("PUT index at byte {at} is no plain decimal")))?;
                let v = stack.last().cloned().ok_or_else(|| under(at, op))?;
                memo.insert(i, v);
            }
            b'q' | b'r' => {
                let i = r.le(if op == b'q' { 1 } else { 4 })?;
                let v = stack.last().cloned().ok_or_else(|| under(at, op))?;
                memo.insert(i, v);
            }
            0x94 => {
                let v = stack.last().cloned().ok_or_else(|| under(at, op))?;
                memo.insert(memo.len() as u64, v);
            }
            b'g' | b'h' | b'j' => {
                let i = match op {
                    b'g' => text(r.line()?).trim().parse().map_err(|_| PickleError::unfollowed(format!("GET index at byte {at} is no plain decimal")))?,
                    b'h' => r.le(1)?,
                    _ => r.le(4)?,
                };
                let v = memo
                    .get(&i)
                    .cloned()
                    .ok_or_else(|| PickleError::certain(format!("memo entry {i} read before it was written (byte {at})")))?;
                stack.push(v)
            }
            // ---- imports and calls
            b'c' => {
                let m = text(r.line()?);
                let n = text(r.line()?);
                if found.globals.is_empty() {
                    found.first_from_line = true;
                }
                record(&m, &n, found);
                stack.push(V::Global(m, n))
            }
            0x93 => {
                let n = pop!(at, op);
                let m = pop!(at, op);
                match (m, n) {
                    (V::Str(m), V::Str(n)) => {
                        record(&m, &n, found);
                        stack.push(V::Global(m, n))
                    }
                    _ => {
                        return Err(PickleError::unfollowed(format!(
                            "STACK_GLOBAL at byte {at} takes a module or name that is not a plain string"
                        )))
                    }
                }
            }
            b'i' => {
                let m = text(r.line()?);
                let n = text(r.line()?);
                record(&m, &n, found);
                let _ = pop_mark!(at, op);
                found.called = true;
                stack.push(V::Other)
            }
            b'o' => {
                let items = pop_mark!(at, op);
                match items.first() {
                    Some(V::Global(..)) => {}
                    _ => return Err(PickleError::unfollowed(format!("OBJ at byte {at} calls something that is not an imported global"))),
                }
                found.called = true;
                stack.push(V::Other)
            }
            b'R' | 0x81 => {
                pop!(at, op);
                let f = pop!(at, op);
                if !matches!(f, V::Global(..)) {
                    return Err(PickleError::unfollowed(format!(
                        "{} at byte {at} calls something that is not an imported global",
                        if op == b'R' { "REDUCE" } else { "NEWOBJ" }
                    )));
                }
                found.called = true;
                stack.push(V::Other)
            }
            0x92 => {
                pop!(at, op);
                pop!(at, op);
                let f = pop!(at, op);
                if !matches!(f, V::Global(..)) {
                    return Err(PickleError::unfollowed(format!("NEWOBJ_EX at byte {at} calls something that is not an imported global")));
                }
                found.called = true;
                stack.push(V::Other)
            }
            b'P' => {
                r.line()?;
                found.called = true;
                stack.push(V::Other)
            }
            b'Q' => {
                pop!(at, op);
                found.called = true;
                stack.push(V::Other)
            }
            0x82..=0x84 => {
                return Err(PickleError::unfollowed(format!(
                    "EXT{} at byte {at} loads a global from the copyreg extension registry, which cannot be checked",
                    match op {
                        0x82 => 1,
                        0x83 => 2,
                        _ => 4,
                    }
                )))
            }
            // ---- framing
            0x80 => {
                let v = r.u8()?;
                if v > 5 {
                    return Err(PickleError::certain(format!("unsupported pickle protocol {v}")));
                }
            }
            0x95 => {
                r.take(8)?;
            }
            other => return Err(PickleError::certain(format!("unknown opcode {other:#04x} at byte {at}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_0_global_and_reduce() {
        // pickle.dumps(os.system("id")-payload, protocol=0) shape
        let p = b"cposix\nsystem\np0\n(Vid\np1\ntp2\nRp3\n.";
        let f = scan(p).unwrap();
        assert_eq!(f.globals, vec!["posix.system"]);
        assert_eq!(f.len, p.len());
    }

    #[test]
    fn stack_global_through_memo() {
        // \x80\x04 SHORT_BINUNICODE 'os' MEMOIZE SHORT_BINUNICODE 'system' MEMOIZE
        // BINGET 0 BINGET 1 STACK_GLOBAL ...
        let mut p = vec![0x80, 4, 0x8c, 2];
        p.extend(b"os");
        p.push(0x94);
        p.extend([0x8c, 6]);
        p.extend(b"system");
        p.push(0x94);
        p.extend([b'h', 0, b'h', 1, 0x93, 0x8c, 2]);
        p.extend(b"id");
        p.extend([0x85, b'R', b'.']);
        assert_eq!(scan(&p).unwrap().globals, vec!["os.system"]);
    }

    #[test]
    fn refusals() {
        assert!(scan(b"cos\nsys").unwrap_err().0.contains("truncated"));
        assert!(scan(b"(lp0\n").unwrap_err().0.contains("no STOP"));
        assert!(scan(&[0x80, 2, 0x82, 1, b'.'])
            .unwrap_err()
            .0
            .contains("EXT1"));
        assert!(scan(b"0.").unwrap_err().0.contains("underflow"));
        assert!(scan(&[0x80, 4, b'h', 7, b'.'])
            .unwrap_err()
            .0
            .contains("memo entry 7"));
        assert!(scan(&[0xff]).unwrap_err().0.contains("unknown opcode"));
        // STACK_GLOBAL on non-strings
        assert!(scan(&[0x80, 4, b'N', b'N', 0x93, b'.'])
            .unwrap_err()
            .0
            .contains("STACK_GLOBAL"));
        // REDUCE on something that is not a global
        assert!(scan(&[0x80, 2, b'N', b')', b'R', b'.'])
            .unwrap_err()
            .0
            .contains("REDUCE"));
    }

    #[test]
    fn the_opcode_set_is_the_readers() {
        for b in 0..=255u8 {
            let unknown = scan(&[b]).is_err_and(|e| e.0.contains("unknown opcode"));
            assert_eq!(is_opcode(b), !unknown, "{b:#04x}");
        }
    }

    #[test]
    fn certain_errors_are_where_python_fails_too() {
        // certain: CPython's unpickler fails at the same opcode; not certain: it may go on
        // (names computed or escaped, indexes Python reads as ints, the registry)
        for (p, certain) in [
            (&b"cos\nsys"[..], true),
            (b"0.", true),
            (b"\x80\x06.", true),
            (b"\xff", true),
            (b"S'os\n", true),
            (b"Sos\n.", true),
            (b"\x80\x04N)R.", false),
            (b"S'\\x6fs'\nS'system'\n\x93.", false),
            (b"V\\u006fs\nVsystem\n\x93.", false),
            (b"Np1_0\n.", false),
            (b"\x80\x02\x82\x01.", false),
        ] {
            let e = scan(p).unwrap_err();
            assert_eq!(e.is_certain(), certain, "{p:?}: {e}");
        }
        // calls are seen; the first global's origin is known
        let (f, _) = scan_partial(b"cos\nsystem\n(S'x'\ntR.");
        assert!(f.called && f.first_from_line);
        let (f, _) = scan_partial(b"\x80\x04\x8c\x02os\x8c\x06system\x93.");
        assert!(!f.called && !f.first_from_line);
    }
}
