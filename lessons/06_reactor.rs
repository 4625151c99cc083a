//! # Lesson 06 — The reactor: asyncio's loop, on stackful tasks
//!
//! Lesson 05's loop resumed coroutines straight from its lists of sleepers,
//! readers and writers. Real loops are built the way asyncio's is: a *ready
//! queue* of things to run next, *timers* in deadline order, a *selector* (epoll, not
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
//! Every task is waited for: the client tasks live in a *scope* around the
//! accept loop (lesson 08 builds scopes), so none outlives the server, and
//! `main` stops the server by cancelling it and waiting until its scope has
//! closed every client.
//! That has a price, and the `costs` part runs it: the switch points are
//! invisible, a blocking call or a task that never waits freezes the whole
//! loop (it is *cooperative*), and the colour comes back in the types.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 06-reactor                          # the server; Ctrl-C stops it
//! cargo run --bin echo-client -- --port 15000 hello   # or: nc 127.0.0.1 15000
//! cargo run --bin 06-reactor -- ab --virtual          # lesson 03's a/b trace, on the reactor
//! cargo run --bin 06-reactor -- callbacks --virtual   # call_soon / call_later / call_at
//! cargo run --bin 06-reactor -- costs                 # what stackful costs, run
//! cargo run --bin 06-reactor -- unix --virtual        # the echo over a Unix socket, client built in
//! cargo run --bin 06-reactor -- udp --virtual         # a UDP echo: whole datagrams, truncation
//! RUST_LOG=debug cargo run --bin 06-reactor           # also the loop's own events
//! ```
//!
//! Look for: `listening on 127.0.0.1:15000`, `tick 1`, `tick 2`, … from a
//! ticker made only of `call_later` callbacks, carrying on while clients
//! connect and talk; on Ctrl-C, `disconnected: the server is stopping` for
//! each client still connected, then `stopped`: the server's scope closed
//! them all first; the a/b trace exactly as in lesson 03 (`0.500 b
//! middle`, both exits at `1.000`); in `callbacks`, the cancelled timer
//! never fires; in `costs`, alice at -60 and the ticks that stop for 0.3 s;
//! in `unix`, the TCP server's own `echo_upper` serving a
//! Unix-domain stream; in `udp`, a datagram too long for the server's
//! buffer arriving cut short, and the server noticing.
//!
//! Next, lesson 07 makes tasks into values: join them, gather them, survive
//! a panicking one, and turn a callback API into straight-line code with a
//! future.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing::{info, warn};
use yieldloop::course::cli::{self, ClockArgs, ObserveArgs, ServerArgs};
use yieldloop::course::trace;
use yieldloop::debug::signal::dump_tasks_on_sigusr1;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{
    scope, secs, sleep, spawn, yield_now, Builder, Cancelled, Clock, EventLoop, Handle, JoinHandle,
    Scope, Stream, StreamSocket, SuspendError, TaskError, TcpListener, TcpStream, UdpSocket,
    UnixListener, UnixStream,
};

// ANCHOR: server
/// The server: the talk's `accept_connections`, one task per client, all
/// started in one [`scope`] (lesson 08's): the scope returns only once every
/// client task has finished, so no client outlives the server.
fn serve_clients(listener: TcpListener) -> Result<(), Box<dyn Error>> {
    scope(|clients| accept_connections(&listener, clients))??;
    Ok(())
}

