//! # Lesson 06 — The reactor: asyncio's loop, on stackful tasks
//!
//! Lesson 05's loop resumed coroutines straight from its lists of sleepers,
//! readers and writers. Real loops are built the way asyncio's is: a *ready
//! queue* of things to run next, a *heap of timers*, a *selector* (epoll, not
//! select(2), so no 1024 limit and no rescan of every socket), and one
//! function, `run_once`, that turns the crank. Tasks live in a slab, and
//! each socket's selector key leads to a small record naming the task that
//! waits to read it and the one that waits to write it, so an epoll event
//! finds the tasks to wake. Read `src/reactor/event_loop.rs` (`run_once`,
//! `step`, `wake`) beside the Python in the book, then `src/reactor/task.rs` for how
//! `sleep` and `read` find the running task through a thread-local.
//!
//! What changes for the code we write: nothing yields any more. The echo
//! server below is the talk's `sock_accept` / `sock_recv` server with the
//! `yield from`s gone: `listener.accept()`, `client.read()` and
//! `client.write_all()` look blocking and suspend only the calling task.
//! There are no `co` handles to pass around and no function colouring.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 06-reactor                          # the server; Ctrl-C stops it
//! cargo run --bin echo-client -- --port 15000 hello   # or: nc 127.0.0.1 15000
//! cargo run --bin 06-reactor -- ab --virtual          # lesson 03's a/b trace, on the reactor
//! cargo run --bin 06-reactor -- callbacks --virtual   # call_soon / call_later / call_at
//! cargo run --bin 06-reactor -- unix --virtual        # the echo over a Unix socket, client built in
//! cargo run --bin 06-reactor -- udp --virtual         # a UDP echo: whole datagrams, truncation
//! RUST_LOG=debug cargo run --bin 06-reactor           # also the loop's own events
//! ```
//!
//! Look for: `listening on 127.0.0.1:15000`, `tick 1`, `tick 2`, … from a
//! ticker made only of `call_later` callbacks, carrying on while clients
//! connect and talk; the a/b trace exactly as in lesson 03 (`0.500 b
//! middle`, both exits at `1.000`); in `callbacks`, the cancelled timer
//! never fires; in `unix`, the TCP server's own `echo_upper` serving a
//! Unix-domain stream; in `udp`, a datagram too long for the server's
//! buffer arriving cut short, and the server noticing.
//!
//! Next, lesson 07 makes tasks into values: join them, gather them, survive
//! a panicking one, and turn a callback API into straight-line code with a
//! future.

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing::{info, warn};
use yieldloop::course::cli::{self, ClockArgs, ServerArgs};
use yieldloop::course::trace;
use yieldloop::{
    gather, secs, sleep, spawn, Builder, Clock, EventLoop, Handle, NotInTask, Stream, StreamSocket,
    TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream,
};

// ANCHOR: server
/// The accept loop: the talk's `accept_connections`, one task per client.
fn accept_connections(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((client, peer)) => {
                info!("{peer} connected");
                // Detached: nobody joins a client task; it ends with its client.
                drop(spawn("client", move || handle_client(client, peer)));
            }
            // Out of descriptors (EMFILE), say. The connection stays queued,
            // so the listener stays readable: retrying at once would spin.
            Err(error) => {
                warn!("accept failed: {error}; trying again in 0.1 s");
                sleep(secs(0.1))?;
            }
        }
    }
}

/// One client, from connect to disconnect: the talk's `handle_client`.
/// Whatever ends the conversation (the peer leaves, resets, or a write
/// fails) ends only this task.
fn handle_client(client: TcpStream, peer: SocketAddr) {
    match echo_upper(&client) {
        Ok(()) => info!("{peer} disconnected"),
        Err(error) => info!("{peer} disconnected: {error}"),
    }
} // `client` is dropped here: unregistered from epoll, then closed

/// Reads look blocking; each suspends this task until data comes. Any
/// stream will do: a `TcpStream` here, a `UnixStream` in the `unix` part.
fn echo_upper<S: StreamSocket>(client: &Stream<S>) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(()); // the client closed its side
        }
        // Bytes, not text: ASCII letters are upper-cased, every other byte
        // (UTF-8 or not) goes back as it came.
        buf[..n].make_ascii_uppercase();
        client.write_all(&buf[..n])?;
    }
}
// ANCHOR_END: server

