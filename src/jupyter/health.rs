//! `secure-init healthcheck`: is the Jupyter server answering?

use crate::error::{Error, Result};

/// `secure-init healthcheck`: GET http://127.0.0.1:PORT/BASE/api, true on HTTP 200.
pub fn healthcheck(port: u16, base_url: &str, timeout: std::time::Duration) -> Result<()> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| Error::unavailable(format!("connect {addr}: {e}")))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| Error::unavailable(e.to_string()))?;
    let path = format!("{}/api", base_url.trim_end_matches('/'));
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: secure-init-healthcheck\r\n\r\n")
        .map_err(|e| Error::unavailable(e.to_string()))?;
    let mut buf = Vec::new();
    let _ = s.take(4096).read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(Error::unavailable(format!(
            "GET {path} answered {:?}",
            head.lines().next().unwrap_or("nothing")
        )))
    }
}