/// The accept loop. It ends only when its task is cancelled (the server is
/// stopping): every accept error is retried.
fn accept_connections(listener: &TcpListener, clients: &Scope) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((client, peer)) => {
                info!("{peer} connected");
                // A child of the scope, not a detached task: the server waits
                // for it, and cancels it when the server stops. Its handle is
                // not needed: the scope keeps track of it.
                let _ = clients.spawn("client", move || handle_client(client, peer));
            }
            // Cancelled: the server is stopping. Not an error to retry: the
            // arm below would sleep and accept again, and never stop.
            Err(error) if Cancelled::is_in(&error) => return Err(error),
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
/// fails) ends only this task: the error is logged *here* and not returned,
/// because an error returned to the scope is a failure of the whole server,
/// and the scope would cancel every other client. Only a cancellation (the
/// server stopping) is passed on.
fn handle_client(client: TcpStream, peer: SocketAddr) -> io::Result<()> {
    match echo_upper(&client) {
        Ok(()) => info!("{peer} disconnected"),
        Err(error) if Cancelled::is_in(&error) => {
            info!("{peer} disconnected: the server is stopping");
            return Err(error);
        }
        Err(error) => info!("{peer} disconnected: {error}"),
    }
    Ok(())
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

// ANCHOR: costs
/// What stackful costs, part 1: a ticker that should print every 0.1 s,
/// beside a task `work` that misbehaves. Ticks that stop while `work` runs
/// show that the whole loop stopped with it.
fn beside_a_ticker(
    clock: &Clock,
    title: &str,
    work: impl FnOnce() -> Result<(), SuspendError> + 'static,
) -> Result<(), Box<dyn Error>> {
    info!("{title}");
    let mut event_loop = Builder::new().clock(clock.clone()).build()?;
    let handle = event_loop.handle();
    let _ = event_loop.call_later(secs(0.1), move || tick_every(handle, secs(0.1), 1));
    event_loop.run_until_complete(work)??;
    Ok(())
}

/// A `call_later` ticker, like the server's, at a given period.
fn tick_every(handle: Handle, period: Duration, n: u64) {
    info!("tick {n}");
    let next = handle.clone();
    let _ = handle.call_later(period, move || tick_every(next, period, n + 1));
}

/// (b) `std::thread::sleep` looks just like `yieldloop::sleep`, and blocks
/// the thread: no tick, no other task, no socket, for 0.3 s.
fn blocks_the_thread() -> Result<(), SuspendError> {
    sleep(secs(0.25))?;
    info!("task: std::thread::sleep(0.3 s)");
    std::thread::sleep(secs(0.3));
    info!("task: awake");
    sleep(secs(0.2)) // let the ticker show it is back
}

/// (c) A task that never waits keeps the loop from running anything else.
fn never_waits() -> Result<(), SuspendError> {
    sleep(secs(0.25))?;
    info!("task: 0.3 s of work without waiting");
    let started = std::time::Instant::now();
    let mut steps = 0u64;
    while started.elapsed() < secs(0.3) {
        steps = std::hint::black_box(steps + 1);
    }
    info!("task: done");
    sleep(secs(0.2))
}

/// The fix for (c): the same work, with `yield_now()` between pieces, lets
/// the loop run ready callbacks, timers and sockets in between.
fn yields_now_and_then() -> Result<(), SuspendError> {
    sleep(secs(0.25))?;
    info!("task: 0.3 s of work, yield_now() every 10 ms");
    let started = std::time::Instant::now();
    let mut piece = std::time::Instant::now();
    while started.elapsed() < secs(0.3) {
        if piece.elapsed() >= secs(0.01) {
            yield_now()?;
            piece = std::time::Instant::now();
        }
    }
    info!("task: done");
    sleep(secs(0.2))
}

/// A bank of balances, shared by the tasks on one thread.
type Bank = Rc<RefCell<BTreeMap<&'static str, i64>>>;

/// (a) Svetlov's `transfer` ("Пишем для asyncio"): check, then act. `audit_log` looks like a plain
/// call, but it waits (it "sends the line to a log server"), and while this
/// task waits another transfer runs, between the check and the withdrawal.
fn transfer(
    bank: &Bank,
    amount: i64,
    payer: &'static str,
    payee: &'static str,
) -> Result<(), SuspendError> {
    if bank.borrow()[payer] < amount {
        info!("{payer} -> {payee}: insufficient funds");
        return Ok(());
    }
    audit_log(&format!("{payer} has sufficient funds for {amount}"))?;
    *bank.borrow_mut().entry(payee).or_default() += amount;
    *bank.borrow_mut().entry(payer).or_default() -= amount;
    info!("{payer} -> {payee}: paid {amount}");
    Ok(())
}

/// Nothing here says that it suspends the task; only its body does.
fn audit_log(line: &str) -> Result<(), SuspendError> {
    sleep(secs(0.01))?; // the round trip to the log server
    info!("audit: {line}");
    Ok(())
}

/// (e) A `RefCell` borrow held across a wait: the next task to borrow
/// panics. In an `async fn`, clippy points at the `.await`; here the wait
/// is a plain call, and nothing warns.
fn count_visit(visits: &Rc<RefCell<u64>>) -> Result<(), SuspendError> {
    let mut count = visits.borrow_mut();
    sleep(secs(0.01))?; // the borrow is still held here
    *count += 1;
    Ok(())
}

/// Runs (a) to (e), each beside the ticker where the ticker shows something.
fn costs(clock: &Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(clock, observe)?;

    let mut event_loop = Builder::new().clock(clock.clone()).build()?;
    info!("(a) invisible switch points: two transfers of 80 from alice's 100");
    let bank: Bank = Rc::new(RefCell::new(BTreeMap::from([("alice", 100)])));
    let (first, second) = (bank.clone(), bank.clone());
    // Both transfers in a scope: it returns when both have finished.
    event_loop.run_until_complete(move || {
        scope(|transfers| {
            let _ = transfers.spawn("to bob", move || transfer(&first, 80, "alice", "bob"));
            let _ = transfers.spawn("to carol", move || transfer(&second, 80, "alice", "carol"));
        })
    })??;
    info!("balances: {:?}", bank.borrow());

    beside_a_ticker(clock, "(b) std::thread::sleep in a task", blocks_the_thread)?;
    beside_a_ticker(clock, "(c) a task that never waits", never_waits)?;
    beside_a_ticker(
        clock,
        "(c) fixed: the same work with yield_now()",
        yields_now_and_then,
    )?;

    info!("(d) colouring comes back through the types");
    match sleep(secs(0.1)) {
        Ok(()) => info!("sleep outside a task slept"),
        Err(error) => {
            let message = error.to_string();
            let first = message
                .split_once(": ")
                .map_or(&*message, |(first, _)| first);
            info!("sleep outside a task: Err(NotInTask): {first}");
        }
    }

    info!("(e) a RefCell borrow held across a wait");
    let mut event_loop = Builder::new().clock(clock.clone()).build()?;
    let visits = Rc::new(RefCell::new(0u64));
    let (one, two) = (visits.clone(), visits.clone());
    // Joined one by one, not in a scope: a scope would cancel the first
    // visit the moment the second panics, and we want to see both end.
    let outcomes = event_loop.run_until_complete(move || {
        let first = spawn("first visit", move || count_visit(&one));
        let second = spawn("second visit", move || count_visit(&two));
        [first.join(), second.join()]
    })?;
    for outcome in outcomes {
        if let Err(TaskError::Panicked { task, message }) = outcome {
            info!("task {task:?} panicked: {message}");
        }
    }
    info!("visits counted: {}", visits.borrow());
    Ok(observer.finish()?)
}
// ANCHOR_END: costs

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
/// the loop, so it only sets a flag; `main`'s task looks at it ten times a
/// second. (Lesson 05 wakes the loop with a self-pipe instead.)
fn ctrl_c_flag() -> io::Result<Arc<AtomicBool>> {
    let pressed = Arc::new(AtomicBool::new(false));
    let flag = pressed.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)).map_err(io::Error::other)?;
    Ok(pressed)
}

