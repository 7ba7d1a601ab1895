//! What a file is, by its first bytes, in the order torch.load tries them: a legacy
//! (pre-zip) checkpoint, a tar archive as Python's `tarfile` accepts one, a safetensors
//! file.

/// Whether `b` starts with the legacy magic number pickled with any protocol
/// (`_use_new_zipfile_serialization=False` with `pickle_protocol` 1–5): `L…L\n` for 0 and 1,
/// PROTO n [FRAME] LONG1 for 2–5.
pub(super) fn is_legacy(b: &[u8]) -> bool {
    const LONG1: &[u8] = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    if b.starts_with(b"L119547037146038801333356L\n")
        || b.starts_with(b"L119547037146038801333356\n")
    {
        return true;
    }
    match b {
        [0x80, 2..=5, 0x95, rest @ ..] if rest.len() >= 8 => rest[8..].starts_with(LONG1),
        [0x80, 2..=5, rest @ ..] => rest.starts_with(LONG1),
        _ => false,
    }
}

/// Whether `head` starts with a tar header as Python's `tarfile` (which torch.load tries
/// before pickle) accepts one: not an all-zero block, and the checksum field agreeing with
/// the header's unsigned or signed byte sum. No magic is needed (`tarfile` reads v7
/// headers). The field is read leniently (a sign, `0o`, underscores, spaces): a lenient read
/// can only call more files tar, never fewer.
pub(super) fn is_tar(head: &[u8]) -> bool {
    let Some(h) = head.get(..512) else {
        return false;
    };
    if h.iter().all(|b| *b == 0) {
        return false;
    }
    // the sums tarfile compares, with the checksum field itself counted as spaces
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, b) in h.iter().enumerate() {
        let (u, s) = if (148..156).contains(&i) {
            (32, 32)
        } else {
            (*b as i64, *b as i8 as i64)
        };
        unsigned += u;
        signed += s;
    }
    let field = &h[148..156];
    let value: Option<i64> = if field[0] == 0o200 || field[0] == 0o377 {
        // base-256
        let mut n: i64 = 0;
        for b in &field[1..] {
            n = (n << 8) + *b as i64;
        }
        Some(if field[0] == 0o377 {
            n - (1i64 << 56)
        } else {
            n
        })
    } else {
        let text: Vec<u8> = field.iter().copied().take_while(|b| *b != 0).collect();
        let t = String::from_utf8_lossy(&text);
        let t = t.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
        let (neg, t) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let t = t
            .strip_prefix("0o")
            .or_else(|| t.strip_prefix("0O"))
            .unwrap_or(t);
        let digits: String = t.chars().filter(|c| *c != '_').collect();
        if digits.is_empty() {
            Some(0)
        } else {
            i64::from_str_radix(&digits, 8)
                .ok()
                .map(|v| if neg { -v } else { v })
        }
    };
    value.is_some_and(|v| v == unsigned || v == signed)
}

/// A safetensors file by content: an 8-byte header length that fits, then a JSON object.
pub(super) fn looks_safetensors(head: &[u8], size: u64) -> bool {
    head.len() > 8 && {
        let n = u64::from_le_bytes(head[..8].try_into().unwrap_or([0xff; 8]));
        n <= size.saturating_sub(8) && head[8] == b'{'
    }
}
