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

/// The central directory's members.
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
    let mut count = u16le(&tail, eocd + 10) as u64;
    let mut cd_size = u32le(&tail, eocd + 12) as u64;
    let mut cd_off = u32le(&tail, eocd + 16) as u64;
    if count == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        // ZIP64 locator right before the EOCD.
        if eocd < 20 || u32le(&tail, eocd - 20) != 0x0706_4b50 {
            return Err(bad("ZIP64 fields without a ZIP64 locator"));
        }
        let rec = u64le(&tail, eocd - 20 + 8);
        f.seek(SeekFrom::Start(rec)).map_err(|e| e.to_string())?;
        let mut z = [0u8; 56];
        f.read_exact(&mut z)
            .map_err(|_| bad("ZIP64 record out of range"))?;
        if u32le(&z, 0) != 0x0606_4b50 {
            return Err(bad("bad ZIP64 end-of-central-directory record"));
        }
        count = u64le(&z, 32);
        cd_size = u64le(&z, 40);
        cd_off = u64le(&z, 48);
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
        // ZIP64 extended information extra field (0x0001).
        let mut x = p + 46 + nlen;
        let xend = x + xlen;
        while x + 4 <= xend {
            let id = u16le(&cd, x);
            let len = u16le(&cd, x + 2) as usize;
            let mut q = x + 4;
            let lim = (x + 4 + len).min(xend);
            if id == 1 {
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
    Ok(out)
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