/// Lesson 06: the echo server, a call_later ticker, and the a/b trace, on the reactor.
#[derive(Parser)]
#[command(after_help = "\
Which flags go where:
  06-reactor [--host H] [--port P] [--seconds S]   the echo server (real clock only)
  06-reactor ab [--virtual]                        lesson 03's a/b trace
  06-reactor callbacks [--virtual]                 call_soon / call_later / call_at
")]
struct Args {
    #[command(subcommand)]
    demo: Option<Demo>,
    #[command(flatten)]
    server: ServerArgs,
    /// `--virtual` before the demo's name (`06-reactor --virtual ab`) counts too.
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
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
    /// What stackful coroutines cost: invisible switch points, blocking calls, starving, colouring.
    /// Real time only: std::thread::sleep cannot move the virtual clock.
    Costs,
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

/// Parses the flags, refusing the ones given to the wrong part: the server's
/// `--host`, `--port` and `--seconds` before a demo's name (the demos end by
/// themselves and listen on nothing), and `--virtual` without a demo (a
/// server must answer clients in real time).
fn parse_args() -> Args {
    let mut command = Args::command();
    let matches = command.get_matches_mut(); // `_mut`: errors name the binary as it was run
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    if args.demo.is_none() && args.clock.virtual_time {
        command
            .error(
                ErrorKind::ArgumentConflict,
                "--virtual is a flag of the demos, not of the server, which answers real \
                 clients in real time; try `06-reactor ab --virtual` or \
                 `06-reactor callbacks --virtual`",
            )
            .exit();
    }
    if matches.subcommand_name() == Some("costs") && args.clock.virtual_time {
        command
            .error(
                ErrorKind::ArgumentConflict,
                "--virtual does not apply to `costs`: it shows std::thread::sleep and busy \
                 loops, which take real time whatever the loop's clock says; run \
                 `06-reactor costs`",
            )
            .exit();
    }
    if let Some(demo) = matches.subcommand_name() {
        if let Some(flag) = ["host", "port", "seconds"].into_iter().find(|id| given(id)) {
            command
                .error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "--{flag} is a flag of the server, not of `{demo}`, which listens on \
                         nothing and ends by itself; run `06-reactor {demo} --virtual`, or \
                         the server without `{demo}`"
                    ),
                )
                .exit();
        }
    }
    args
}

