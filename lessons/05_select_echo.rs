//! # Lesson 05 — select(2): one thread, many clients
//!
//! The talks start from a blocking server: accept a client, `recv`, send it
//! back upper-cased, until it leaves; only then accept the next. A second
//! client waits in line. Here the same server serves everyone at once, in
//! one thread. Each client gets a task; when a task's `recv` or `send` would
//! block, it yields "wake me when this socket can be read (or written)" to
//! the loop in `src/select/select_loop.rs`. That loop joins lesson 03's sleepers
//! with Beazley's `to_read`/`to_write` and waits in select(2) with a timeout
//! that ends when the earliest sleeper is due, so a ticker's timer and the
//! clients' sockets share one loop. Read `src/select/select_loop.rs::run` and the
//! `sock_*` calls in `src/select/sock.rs` first; this file is what uses them.
//!
//! Run it, and talk to it from other terminals:
//!
//! ```text
//! cargo run --bin 05-select-echo                  # Ctrl-C to stop
//! cargo run --bin echo-client -- --port 15000 "hello"   # prints HELLO
//! nc 127.0.0.1 15000                              # type lines; they come back upper-cased
//! ```
//!
//! Look for: `listening on 127.0.0.1:15000`, then `tick 1`, `tick 2`, … once a
//! second, never held up while clients connect, talk and leave (`… connected`,
//! `… disconnected`). `RUST_LOG=debug` also shows each select(2) call.
//!
//! Where it starts: `blocking`, `threads` and `callbacks` run the servers the
//! talks try first, `coroutines` this one, each against the same two clients
//! (`lessons/05_starting_points.rs`):
//!
//! ```text
//! cargo run --bin 05-select-echo -- blocking   # client 2 waits 0.4 s for client 1
//! cargo run --bin 05-select-echo -- threads    # answered at once: a thread each
//! cargo run --bin 05-select-echo -- callbacks  # at once, in one thread: accept_conn/respond
//! cargo run --bin 05-select-echo -- coroutines # at once, in one thread, straight-line code
//! ```
//!
//! Next, lesson 06 replaces select(2), which cannot watch descriptors numbered
//! 1024 or more and rescans every socket on every call, with epoll.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
#[path = "05_starting_points.rs"]
mod starting_points;
use starting_points::StartingPoint;
use tracing::{info, warn};
use yieldloop::course::cli::{self, ObserveArgs, ServerArgs};
use yieldloop::course::trace;
use yieldloop::generators::run::sleep;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::select::descriptors;
use yieldloop::select::net;
use yieldloop::select::select_loop::{self, LoopHandle, Task, TaskCo};
use yieldloop::select::sock::{sock_accept, sock_recv, sock_sendall};
use yieldloop::{secs, Clock};

// ANCHOR: server
/// The accept loop (Beazley's `server()`): one new task per client.
fn server(listener: TcpListener, handle: LoopHandle) -> Task {
    Task::new(move |co, ()| loop {
        match sock_accept(co, &listener) {
            Ok((client, peer)) => {
                info!("{peer} connected");
                handle.spawn(client_task(client, peer).named(format!("client {peer}")));
            }
            // Out of descriptors (EMFILE), say. The connection stays queued,
            // so the listener stays readable: retrying at once would spin.
            Err(e) => {
                warn!("accept failed: {e}; trying again in 0.1 s");
                sleep(co, secs(0.1))?;
            }
        }
    })
}

/// One client, from connect to disconnect. Whatever ends the conversation
/// ends only this task: the server goes on.
fn client_task(mut client: TcpStream, peer: SocketAddr) -> Task {
    Task::new(move |co, ()| {
        match echo_upper(co, &mut client) {
            Ok(()) => info!("{peer} disconnected"),
            // A reset, or a descriptor the loop cannot watch: log it, close.
            Err(e) => info!("{peer} disconnected: {e}"),
        }
        Ok(()) // `client` is dropped here, which closes the connection
    })
}

/// The blocking server's inner loop, unchanged but for `sock_recv` and
/// `sock_sendall`, which yield to the loop instead of blocking the thread.
fn echo_upper(co: &TaskCo, client: &mut TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = sock_recv(co, client, &mut buf)?;
        if n == 0 {
            return Ok(()); // the client closed its side
        }
        // Bytes, not text: ASCII letters are upper-cased, every other byte
        // (UTF-8 or not) goes back as it came. Nothing here can panic.
        buf[..n].make_ascii_uppercase();
        sock_sendall(co, client, &buf[..n])?;
    }
}

