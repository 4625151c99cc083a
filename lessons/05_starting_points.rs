//! Lesson 05's starting points, run: the servers the talks try before the
//! coroutine select loop, each given the same two clients.
//!
//! 1. `blocking`: the first slide of Kandaurov's lecture. One client at a time; the second
//!    waits until the first leaves.
//! 2. `threads`: a thread per client ("Threads, maybe?" in the talk "asyncio-nous"). Both are
//!    served at once, at the price of a thread, and its stack, per client.
//! 3. `callbacks`: the lecture's `selectors` loop. One thread; select(2) says
//!    which socket is ready and the loop calls the function registered for
//!    it (`accept_conn`, `respond`). Both are served, but the code is cut
//!    into callbacks: "callback hell" once a conversation has more steps.
//! 4. `coroutines`: this lesson's select loop, the same server as the
//!    default part, written as straight-line tasks.
//!
//! The two clients: client 1 connects, is answered, and stays 0.5 s before
//! it leaves; client 2 connects 0.1 s after it and sends one line. How long
//! client 2 waits for its answer is the measurement.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::select::{select, FdSet};
use tracing::info;
use yieldloop::secs;
use yieldloop::select::net;
use yieldloop::select::select_loop::{self, LoopHandle};
use yieldloop::Clock;

/// Which server to give the two clients.
#[derive(clap::Subcommand, Clone, Copy, Debug)]
pub enum StartingPoint {
    /// The talks' first server: one client at a time.
    Blocking,
    /// A thread per client.
    Threads,
    /// The selectors loop with callbacks: accept_conn, respond.
    Callbacks,
    /// This lesson's coroutine select loop, for comparison.
    Coroutines,
}

impl StartingPoint {
    fn title(self) -> &'static str {
        match self {
            StartingPoint::Blocking => "blocking",
            StartingPoint::Threads => "thread-per-client",
            StartingPoint::Callbacks => "callback",
            StartingPoint::Coroutines => "coroutine",
        }
    }
}

// ANCHOR: blocking
/// Kandaurov's first server, for `clients` clients: accept one, echo it
/// upper-cased until it leaves, and only then accept the next.
fn blocking_server(listener: TcpListener, clients: usize) -> io::Result<()> {
    listener.set_nonblocking(false)?; // `net::listen` made it non-blocking
    for _ in 0..clients {
        let (client, _) = listener.accept()?; // waits here for the next client
        echo_upper_blocking(client)?; // ...and here, until this one leaves
    }
    Ok(())
}

/// `while True: data = recv(4096); if not data: break; send(data.upper())`.
fn echo_upper_blocking(mut client: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        buf[..n].make_ascii_uppercase();
        client.write_all(&buf[..n])?;
    }
}
// ANCHOR_END: blocking

// ANCHOR: threads
/// The same loop, one thread per client: the kernel switches between them.
fn threaded_server(listener: TcpListener, clients: usize) -> io::Result<()> {
    listener.set_nonblocking(false)?;
    let mut threads = Vec::new();
    for _ in 0..clients {
        let (client, _) = listener.accept()?;
        threads.push(thread::spawn(move || echo_upper_blocking(client)));
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| io::Error::other("a client thread panicked"))??;
    }
    Ok(())
}
// ANCHOR_END: threads

// ANCHOR: callbacks
/// What the callback loop knows about each socket: what to call when it is
/// readable. Python: `selector.register(sock, EVENT_READ, callback)`.
enum Callback {
    AcceptConn(TcpListener),
    Respond(TcpStream),
}

/// Kandaurov's `selectors` loop: wait until some registered socket is
/// readable, then call its callback. Runs until `clients` have come and gone.
fn callback_server(listener: TcpListener, clients: usize) -> io::Result<()> {
    let mut registered: HashMap<RawFd, Callback> = HashMap::new();
    registered.insert(listener.as_raw_fd(), Callback::AcceptConn(listener));
    let mut served = 0;
    while served < clients {
        for fd in readable(&registered)? {
            // Take the callback out: it may register others, or not come back.
            let Some(callback) = registered.remove(&fd) else {
                continue;
            };
            match callback {
                Callback::AcceptConn(listener) => {
                    let client = accept_conn(&listener)?;
                    registered.insert(client.as_raw_fd(), Callback::Respond(client));
                    registered.insert(fd, Callback::AcceptConn(listener));
                }
                Callback::Respond(client) => match respond(&client)? {
                    Some(()) => drop(registered.insert(fd, Callback::Respond(client))),
                    None => served += 1, // it left; dropping `client` closes it
                },
            }
        }
    }
    Ok(())
}