// ANCHOR: main
// ANCHOR: stopping
fn serve(args: &ServerArgs, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let clock = Clock::real();
    let observer = trace::init_observed(&clock, observe)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    // Lesson 11: `kill -USR1 <pid>` prints every task with its backtrace.
    dump_tasks_on_sigusr1(&event_loop.handle())?;
    // Ctrl-C is handled from before the first line: a script that reads
    // `listening on` and at once sends SIGINT must find the handler there.
    let ctrl_c = ctrl_c_flag()?;
    let listener = TcpListener::bind(&args.host, args.port)?;
    println!("{}", cli::listening_line(listener.local_addr()?));
    io::stdout().flush()?; // a script waiting for this line must not wait longer

    let handle = event_loop.handle();
    let _ = event_loop.call_later(secs(1.0), move || tick(handle, 1));
    let run_for = args.run_for();
    event_loop.run_until_complete(move || run_server(listener, &ctrl_c, run_for))??;
    info!("stopped");
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(()) // every client task has finished: the server's scope saw to it
}

/// `main`'s task: starts the server as a task it owns, waits for a reason
/// to stop, then cancels the server and waits until its scope has closed
/// every client. Nothing started here outlives this function.
fn run_server(
    listener: TcpListener,
    ctrl_c: &AtomicBool,
    run_for: Option<Duration>,
) -> Result<(), Box<dyn Error>> {
    let server = spawn("server", move || serve_clients(listener));
    match wait_for_stop(ctrl_c, run_for, &server)? {
        Stop::CtrlC => info!("Ctrl-C: stopping"),
        Stop::TimeIsUp(delay) => info!("{:.1} s are up: stopping", delay.as_secs_f64()),
        Stop::ServerEnded => warn!("the server ended by itself"),
    }
    server.cancel(); // the scope's task is cancelled: it cancels every client
    match server.join() {
        Err(TaskError::Cancelled { .. }) => Ok(()), // stopped as asked
        Ok(ended) => ended,                         // ended by itself: a client panicked, say
        Err(error) => Err(error.into()),
    }
}

