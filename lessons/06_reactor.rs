//! # Lesson 06 — The reactor: asyncio's loop, on stackful tasks
//!
//! Lesson 05's loop resumed coroutines straight from its lists of sleepers,
//! readers and writers. Real loops are built the way asyncio's is: a *ready
//! queue* of things to run next, a *heap of timers*, a *selector* (epoll, not
//! select(2), so no 1024 limit and no rescan of every socket), and one
//! function, `run_once`, that turns the crank. Tasks live in a slab, and a
//! task's slab key is also the key its sockets are registered under, so an
//! epoll event names the task to wake. Read `src/reactor/event_loop.rs` (`run_once`,
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
//! RUST_LOG=debug cargo run --bin 06-reactor           # also the loop's own events
//! ```
//!
//! Look for: `listening on 127.0.0.1:15000`, `tick 1`, `tick 2`, … from a
//! ticker made only of `call_later` callbacks, carrying on while clients
//! connect and talk; the a/b trace exactly as in lesson 03 (`0.500 b
//! middle`, both exits at `1.000`); in `callbacks`, the cancelled timer
//! never fires.
//!
//! Next, lesson 07 makes tasks into values: join them, gather them, survive
//! a panicking one, and turn a callback API into straight-line code with a
//! future.

use std::error::Error;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing::{info, warn};
use yieldloop::course::cli::{self, ClockArgs, ServerArgs};
use yieldloop::course::trace;
use yieldloop::{
    gather, secs, sleep, spawn, Builder, Clock, EventLoop, Handle, SuspendError, TcpListener,
    TcpStream,
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

/// Reads look blocking; each suspends this task until data comes.
fn echo_upper(client: &TcpStream) -> io::Result<()> {
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
fn a() -> Result<(), SuspendError> {
    info!("a enter");
    sleep(secs(1.0))?;
    info!("a exit");
    Ok(())
}

fn b() -> Result<(), SuspendError> {
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

/// Ctrl-C: the `ctrlc` handler runs on a thread of its own and must not touch
/// the loop, so it only sets a flag; a task looks at it ten times a second
/// and stops the loop. (Lesson 05 wakes the loop with a self-pipe instead.)
fn stop_on_ctrl_c(handle: Handle) -> io::Result<impl FnOnce() -> Result<(), SuspendError>> {
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

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.demo {
        None => serve(&args.server),
        Some(Demo::Ab { clock }) => ab(clock.clock()),
        Some(Demo::Callbacks { clock }) => callback_demo(clock.clock()),
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