/// The callback for the listening socket: a client is waiting, so `accept`
/// will not block.
fn accept_conn(listener: &TcpListener) -> io::Result<TcpStream> {
    let (client, peer) = listener.accept()?;
    client.set_nonblocking(false)?; // the slide's sockets block; select said it is ready
    info!("accept_conn: {}", role(peer));
    Ok(client)
}

/// The callback for a client: one `recv`, one `send`. It must not loop like
/// `echo_upper_blocking`: a second `recv` would block the whole loop. Every
/// step of a conversation that waits becomes one more callback, and its
/// state must live outside the function between calls. That is the
/// "callback hell" of Stępniowski's talk, here only one level deep.
fn respond(client: &TcpStream) -> io::Result<Option<()>> {
    let mut buf = [0u8; 4096];
    let n = (&*client).read(&mut buf)?;
    if n == 0 {
        info!("respond: a client left");
        return Ok(None);
    }
    buf[..n].make_ascii_uppercase();
    // A blocking send, as on the slide: fine for a short line, but a client
    // that stops reading would stop every other client with it.
    (&*client).write_all(&buf[..n])?;
    Ok(Some(()))
}

/// select(2) on every registered socket, for reading.
fn readable(registered: &HashMap<RawFd, Callback>) -> io::Result<Vec<RawFd>> {
    let mut wanted = FdSet::new();
    for callback in registered.values() {
        match callback {
            Callback::AcceptConn(listener) => wanted.insert(listener.as_fd()),
            Callback::Respond(client) => wanted.insert(client.as_fd()),
        }
    }
    select(None, Some(&mut wanted), None, None, None).map_err(io::Error::from)?;
    Ok(wanted.fds(None).map(|fd| fd.as_raw_fd()).collect())
}
// ANCHOR_END: callbacks

/// The lesson's own server, the coroutine select loop, run for `for_how_long`.
fn coroutine_server(
    listener: TcpListener,
    clock: &Clock,
    for_how_long: Duration,
) -> io::Result<()> {
    let handle = LoopHandle::new();
    handle.spawn(super::server(listener, handle.clone()).named("server"));
    handle.spawn(super::stop_after(for_how_long, handle.clone()).named("stop_after"));
    select_loop::run(clock, &handle)
}

/// Client 1's and client 2's names in the servers' lines: the server does
/// not know, so it logs the peer; the clients are told apart in the test by
/// their own lines.
fn role(peer: SocketAddr) -> String {
    format!("a client from port {}", peer.port())
}

// ANCHOR: clients
/// Client 1: answered, then stays connected for 0.5 s.
fn first_client(server: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect(server)?;
    stream.write_all(b"one\n")?;
    info!("client 1: sent \"one\"");
    info!("client 1: got {:?}", read_line(&mut stream)?);
    thread::sleep(secs(0.5));
    info!("client 1: leaves");
    Ok(())
}

/// Client 2: comes 0.1 s later, sends one line, and times the answer.
fn second_client(server: SocketAddr) -> io::Result<()> {
    thread::sleep(secs(0.1));
    let mut stream = TcpStream::connect(server)?;
    let sent = Instant::now();
    stream.write_all(b"two\n")?;
    info!("client 2: sent \"two\"");
    let answer = read_line(&mut stream)?;
    info!(
        "client 2: got {answer:?} after {:.2} s",
        sent.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_line(stream: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}
// ANCHOR_END: clients

/// Runs `which` server on a free port in a thread of its own, and the two
/// clients against it.
pub fn run(which: StartingPoint, clock: &Clock) -> io::Result<()> {
    let listener = net::listen("127.0.0.1", 0)?;
    let address = listener.local_addr()?;
    info!("{} server, two clients", which.title());
    let server_clock = clock.clone();
    let server = thread::spawn(move || match which {
        StartingPoint::Blocking => blocking_server(listener, 2),
        StartingPoint::Threads => threaded_server(listener, 2),
        StartingPoint::Callbacks => callback_server(listener, 2),
        StartingPoint::Coroutines => coroutine_server(listener, &server_clock, secs(0.8)),
    });
    let first = thread::spawn(move || first_client(address));
    second_client(address)?;
    first
        .join()
        .map_err(|_| io::Error::other("client 1 panicked"))??;
    server
        .join()
        .map_err(|_| io::Error::other("the server panicked"))?
}