/// Why `main` stops the server.
enum Stop {
    CtrlC,
    TimeIsUp(Duration),
    /// The server task ended without being asked to (it accepts until
    /// cancelled, so only a failure ends it).
    ServerEnded,
}

/// Looks ten times a second for a reason to stop.
fn wait_for_stop(
    ctrl_c: &AtomicBool,
    run_for: Option<Duration>,
    server: &JoinHandle<Result<(), Box<dyn Error>>>,
) -> Result<Stop, SuspendError> {
    let started = yieldloop::now()?;
    loop {
        if ctrl_c.load(Ordering::Relaxed) {
            return Ok(Stop::CtrlC);
        }
        if server.is_finished() {
            return Ok(Stop::ServerEnded);
        }
        let mut nap = secs(0.1);
        if let Some(run_for) = run_for {
            let left = run_for.saturating_sub(yieldloop::now()? - started);
            if left.is_zero() {
                return Ok(Stop::TimeIsUp(run_for));
            }
            nap = nap.min(left); // wake exactly when the time is up
        }
        sleep(nap)?;
    }
}
// ANCHOR_END: stopping

// ANCHOR: run_ab
/// `ab`: both tasks in a scope, then lesson 03's timeline of the run.
fn ab(clock: Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(&clock, observe)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    // `main` starts both in a scope, which returns once both have finished,
    // with the first error if one failed (scopes are lesson 08's; lesson 07
    // waits for tasks one by one).
    event_loop.run_until_complete(|| {
        scope(|tasks| {
            let _ = tasks.spawn("a", a);
            let _ = tasks.spawn("b", b);
        })
    })??;
    observer.timeline().print();
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}
// ANCHOR_END: run_ab

/// `callbacks`: schedule them, run until nothing is left.
fn callback_demo(clock: Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(&clock, observe)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    callbacks(&event_loop);
    event_loop.run_forever()?;
    Ok(observer.finish()?)
}

/// `unix`: the echo in a loop, its socket file in a directory of its own.
fn unix_demo(clock: Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(&clock, observe)?;
    let dir = std::env::temp_dir().join(format!("yieldloop-06-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("echo.sock");
    let mut event_loop = Builder::new().clock(clock).build()?;
    let result = event_loop.run_until_complete(move || unix_echo(&path));
    let _ = std::fs::remove_dir_all(&dir);
    result??;
    Ok(observer.finish()?)
}

/// `udp`: the UDP echo in a loop.
fn udp_demo(clock: Clock, observe: &ObserveArgs) -> Result<(), Box<dyn Error>> {
    let observer = trace::init_observed(&clock, observe)?;
    let mut event_loop = Builder::new().clock(clock).build()?;
    event_loop.run_until_complete(udp_echo)??;
    Ok(observer.finish()?)
}

fn main() -> ExitCode {
    let args = parse_args();
    args.observe.install_stepper(); // lesson 11's `--step`
    let result = match args.demo {
        None => serve(&args.server, &args.observe),
        Some(Demo::Ab { clock }) => ab(args.clock.or(clock).clock(), &args.observe),
        Some(Demo::Callbacks { clock }) => {
            callback_demo(args.clock.or(clock).clock(), &args.observe)
        }
        Some(Demo::Unix { clock }) => unix_demo(args.clock.or(clock).clock(), &args.observe),
        Some(Demo::Udp { clock }) => udp_demo(args.clock.or(clock).clock(), &args.observe),
        Some(Demo::Costs) => costs(&Clock::real(), &args.observe),
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
