//! Descriptors: pipes, `dup2`, whole reads and writes, close-on-exec above 2, `poll`, and
//! passing one descriptor over a Unix socket (the seccomp listener's way to the supervisor).

use super::{check, Errno};
use std::os::fd::RawFd;

/// Create a pipe with both ends close-on-exec.
pub fn pipe_cloexec() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// Take ownership of a descriptor this process opened (a pipe end from [`pipe_cloexec`]).
pub fn file_from_fd(fd: RawFd) -> std::fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: the caller hands over a descriptor it owns and no longer uses: the File is
    // now its only owner and closes it once.
    unsafe { std::fs::File::from_raw_fd(fd) }
}

/// `dup2(from, to)`, retrying on EINTR (async-signal-safe: no allocation).
pub fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    loop {
        // SAFETY: dup2 only takes descriptor numbers; an invalid one is reported as EBADF.
        let rc = unsafe { libc::dup2(from, to) };
        if rc >= 0 {
            return Ok(());
        }
        if Errno::last().0 != libc::EINTR {
            return Err(Errno::last());
        }
    }
}

/// Open /dev/null read-write, close-on-exec.
pub fn open_devnull() -> Result<RawFd, Errno> {
    // SAFETY: a NUL-terminated static path.
    check(unsafe {
        libc::open(
            c"/dev/null".as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    })
}

pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor this module handed out; errors are irrelevant here.
    unsafe { libc::close(fd) };
}

/// `write` the whole buffer (retrying on EINTR and short writes).
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: buf points to buf.len() readable bytes.
        let rc = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if rc < 0 {
            if Errno::last().0 == libc::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        buf = &buf[rc as usize..];
    }
    Ok(())
}

/// `read` into the buffer until it is full or EOF; returns the bytes read.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination range lies inside buf.
        let rc = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if rc < 0 {
            if Errno::last().0 == libc::EINTR {
                continue;
            }
            return Err(Errno::last());
        }
        if rc == 0 {
            break;
        }
        got += rc as usize;
    }
    Ok(got)
}

/// Mark every descriptor above 2 close-on-exec: `close_range(CLOSE_RANGE_CLOEXEC)`, or, where
/// the kernel lacks it (before 5.11: ENOSYS/EINVAL) or a runtime's seccomp profile refuses it
/// (EPERM), a walk over the descriptor table.
pub fn cloexec_from_3() -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = Errno::last();
    if !matches!(e.0, libc::ENOSYS | libc::EINVAL | libc::EPERM) {
        return Err(e);
    }
    // Walk the descriptor table up to the soft limit.
    let max = get_nofile_soft().min(1 << 20);
    for fd in 3..max as RawFd {
        // SAFETY: fcntl on a possibly-closed descriptor just fails with EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: as above; only the descriptor's flags change.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
                return Err(Errno::last());
            }
        }
    }
    Ok(())
}

/// Whether `fd` is an open descriptor.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; EBADF when closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Clear close-on-exec on `fd` so the command inherits it.
pub fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on an integer descriptor; errors are returned.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(|_| ())
}

fn get_nofile_soft() -> u64 {
    // SAFETY: rl is a valid out-pointer.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur
        } else {
            1024
        }
    }
}

/// A connected pair of Unix datagram sockets, both close-on-exec.
pub fn socketpair_cloexec() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok((fds[0], fds[1]))
}

/// Control-message space for one descriptor (`CMSG_SPACE(sizeof(int))` on 64-bit Linux).
const CMSG_FD_SPACE: usize = 24;

/// Room for one control message carrying one descriptor.
#[repr(C, align(8))]
struct Cmsg([u8; CMSG_FD_SPACE]);

/// A message header over one 4-byte buffer and, when given, the control buffer.
fn msghdr(iov: &mut libc::iovec, control: Option<&mut Cmsg>) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid; the caller keeps iov and control alive while
    // the header is used.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    if let Some(c) = control {
        msg.msg_control = c.0.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_FD_SPACE as _;
    }
    msg
}

/// Send a 4-byte status and, when `fd` is Some, the descriptor (SCM_RIGHTS). No allocation:
/// used by the child between fork and exec.
pub fn send_fd(sock: RawFd, fd: Option<RawFd>, status: i32) -> Result<(), Errno> {
    let mut data = status.to_ne_bytes();
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = Cmsg([0; CMSG_FD_SPACE]);
    let msg = msghdr(&mut iov, fd.map(|_| &mut cbuf));
    if let Some(fd) = fd {
        // SAFETY: msg_control points to CMSG_FD_SPACE aligned bytes, enough for one header
        // and one int; CMSG_FIRSTHDR is then non-null.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd);
        }
    }
    loop {
        // SAFETY: msg and everything it points to are valid for the call.
        let rc = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if rc >= 0 {
            return Ok(());
        }
        if Errno::last().0 != libc::EINTR {
            return Err(Errno::last());
        }
    }
}

