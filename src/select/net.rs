//! Listening sockets for the course's servers. Introduced by lesson 05.
//!
//! Why not `std::net::TcpListener::bind`? It asks the kernel for a backlog of
//! 128 pending connections. When a thousand clients connect at once, the rest
//! of their SYNs are dropped and retried a second or more later, and the
//! server looks slow for reasons that have nothing to do with its loop. We
//! build the socket with `socket2` instead and ask for [`BACKLOG`].

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel may queue for us (capped by
/// `net.core.somaxconn`, which is 4096 on current Linux).
pub const BACKLOG: i32 = 1024;

/// Binds a non-blocking listener on `host:port` (port 0 picks a free one) with
/// `SO_REUSEADDR`, so a restarted lesson can bind the same port at once.
///
/// A failure names the address and says what to do about it: the system's
/// own words ("Address already in use") name neither the address nor a fix.
pub fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    let addr = resolve(host, port)?;
    bind(addr).map_err(|error| explain_bind_error(addr, error))
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// `error` from binding `addr`, with the address and a way out. Keeps the
/// error's kind, so callers can still match on it.
fn explain_bind_error(addr: SocketAddr, error: io::Error) -> io::Error {
    let ip = addr.ip();
    let hint = match error.kind() {
        io::ErrorKind::AddrInUse => format!(
            "another program already listens on port {port} (another lesson's server? \
             lessons 05 and 06 both default to 15000): stop it, or pick another port, \
             e.g. `--port 15001`, or `--port 0` to let the system choose a free one",
            port = addr.port()
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "{ip} is not an address of this machine: use `--host 127.0.0.1` (this \
             machine only) or `--host 0.0.0.0` (every network interface)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "port {} needs special privileges (ports below 1024 do): use `--port 15000`, \
             or `--port 0` to let the system choose",
            addr.port()
        ),
        _ => String::new(),
    };
    let message = if hint.is_empty() {
        format!("cannot listen on {addr}: {error}")
    } else {
        format!("cannot listen on {addr}: {error}; {hint}")
    };
    io::Error::new(error.kind(), message)
}

/// The first address `host:port` names, or an error that says which host.
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let not_found = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot find host {host:?}: {why}; check its spelling, or give an IP \
                 address such as `--host 127.0.0.1`"
            ),
        )
    };
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|error| not_found(error.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| not_found("it names no address".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_a_free_port_without_blocking() {
        let listener = listen("127.0.0.1", 0).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert_ne!(port, 0);
        let err = listener.accept().expect_err("nobody is connecting");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    /// Asserts that `err`'s message contains every one of `parts`.
    fn assert_says(err: &io::Error, parts: &[&str]) {
        let message = err.to_string();
        for part in parts {
            assert!(message.contains(part), "no {part:?} in: {message}");
        }
    }

    #[test]
    fn a_bad_host_is_a_clear_error() {
        let err = listen("no.such.host.invalid", 0).expect_err("bad host");
        assert_says(
            &err,
            &[
                "cannot find host \"no.such.host.invalid\"",
                "--host 127.0.0.1",
            ],
        );
    }

    #[test]
    fn an_address_of_another_machine_is_named_with_a_fix() {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
        let err = listen("192.0.2.1", 0).expect_err("not our address");
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable, "{err}");
        assert_says(
            &err,
            &[
                "cannot listen on 192.0.2.1:0",
                "not an address of this machine",
                "--host 127.0.0.1",
            ],
        );
    }

    #[test]
    fn a_port_in_use_is_named_with_a_fix() {
        let first = listen("127.0.0.1", 0).expect("bind");
        let port = first.local_addr().expect("addr").port();
        let err = listen("127.0.0.1", port).expect_err("the port is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let named = format!("cannot listen on 127.0.0.1:{port}");
        assert_says(&err, &[&named, "--port 0", "lessons 05 and 06"]);
    }
}