/// A timer in the same loop as the sockets: a tick a second, on time, however
/// busy the clients keep the server.
fn ticker() -> Task {
    Task::new(|co, ()| {
        for n in 1u64.. {
            sleep(co, secs(1.0))?;
            info!("tick {n}");
        }
        Ok(())
    })
}
// ANCHOR_END: server

// ANCHOR: stop
/// Ctrl-C, the way asyncio handles signals (its "self-pipe"). The `ctrlc`
/// handler runs on a thread of its own, where it must not touch the loop's
/// tasks, so all it does is write one byte into a socket pair. This task
/// waits to read the other end like any client socket: the byte makes
/// select(2) return, the task runs and calls `stop`, and the loop returns at
/// the top of its next turn. (The signal may also interrupt select with
/// EINTR; the loop then simply goes round.)
fn stop_on_ctrl_c(handle: LoopHandle) -> io::Result<Task> {
    let (mut wake_read, mut wake_write) = UnixStream::pair()?;
    wake_read.set_nonblocking(true)?;
    ctrlc::set_handler(move || {
        let _ = wake_write.write_all(b"!"); // if it fails, a second Ctrl-C still can
    })
    .map_err(io::Error::other)?;
    Ok(Task::new(move |co, ()| {
        sock_recv(co, &mut wake_read, &mut [0u8; 1])?;
        info!("Ctrl-C: stopping");
        handle.stop();
        Ok(())
    }))
}

/// `--seconds N`: a sleeper that stops the loop.
fn stop_after(delay: Duration, handle: LoopHandle) -> Task {
    Task::new(move |co, ()| {
        sleep(co, delay)?;
        info!("{:.1} s are up: stopping", delay.as_secs_f64());
        handle.stop();
        Ok(())
    })
}
// ANCHOR_END: stop

/// Lesson 05: an upper-casing echo server for many clients at once, on select(2).
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    observe: ObserveArgs,
    /// Test aid: hold dummy descriptors so the first client's socket gets this
    /// number (1020 lets four clients in below select(2)'s limit of 1024).
    #[arg(long, hide = true, value_parser = cli::parse_descriptor, allow_negative_numbers = true)]
    first_client_fd: Option<RawFd>,
    /// Instead of serving: run one of the servers this lesson starts from
    /// against two clients, and time how long the second one waits.
    #[command(subcommand)]
    starting_point: Option<StartingPoint>,
}

// ANCHOR: main
fn serve(args: &Args, clock: &Clock) -> io::Result<()> {
    let observer = trace::init_observed(clock, &args.observe).map_err(io::Error::other)?;
    if let Some(fd) = args.first_client_fd {
        descriptors::check_reachable(fd)?; // refuse before saying "listening"
    }
    let handle = LoopHandle::new();
    // Ctrl-C is handled from before the first line: a script that reads
    // `listening on` and at once sends SIGINT must find the handler there.
    // `named`: what the task is called on a `--timeline` (lesson 11).
    handle.spawn(stop_on_ctrl_c(handle.clone())?.named("ctrl-c"));
    // Lesson 11: `kill -USR1 <pid>` prints to_read, to_write and the sleepers.
    select_loop::dump_on_sigusr1()?;
    let listener = net::listen(&args.server.host, args.server.port)?;
    println!("{}", cli::listening_line(listener.local_addr()?));
    io::stdout().flush()?; // a script waiting for this line must not wait longer

    handle.spawn(server(listener, handle.clone()).named("server"));
    handle.spawn(ticker().named("ticker"));
    if let Some(delay) = args.server.run_for() {
        handle.spawn(stop_after(delay, handle.clone()).named("stop_after"));
    }
    let _held = match args.first_client_fd {
        Some(fd) => descriptors::hold_until_next_is(fd)?,
        None => Vec::new(),
    };
    select_loop::run(clock, &handle)?;
    info!("stopped");
    observer.finish().map_err(io::Error::other)
}

/// `blocking`, `threads`, `callbacks`, `coroutines`: see `05_starting_points.rs`.
fn run_starting_point(
    which: StartingPoint,
    clock: &Clock,
    observe: &ObserveArgs,
) -> io::Result<()> {
    let observer = trace::init_observed(clock, observe).map_err(io::Error::other)?;
    starting_points::run(which, clock)?;
    observer.finish().map_err(io::Error::other)
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    let result = match args.starting_point {
        None => serve(&args, &Clock::real()),
        Some(which) => run_starting_point(which, &Clock::real(), &args.observe),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("05-select-echo: {e}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main
