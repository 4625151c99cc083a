//! Socket calls for tasks: try, and if the socket is not ready, wait for it.
//! Introduced by lesson 05.
//!
//! These are Beazley's `sock_accept` / `sock_recv` / `sock_sendall` (asyncio's
//! `loop.sock_accept`, `loop.sock_recv`, `loop.sock_sendall`). Each one makes
//! the ordinary non-blocking call. If the kernel answers `WouldBlock` ("not
//! now"), it yields [`Request::Read`] or [`Request::Write`] to the
//! [select loop](crate::select::select_loop), which resumes the task once select(2)
//! says the descriptor is ready, and the call is tried again.
//!
//! Three rules every event loop lives by, taught where they bite:
//!
//! * **The socket must be non-blocking.** A blocking `recv` would stop the
//!   whole loop, not just this task. [`sock_accept`] makes every accepted
//!   socket non-blocking; `net::listen` does it for the listener.
//! * **Readiness is a hint.** "Readable" means "a read would probably not
//!   block", not "here are your bytes": another task may have read them first,
//!   or the kernel may have changed its mind. So after waking we *retry*, and
//!   are ready to wait again; never assume.
//! * **Interrupted calls are retried.** A signal arriving mid-call makes it
//!   fail with `EINTR` (`ErrorKind::Interrupted`), which means "try again".
//!
//! The `co` handle is an explicit argument here, so you can see which
//! functions may suspend. Lesson 06 hides it behind a thread-local.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use crate::generators::request::Request;
use crate::select::select_loop::TaskCo;

// ANCHOR: retry
/// The pattern every call here shares: try `call`; if the socket is not
/// ready, yield `wait_for` and try again when the loop resumes us.
///
/// Readiness is a hint: after select(2) said "readable", `call` may still
/// answer `WouldBlock` (someone else took the data, or the kernel dropped a
/// packet with a bad checksum). That is not an error; we just wait again.
fn try_until_ready<T>(
    co: &TaskCo,
    wait_for: Request,
    mut call: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => co.yield_(wait_for)?,
            // A signal interrupted the call (EINTR): nothing happened, try again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}
// ANCHOR_END: retry

// ANCHOR: sock
/// Accepts a connection on a non-blocking `listener`, waiting for one if none
/// is pending. The new socket is made non-blocking too.
pub fn sock_accept(co: &TaskCo, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let wait_for = Request::Read(listener.as_raw_fd());
    let (stream, peer) = try_until_ready(co, wait_for, || listener.accept())?;
    stream.set_nonblocking(true)?;
    Ok((stream, peer))
}

/// Receives at least one byte into `buf`, waiting until some arrive.
/// Returns `Ok(0)` when the peer has closed its side (end of file), or when
/// `buf` is empty.
pub fn sock_recv<S>(co: &TaskCo, sock: &mut S, buf: &mut [u8]) -> io::Result<usize>
where
    S: Read + AsRawFd,
{
    let wait_for = Request::Read(sock.as_raw_fd());
    try_until_ready(co, wait_for, || sock.read(buf))
}

/// Sends all of `data`, waiting whenever the socket's send buffer is full.
///
/// One `write` may take only part of `data` (a *partial write*: the kernel
/// had room for that much), so we loop until every byte is out. While it
/// waits, this task reads nothing more from its peer, which is what keeps a
/// server's memory bounded when a client sends but never reads.
pub fn sock_sendall<S>(co: &TaskCo, sock: &mut S, mut data: &[u8]) -> io::Result<()>
where
    S: Write + AsRawFd,
{
    let wait_for = Request::Write(sock.as_raw_fd());
    while !data.is_empty() {
        let sent = try_until_ready(co, wait_for, || sock.write(data))?;
        if sent == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[sent..];
    }
    Ok(())
}
// ANCHOR_END: sock