// ANCHOR: ticker
/// A timer made of callbacks, no task at all: each tick schedules the next
/// with `call_later`, as asyncio code does with `loop.call_later(1, tick)`.
fn tick(handle: Handle, n: u64) {
    info!("tick {n}");
    let next = handle.clone();
    let _ = handle.call_later(secs(1.0), move || tick(next, n + 1));
}
// ANCHOR_END: ticker

// ANCHOR: ab
/// Lesson 03's `a` and `b`, now plain functions: `sleep` suspends the task.
fn a() -> Result<(), NotInTask> {
    info!("a enter");
    sleep(secs(1.0))?;
    info!("a exit");
    Ok(())
}

fn b() -> Result<(), NotInTask> {
    info!("b enter");
    sleep(secs(0.5))?;
    info!("b middle");
    sleep(secs(0.5))?;
    info!("b exit");
    Ok(())
}
// ANCHOR_END: ab

// ANCHOR: callbacks
/// The loop's callback API: asyncio's `call_soon`, `call_later`, `call_at`,
/// and cancelling a timer before it fires.
fn callbacks(event_loop: &EventLoop) {
    let _ = event_loop.call_later(secs(0.2), || info!("call_later(0.2) ran"));
    let _ = event_loop.call_at(secs(0.5), || info!("call_at(0.5) ran"));
    let doomed = event_loop.call_later(secs(0.3), || info!("never printed"));
    event_loop.call_soon(move || {
        info!("call_soon ran, first: it was ready before any timer was due");
        info!("cancelling the 0.3 s timer: {}", doomed.cancel());
    });
}
// ANCHOR_END: callbacks

// ANCHOR: unix
/// `unix`: the same echo over a Unix-domain socket, a file on a path
/// instead of an address and port. The server task runs the TCP server's
/// own `echo_upper`; a client in the main task talks to it.
fn unix_echo(path: &Path) -> io::Result<()> {
    let listener = UnixListener::bind(path)?; // removes its socket file when dropped
    info!("listening on a Unix socket: {}", file_name(path));
    let server = spawn("server", move || -> io::Result<()> {
        let (client, _) = listener.accept()?;
        info!("server: a client connected");
        echo_upper(&client)?; // the very function the TCP server runs
        info!("server: the client closed its side; closing ours");
        Ok(())
    });
    let client = UnixStream::connect(path)?;
    for message in ["hello", "over a Unix socket"] {
        client.write_all(message.as_bytes())?;
        info!("client: sent {message:?}");
        let mut echo = vec![0; message.len()];
        (&client).read_exact(&mut echo)?;
        info!("client: got {:?}", String::from_utf8_lossy(&echo));
    }
    client.shutdown(Shutdown::Write)?; // "that was all": the server reads end of file
    let mut rest = Vec::new();
    (&client).read_to_end(&mut rest)?;
    info!("client: the server closed the connection");
    server.join().map_err(io::Error::other)?
}
// ANCHOR_END: unix

// ANCHOR: udp
/// `udp`: an upper-casing echo over UDP. No connection and no stream: each
/// `send_to` is one datagram, each `recv_from` returns one, whole, or cut
/// short when it is longer than the buffer.
fn udp_echo() -> io::Result<()> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    let server_addr = server.local_addr()?;
    let echo = spawn("server", move || -> io::Result<()> {
        let mut buf = [0u8; 16]; // small on purpose
        loop {
            let datagram = server.recv_datagram(&mut buf)?;
            let got = &buf[..datagram.len];
            if got == b"bye" {
                info!("server: bye");
                return Ok(());
            }
            if datagram.is_truncated() {
                info!(
                    "server: a {}-byte datagram did not fit in {} bytes: the rest is lost",
                    datagram.size,
                    buf.len()
                );
            }
            server.send_to(&got.to_ascii_uppercase(), datagram.from)?;
        }
    });
    let mut buf = [0u8; 64];
    for message in ["hello", "datagrams", "a datagram longer than sixteen bytes"] {
        client.send_to(message.as_bytes(), server_addr)?;
        info!("client: sent {message:?}");
        let (n, _) = client.recv_from(&mut buf)?;
        info!("client: got {:?}", String::from_utf8_lossy(&buf[..n]));
    }
    client.send_to(b"bye", server_addr)?;
    echo.join().map_err(io::Error::other)?
}
// ANCHOR_END: udp