/// Receive what [`send_fd`] sent, without waiting: (status, descriptor). None when no
/// message is there.
pub fn recv_fd(sock: RawFd) -> Result<Option<(i32, Option<RawFd>)>, Errno> {
    let mut data = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = Cmsg([0; CMSG_FD_SPACE]);
    let mut msg = msghdr(&mut iov, Some(&mut cbuf));
    // SAFETY: msg and everything it points to are valid for the call.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        let e = Errno::last();
        return if e.0 == libc::EAGAIN {
            Ok(None)
        } else {
            Err(e)
        };
    }
    if n != 4 {
        return Ok(None);
    }
    let mut fd = None;
    // SAFETY: recvmsg filled msg; CMSG_FIRSTHDR/CMSG_DATA stay within msg_controllen.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            fd = Some(std::ptr::read_unaligned(
                libc::CMSG_DATA(c).cast::<libc::c_int>(),
            ));
        }
    }
    Ok(Some((i32::from_ne_bytes(data), fd)))
}

/// Wait up to `timeout_ms` for `fd` to become readable: (readable, hung up).
pub fn poll_in(fd: RawFd, timeout_ms: i32) -> Result<(bool, bool), Errno> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n < 0 {
        let e = Errno::last();
        return if e.0 == libc::EINTR {
            Ok((false, false))
        } else {
            Err(e)
        };
    }
    Ok((
        p.revents & libc::POLLIN != 0,
        p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
    ))
}
/// A TCP socket listening at `port` (parent only) on `ip`, or with `None` on every address:
/// IPv6 dual-stack (`[::]` with `IPV6_V6ONLY` off, so it holds the IPv4 port too), or IPv4
/// `0.0.0.0` where the kernel has no IPv6. Close-on-exec, `SO_REUSEADDR` as servers set it.
pub fn listen_tcp(
    ip: Option<std::net::IpAddr>,
    port: u16,
    backlog: i32,
) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let socket = |family: libc::c_int| -> Result<OwnedFd, Errno> {
        // SAFETY: plain socket creation.
        let fd = check(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: the kernel just returned `fd`, owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let opt = |fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int| {
        // SAFETY: `v` is a c_int of the size given.
        check(unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
    };
    let bind4 = |addr: Ipv4Addr| -> Result<OwnedFd, Errno> {
        let s = socket(libc::AF_INET)?;
        opt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        // SAFETY: all-zero is a valid sockaddr_in; family, port and address are set below.
        let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_port = port.to_be();
        a.sin_addr.s_addr = u32::from_ne_bytes(addr.octets());
        // SAFETY: `a` is a valid sockaddr_in of the size given.
        check(unsafe {
            libc::bind(
                s.as_raw_fd(),
                (&a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        })?;
        Ok(s)
    };
    let bind6 = |addr: Ipv6Addr, v6only: bool| -> Result<OwnedFd, Errno> {
        let s = socket(libc::AF_INET6)?;
        opt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            v6only as libc::c_int,
        )?;
        opt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        // SAFETY: all-zero is a valid sockaddr_in6; family, port and address are set below.
        let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        a.sin6_port = port.to_be();
        a.sin6_addr.s6_addr = addr.octets();
        // SAFETY: `a` is a valid sockaddr_in6 of the size given.
        check(unsafe {
            libc::bind(
                s.as_raw_fd(),
                (&a as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        })?;
        Ok(s)
    };
    let s = match ip {
        None => match bind6(Ipv6Addr::UNSPECIFIED, false) {
            Err(Errno(libc::EAFNOSUPPORT)) => bind4(Ipv4Addr::UNSPECIFIED)?,
            r => r?,
        },
        Some(IpAddr::V4(a)) => bind4(a)?,
        Some(IpAddr::V6(a)) => bind6(a, true)?,
    };
    // SAFETY: a bound stream socket.
    check(unsafe { libc::listen(s.as_raw_fd(), backlog) })?;
    Ok(s)
}

/// A close-on-exec copy of `fd` numbered `min` or above (`F_DUPFD_CLOEXEC`).
pub fn dup_above(fd: RawFd, min: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: fcntl on a descriptor number; the kernel checks it.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}
