//! Just enough of the ZIP format (with ZIP64) to list PyTorch checkpoint members and read
//! the pickles among them without touching the tensor data.

use super::Unreadable;
use std::io::{Read, Seek, SeekFrom};

#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub method: u16,
    pub compressed: u64,
    pub size: u64,
    pub local_offset: u64,
}

fn u16le(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64le(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Reads counted for the "bytes read" figure.
pub struct Counting<F> {
    pub inner: F,
    pub read: u64,
}

impl<F: Read> Read for Counting<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<F: Seek> Seek for Counting<F> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

fn bad(why: impl Into<String>) -> Unreadable {
    Unreadable(format!("malformed zip: {}", why.into()))
}

/// The central directory's members — of an archive that torch's reader (miniz, which follows
/// a ZIP64 locator whenever there is one, matches pickle names by suffix and case-
/// insensitively, reads local headers as it finds them) cannot read differently: anything
/// ambiguous is refused (a real `torch.save` never writes it). See [`check_layout`].
pub fn members<F: Read + Seek>(f: &mut F, file_len: u64) -> Result<Vec<Member>, Unreadable> {
    // End of central directory: within the last 64 KiB + 22 bytes.
    let tail_len = file_len.min(65_557);
    f.seek(SeekFrom::Start(file_len - tail_len))
        .map_err(|e| e.to_string())?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32le(&tail, i) == 0x0605_4b50)
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    // torch.save writes no comment: the record ends the file, and nothing hides after it
    // (a comment can hold a second directory that another reader picks)
    if eocd + 22 != tail.len() || u16le(&tail, eocd + 20) != 0 {
        return Err(bad(
            "data or a comment after the end-of-central-directory record (torch.save writes none)",
        ));
    }
    let classic = (
        u16le(&tail, eocd + 10) as u64,
        u32le(&tail, eocd + 12) as u64,
        u32le(&tail, eocd + 16) as u64,
    );
    let (mut count, mut cd_size, mut cd_off) = classic;
    // where the central directory must end: the ZIP64 record, or this record
    let mut dir_end = file_len - 22;
    let has_locator = eocd >= 20 && u32le(&tail, eocd - 20) == 0x0706_4b50;
    if has_locator {
        // torch's reader follows a ZIP64 locator whenever there is one: so do we, and the
        // classic fields must agree with it (or be saturated)
        let rec = u64le(&tail, eocd - 20 + 8);
        if rec.checked_add(56) != Some(file_len - 22 - 20) {
            return Err(bad(
                "the ZIP64 end-of-central-directory record is not right before its locator",
            ));
        }
        f.seek(SeekFrom::Start(rec)).map_err(|e| e.to_string())?;
        let mut z = [0u8; 56];
        f.read_exact(&mut z)
            .map_err(|_| bad("ZIP64 record out of range"))?;
        if u32le(&z, 0) != 0x0606_4b50 || u64le(&z, 4) != 44 {
            return Err(bad("bad ZIP64 end-of-central-directory record"));
        }
        let z64 = (u64le(&z, 32), u64le(&z, 40), u64le(&z, 48));
        let agrees = |c: u64, z: u64, sat: u64| c == sat || c == z;
        if u64le(&z, 24) != z64.0
            || !agrees(classic.0, z64.0, 0xffff)
            || !agrees(classic.1, z64.1, 0xffff_ffff)
            || !agrees(classic.2, z64.2, 0xffff_ffff)
        {
            return Err(bad(
                "the ZIP64 and the classic end records disagree (two readings of one archive)",
            ));
        }
        (count, cd_size, cd_off) = z64;
        dir_end = rec;
    } else if classic.0 == 0xffff || classic.1 == 0xffff_ffff || classic.2 == 0xffff_ffff {
        return Err(bad("ZIP64 fields without a ZIP64 locator"));
    }
    if cd_off.checked_add(cd_size) != Some(dir_end) {
        return Err(bad(
            "data between the central directory and its end record (or a second directory)",
        ));
    }
    if cd_off.checked_add(cd_size).is_none_or(|e| e > file_len) || cd_size > 1 << 30 {
        return Err(bad("central directory out of range"));
    }
    f.seek(SeekFrom::Start(cd_off)).map_err(|e| e.to_string())?;
    let mut cd = vec![0u8; cd_size as usize];
    f.read_exact(&mut cd)
        .map_err(|_| bad("truncated central directory"))?;
    let mut out = Vec::new();
    let mut p = 0usize;
    for _ in 0..count {
        if p + 46 > cd.len() || u32le(&cd, p) != 0x0201_4b50 {
            return Err(bad("bad central directory entry"));
        }
        let method = u16le(&cd, p + 10);
        let mut compressed = u32le(&cd, p + 20) as u64;
        let mut size = u32le(&cd, p + 24) as u64;
        let nlen = u16le(&cd, p + 28) as usize;
        let xlen = u16le(&cd, p + 30) as usize;
        let clen = u16le(&cd, p + 32) as usize;
        let mut local_offset = u32le(&cd, p + 42) as u64;
        let end = p + 46 + nlen + xlen + clen;
        if end > cd.len() {
            return Err(bad("central directory entry overruns"));
        }
        let name = String::from_utf8_lossy(&cd[p + 46..p + 46 + nlen]).into_owned();
        // ZIP64 extended information extra field (0x0001), at most once: torch's reader
        // stops at the first
        let mut x = p + 46 + nlen;
        let xend = x + xlen;
        let mut seen_zip64 = false;
        while x + 4 <= xend {
            let id = u16le(&cd, x);
            let len = u16le(&cd, x + 2) as usize;
            let mut q = x + 4;
            let lim = (x + 4 + len).min(xend);
            if id == 1 {
                if seen_zip64 {
                    return Err(bad(format!("member {name}: two ZIP64 extra fields")));
                }
                seen_zip64 = true;
                let mut next = |v: &mut u64| {
                    if *v == 0xffff_ffff && q + 8 <= lim {
                        *v = u64le(&cd, q);
                        q += 8;
                    }
                };
                next(&mut size);
                next(&mut compressed);
                next(&mut local_offset);
            }
            x += 4 + len;
        }
        out.push(Member {
            name,
            method,
            compressed,
            size,
            local_offset,
        });
        p = end;
    }
    if p != cd.len() {
        return Err(bad("bytes after the last central directory entry"));
    }
    check_layout(f, &out, cd_off)?;
    Ok(out)
}

/// What makes one archive read two ways, refused: duplicate names (torch reads the last),
/// names equal but for case, a pickle-like name (`.pkl` in another case) torch would find,
/// compressed members (torch ignores the method), a local header that disagrees with the
/// central one (name, method, sizes), data before the first member, members that overlap
/// each other or the directory.
fn check_layout<F: Read + Seek>(f: &mut F, ms: &[Member], cd_off: u64) -> Result<(), Unreadable> {
    let mut names: Vec<String> = ms.iter().map(|m| m.name.to_lowercase()).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!(
            "two members named {:?} (ignoring case): readers disagree on which one counts",
            w[0]
        )));
    }
    for m in ms {
        if m.name.to_lowercase().ends_with(".pkl") && !m.name.ends_with(".pkl") {
            return Err(bad(format!(
                "member {}: a pickle name in another case (torch finds it case-insensitively)",
                m.name
            )));
        }
        if m.method != 0 {
            return Err(bad(format!(
                "member {} is compressed (method {}): torch.save stores every member, and torch's reader ignores the method",
                m.name, m.method
            )));
        }
    }
    let mut order: Vec<&Member> = ms.iter().collect();
    order.sort_by_key(|m| m.local_offset);
    if order.first().is_some_and(|m| m.local_offset != 0) {
        return Err(bad("data before the first member"));
    }
    for (i, m) in order.iter().enumerate() {
        f.seek(SeekFrom::Start(m.local_offset))
            .map_err(|e| e.to_string())?;
        let mut h = [0u8; 30];
        f.read_exact(&mut h)
            .map_err(|_| bad(format!("member {}: local header out of range", m.name)))?;
        let nlen = u16le(&h, 26) as usize;
        let mut name = vec![0u8; nlen];
        f.read_exact(&mut name)
            .map_err(|_| bad(format!("member {}: local header out of range", m.name)))?;
        let flags = u16le(&h, 6);
        let (lc, ls) = (u32le(&h, 18) as u64, u32le(&h, 22) as u64);
        let sizes_ok = flags & 8 != 0
            || ((lc == m.compressed || lc == 0xffff_ffff) && (ls == m.size || ls == 0xffff_ffff));
        if u32le(&h, 0) != 0x0403_4b50
            || name != m.name.as_bytes()
            || u16le(&h, 8) != m.method
            || !sizes_ok
        {
            return Err(bad(format!(
                "member {}: the local header disagrees with the central directory",
                m.name
            )));
        }
        let data_end = m.local_offset + 30 + nlen as u64 + u16le(&h, 28) as u64 + m.compressed;
        let next = order.get(i + 1).map_or(cd_off, |n| n.local_offset);
        if data_end > next {
            return Err(bad(format!("member {} overlaps what follows it", m.name)));
        }
    }
    Ok(())
}