/// The last part of a path, for a trace that is the same on every run.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into(),
    )
}

/// Ctrl-C: the `ctrlc` handler runs on a thread of its own and must not touch
/// the loop, so it only sets a flag; a task looks at it ten times a second
/// and stops the loop. (Lesson 05 wakes the loop with a self-pipe instead.)
fn stop_on_ctrl_c(handle: Handle) -> io::Result<impl FnOnce() -> Result<(), NotInTask>> {
    let pressed = Arc::new(AtomicBool::new(false));
    let flag = pressed.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)).map_err(io::Error::other)?;
    Ok(move || {
        while !pressed.load(Ordering::Relaxed) {
            sleep(secs(0.1))?;
        }
        info!("Ctrl-C: stopping");
        handle.stop();
        Ok(())
    })
}

/// Lesson 06: the echo server, a call_later ticker, and the a/b trace, on the reactor.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    demo: Option<Demo>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand)]
enum Demo {
    /// Lesson 03's a/b trace, on the reactor.
    Ab {
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// call_soon, call_later, call_at and a cancelled timer.
    Callbacks {
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// The echo server over a Unix-domain socket, with a client built in.
    Unix {
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// A UDP echo with a client built in: whole datagrams, and one truncated.
    Udp {
        #[command(flatten)]
        clock: ClockArgs,
    },
}

// ANCHOR: main
fn serve(args: &ServerArgs) -> Result<(), Box<dyn Error>> {
    let clock = Clock::real();
    trace::init(&clock)?;
    let listener = TcpListener::bind(&args.host, args.port)?;
    println!("{}", cli::listening_line(listener.local_addr()?));
    io::stdout().flush()?; // a script waiting for this line must not wait longer

    let mut event_loop = Builder::new().clock(clock).build()?;
    drop(event_loop.spawn("accept", move || accept_connections(listener)));
    drop(event_loop.spawn("ctrl-c", stop_on_ctrl_c(event_loop.handle())?));
    let handle = event_loop.handle();
    let _ = event_loop.call_later(secs(1.0), move || tick(handle, 1));
    if let Some(delay) = args.run_for() {
        let handle = event_loop.handle();
        let _ = event_loop.call_later(delay, move || {
            info!("{:.1} s are up: stopping", delay.as_secs_f64());
            handle.stop();
        });
    }
    event_loop.run_forever()?;
    info!("stopped");
    Ok(()) // dropping the loop unwinds the client tasks: their sockets close
}

/// `ab`: both tasks in one loop, then lesson 03's timeline of the run.
fn ab(clock: Clock) -> Result<(), Box<dyn Error>> {
    let timeline = trace::init_with_timeline(&clock)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    let results = event_loop.run_until_complete(|| gather([spawn("a", a), spawn("b", b)]))?;
    for result in results {
        result??;
    }
    timeline.print();
    Ok(())
}

/// `callbacks`: schedule them, run until nothing is left.
fn callback_demo(clock: Clock) -> Result<(), Box<dyn Error>> {
    trace::init(&clock)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    callbacks(&event_loop);
    event_loop.run_forever()?;
    Ok(())
}

/// `unix`: the echo in a loop, its socket file in a directory of its own.
fn unix_demo(clock: Clock) -> Result<(), Box<dyn Error>> {
    trace::init(&clock)?;
    let dir = std::env::temp_dir().join(format!("yieldloop-06-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("echo.sock");
    let mut event_loop = Builder::new().clock(clock).build()?;
    let result = event_loop.run_until_complete(move || unix_echo(&path));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result??)
}

/// `udp`: the UDP echo in a loop.
fn udp_demo(clock: Clock) -> Result<(), Box<dyn Error>> {
    trace::init(&clock)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    Ok(event_loop.run_until_complete(udp_echo)??)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.demo {
        None => serve(&args.server),
        Some(Demo::Ab { clock }) => ab(clock.clock()),
        Some(Demo::Callbacks { clock }) => callback_demo(clock.clock()),
        Some(Demo::Unix { clock }) => unix_demo(clock.clock()),
        Some(Demo::Udp { clock }) => udp_demo(clock.clock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("06-reactor: {error}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main