/// Read a stored (uncompressed) member's bytes, at most `limit`.
pub fn read_member<F: Read + Seek>(
    f: &mut F,
    m: &Member,
    file_len: u64,
    limit: u64,
) -> Result<Vec<u8>, Unreadable> {
    if m.method != 0 {
        return Err(format!(
            "member {} is compressed (method {}); PyTorch writes pickles uncompressed, so this file was not written by torch.save",
            m.name, m.method
        )
        .into());
    }
    if m.size > limit {
        return Err(format!(
            "member {} is {} bytes, over the {limit}-byte pickle limit",
            m.name, m.size
        )
        .into());
    }
    f.seek(SeekFrom::Start(m.local_offset))
        .map_err(|e| e.to_string())?;
    let mut h = [0u8; 30];
    f.read_exact(&mut h)
        .map_err(|_| bad(format!("member {}: local header out of range", m.name)))?;
    if u32le(&h, 0) != 0x0403_4b50 {
        return Err(bad(format!("member {}: bad local header", m.name)));
    }
    let data = m.local_offset + 30 + u16le(&h, 26) as u64 + u16le(&h, 28) as u64;
    if data.checked_add(m.size).is_none_or(|e| e > file_len) {
        return Err(bad(format!("member {}: data out of range", m.name)));
    }
    f.seek(SeekFrom::Start(data)).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; m.size as usize];
    f.read_exact(&mut buf)
        .map_err(|_| bad(format!("member {}: truncated", m.name)))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored archive as torch.save lays it out (optionally with ZIP64 end records, as
    /// PyTorch's writer always adds): members at the start, the directory, the end records.
    fn archive(members: &[(&str, &[u8])], zip64: bool) -> Vec<u8> {
        let mut z = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in members {
            let off = z.len() as u32;
            z.extend(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            z.extend((data.len() as u32).to_le_bytes());
            z.extend((data.len() as u32).to_le_bytes());
            z.extend((name.len() as u16).to_le_bytes());
            z.extend(0u16.to_le_bytes());
            z.extend(name.as_bytes());
            z.extend(*data);
            cd.extend(
                b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            );
            cd.extend((data.len() as u32).to_le_bytes());
            cd.extend((data.len() as u32).to_le_bytes());
            cd.extend((name.len() as u16).to_le_bytes());
            cd.extend([0u8; 12]);
            cd.extend(off.to_le_bytes());
            cd.extend(name.as_bytes());
        }
        let (cd_off, n) = (z.len() as u64, members.len() as u64);
        z.extend(&cd);
        if zip64 {
            let rec = z.len() as u64;
            z.extend(b"PK\x06\x06");
            z.extend(44u64.to_le_bytes());
            z.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            z.extend(n.to_le_bytes());
            z.extend(n.to_le_bytes());
            z.extend((cd.len() as u64).to_le_bytes());
            z.extend(cd_off.to_le_bytes());
            z.extend(b"PK\x06\x07\x00\x00\x00\x00");
            z.extend(rec.to_le_bytes());
            z.extend(1u32.to_le_bytes());
        }
        z.extend(b"PK\x05\x06\x00\x00\x00\x00");
        z.extend((n as u16).to_le_bytes());
        z.extend((n as u16).to_le_bytes());
        z.extend((cd.len() as u32).to_le_bytes());
        z.extend((cd_off as u32).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z
    }

    fn read(z: &[u8]) -> Result<Vec<Member>, Unreadable> {
        members(&mut std::io::Cursor::new(z), z.len() as u64)
    }

    fn refused(z: &[u8], why: &str) {
        let e = read(z).expect_err(why).0;
        assert!(e.contains(why), "{e} (wanted {why})");
    }

    const PKL: &[u8] = b"\x80\x02}q\x00.";

    #[test]
    fn torch_layouts_are_read() {
        for zip64 in [false, true] {
            let z = archive(
                &[("archive/data.pkl", PKL), ("archive/data/0", b"1234")],
                zip64,
            );
            let m = read(&z).unwrap();
            assert_eq!(m.len(), 2);
            assert_eq!(m[0].name, "archive/data.pkl");
        }
    }

    #[test]
    fn ambiguous_archives_are_refused() {
        let ok = |ms: &[(&str, &[u8])]| archive(ms, true);
        refused(
            &ok(&[("a/data.pkl", PKL), ("a/data.pkl", PKL)]),
            "two members",
        );
        refused(
            &ok(&[("a/data.pkl", PKL), ("a/DATA.pkl", PKL)]),
            "two members",
        );
        refused(&ok(&[("a/DATA.PKL", PKL)]), "another case");
        // data before the first member: everything shifted by a prefix
        let z = archive(&[("a/data.pkl", PKL)], false);
        let mut p = b"#!/bin/sh\n".to_vec();
        p.extend(&z);
        assert!(read(&p).is_err());
        // a comment / trailing bytes after the end record
        let mut t = z.clone();
        t.extend(b"PK\x05\x06 trailing");
        refused(&t, "after the end-of-central-directory");
        // a ZIP64 record that disagrees with the classic one (torch would follow it)
        let mut d = archive(&[("a/data.pkl", PKL), ("a/x", b"evil")], true);
        let rec = d.len() - 22 - 20 - 56;
        d[rec + 48] ^= 1; // another directory offset in the ZIP64 record only
        refused(&d, "disagree");
        // the local header names another member than the central directory
        let mut l = archive(&[("a/data.pkl", PKL)], false);
        l[30] = b'b';
        refused(&l, "local header disagrees");
        // a compressed member
        let mut c = archive(&[("a/data.pkl", PKL)], false);
        let cd = c.len() - 22 - (46 + "a/data.pkl".len());
        c[8] = 8; // local method: deflate
        c[cd + 10] = 8; // central method
        refused(&c, "compressed");
        // two ZIP64 extra fields in one central entry
        let mut two = archive(&[("a/data.pkl", PKL)], false);
        let cd = two.len() - 22 - (46 + "a/data.pkl".len());
        let extra: &[u8] = &[1, 0, 0, 0, 1, 0, 0, 0];
        two[cd + 30] = extra.len() as u8; // extra length
        let at = cd + 46 + "a/data.pkl".len();
        two.splice(at..at, extra.iter().copied());
        let eocd = two.len() - 22;
        let size = u32le(&two, eocd + 12) + extra.len() as u32;
        two[eocd + 12..eocd + 16].copy_from_slice(&size.to_le_bytes());
        refused(&two, "two ZIP64 extra fields");
    }
}
