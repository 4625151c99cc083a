//! # Lesson 07 — Tasks and futures: join, gather, panics, no more callbacks
//!
//! Lesson 06 waited for its tasks with a scope, all at once. Here tasks are
//! values: `spawn` returns a `JoinHandle`, `join` waits for one result,
//! `gather` for many, in order. A task that panics does not take the loop down: the panic is
//! caught at the task's boundary, and whoever joins it gets
//! `TaskError::Panicked` with the task's name and message. A `Future` is a
//! result that someone else will set; waiting on it from a task is how a
//! callback API becomes straight-line code (the talk's "no more callbacks").
//! Last, the talk's `update_index`: fetch several pages from a small HTTP
//! server that this lesson runs on loopback, first one after another, then
//! concurrently, then process them; and the slide's `call_soon` bug, then
//! its fix.
//! Read `src/reactor/future.rs` (`complete`, `wait`, `gather`) beside this file.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 07-tasks              # real time: about 2.8 s
//! cargo run --bin 07-tasks -- --virtual # virtual time: instant, exact times
//! ```
//!
//! Look for: `gather` finishing at the slowest task's time, not the sum; the
//! panicking task's message on stderr, then `join(faulty)` reporting it while
//! the other workers finish; the callback API answering through `lookup`;
//! and in `update_index`, five 0.2 s pages fetched in 1.0 s one after
//! another, in about 0.2 s with tasks; `update_cache` before `update_index
//! returns` with the slide's line, after it once fixed.
//!
//! Next: lesson 08 stops tasks: cancellation where they wait, `wait_for`,
//! `shield` and `scope`. (The book's "Performance" page puts this loop
//! against tokio and asyncio.)

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing::{info, warn};
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::debug::signal::dump_tasks_on_sigusr1;
use yieldloop::{
    gather, scope, secs, sleep, spawn, Builder, Cancelled, Future, Handle, NotInTask, SuspendError,
    TaskError, TcpListener, TcpStream,
};

/// What the lesson's task functions return.
type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

// ANCHOR: gather
/// Part 1: three tasks that each sleep `n / 10` s and return `n * n`.
fn spawn_join_gather() -> Result<()> {
    info!("part 1: spawn, join, gather");
    let answer = spawn("answer", || {
        sleep(secs(0.1))?;
        Ok::<_, SuspendError>(42)
    });
    info!("join(answer) = {}", answer.join()??);

    let squares: Vec<_> = (1..=3u64)
        .map(|n| {
            spawn("square", move || {
                sleep(secs(n as f64 / 10.0))?;
                Ok::<_, SuspendError>(n * n)
            })
        })
        .collect();
    // All three sleep at once: gather returns after 0.3 s, not 0.1+0.2+0.3.
    let results: Vec<u64> = gather(squares)
        .into_iter()
        .map(|r| r?.map_err(Into::into))
        .collect::<Result<_>>()?;
    info!("gather(squares) = {results:?}");
    Ok(())
}
// ANCHOR_END: gather

// ANCHOR: panic
/// Part 2: one task panics; the others carry on, and `join` says what broke.
fn a_panicking_task() -> Result<()> {
    info!("part 2: a task that panics");
    let workers: Vec<_> = (1..=2)
        .map(|n| {
            spawn(format!("worker {n}"), move || {
                sleep(secs(0.1 * n as f64))?;
                info!("worker {n} finished");
                Ok::<_, SuspendError>(n)
            })
        })
        .collect();
    let faulty = spawn("faulty", || -> u32 {
        let readings: Vec<u32> = Vec::new();
        // An out-of-bounds index: Rust panics here instead of reading garbage.
        readings[3]
    });
    match faulty.join() {
        Err(TaskError::Panicked { task, message }) => {
            info!("join(faulty): task {task:?} panicked: {message}")
        }
        other => info!("join(faulty): unexpectedly {other:?}"),
    }
    let finished = gather(workers).into_iter().filter(|r| r.is_ok()).count();
    info!("the loop went on: {finished} of 2 workers finished");
    Ok(())
}
// ANCHOR_END: panic

// ANCHOR: no_more_callbacks
/// A callback-style API, as old libraries offer: it answers later by calling
/// `on_done` (here after 0.1 s, through the loop's `call_later`).
fn lookup_with_callback(
    handle: &Handle,
    name: &str,
    on_done: impl FnOnce(Result<String, LookupError>) + 'static,
) {
    let answer = match name {
        "example.org" => Ok("93.184.215.14".to_string()),
        _ => Err(LookupError::NoSuchHost(name.to_string())),
    };
    let _ = handle.call_later(secs(0.1), move || on_done(answer));
}

/// The same API as straight-line code (the talk's `faux_sync_function`):
/// make a future, let the callback complete it, wait on it. Only this task
/// waits; the loop runs everything else meanwhile.
fn lookup(name: &str) -> Result<String, LookupError> {
    let future = Future::new();
    let on_done = future.clone();
    let handle = Handle::current().map_err(|e| LookupError::NotInTask(e.to_string()))?;
    lookup_with_callback(&handle, name, move |answer| {
        let _ = on_done.complete(answer); // the API calls back once: cannot be done twice
    });
    future.wait()
}
// ANCHOR_END: no_more_callbacks

/// Why `lookup` failed.
#[derive(Debug)]
enum LookupError {
    /// The name is unknown.
    NoSuchHost(String),
    /// `lookup` was called outside a task, where nothing can wait.
    NotInTask(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NoSuchHost(name) => write!(f, "no address for {name:?}"),
            LookupError::NotInTask(why) => f.write_str(why),
        }
    }
}

impl Error for LookupError {}

/// `Future::wait` reports "not in a task" through the future's error type.
impl From<yieldloop::WaitError> for LookupError {
    fn from(error: yieldloop::WaitError) -> Self {
        LookupError::NotInTask(error.to_string())
    }
}

fn no_more_callbacks() -> Result<()> {
    info!("part 3: a callback API as straight-line code");
    info!("lookup(example.org) = {}", lookup("example.org")?);
    match lookup("nowhere.invalid") {
        Ok(address) => info!("lookup(nowhere.invalid) = {address}"),
        Err(error) => info!("lookup(nowhere.invalid) failed: {error}"),
    }
    Ok(())
}

// ANCHOR: one_by_one
/// Part 4, the talk's "boring" `update_index`: fetch the pages one after
/// another, then process them. Each `request_url` waits for its page before
/// the next one is asked for.
fn update_index_one_by_one(server: SocketAddr, paths: &[&'static str]) -> Result<()> {
    info!("part 4: update_index, one page after another");
    let started = yieldloop::now()?;
    let mut pages = Vec::new();
    for &path in paths {
        pages.push(request_url(server, path)?);
    }
    report_fetch(&pages, started, "one after another")?;
    let words = process_data(&pages);
    update_database(&words)?;
    update_cache(&words); // the boring version simply calls it
    Ok(())
}
// ANCHOR_END: one_by_one

// ANCHOR: update_index
/// How `update_index` hands `update_cache` to the loop.
#[derive(Clone, Copy)]
enum CacheCall {
    /// The slide's line, `call_soon(update_cache(result))`.
    LikeTheSlide,
    /// `call_soon(update_cache, result)`: the function and its argument.
    Fixed,
}

/// Parts 5 and 6, the talk's `update_index` with tasks: start every fetch,
/// gather the pages, then process them; update the cache *after* returning.
fn update_index(server: SocketAddr, paths: &[&'static str], cache: CacheCall) -> Result<()> {
    let started = yieldloop::now()?;
    let fetches: Vec<_> = paths
        .iter()
        .map(|&path| spawn(path, move || request_url(server, path)))
        .collect();
    let mut pages = Vec::new();
    for page in gather(fetches) {
        pages.push(page??);
    }
    report_fetch(&pages, started, "concurrently")?;
    let words = process_data(&pages);
    update_database(&words)?;
    let handle = Handle::current()?;
    match cache {
        CacheCall::LikeTheSlide => {
            // Python evaluates the argument first, and so does Rust:
            // `update_cache(result)` runs *now*, and call_soon is handed
            // what it returned (Python: None). Written as on the slide,
            // `handle.call_soon(update_cache(&words))` does not even
            // compile here: `()` is not a callback. This is what it means.
            #[allow(clippy::let_unit_value)] // the unit is the point: Python's None
            let returned = update_cache(&words);
            handle.call_soon(move || returned);
        }
        CacheCall::Fixed => {
            // The function *and* its argument, to be called later.
            handle.call_soon(move || update_cache(&words));
        }
    }
    info!("update_index returns");
    Ok(())
}
// ANCHOR_END: update_index

/// The line both versions print after fetching.
fn report_fetch(pages: &[String], started: Duration, how: &str) -> Result<(), NotInTask> {
    let took = yieldloop::now()? - started;
    info!(
        "fetched {} pages {how} in {:.1} s",
        pages.len(),
        took.as_secs_f64()
    );
    Ok(())
}

/// Stands in for a cache write: fast, and not worth waiting for.
fn update_cache(words: &BTreeSet<String>) {
    info!("update_cache: {} words cached", words.len());
}

// ANCHOR: request_url
/// `GET path` over HTTP/1.0: connect, send the request, read until the
/// server closes, keep the body. Every call here suspends only this task.
fn request_url(server: SocketAddr, path: &str) -> io::Result<String> {
    let stream = TcpStream::connect(server)?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {server}\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    (&stream).read_to_end(&mut response)?; // std's Read, on our TcpStream
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.0 200") {
        return Err(io::Error::other(format!(
            "{path}: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    info!("got {path}: {} bytes", body.len());
    Ok(body.to_string())
}
// ANCHOR_END: request_url

/// The distinct words of every page.
fn process_data(pages: &[String]) -> BTreeSet<String> {
    let words: BTreeSet<String> = pages
        .iter()
        .flat_map(|page| page.split_whitespace())
        .map(str::to_lowercase)
        .collect();
    info!("process_data: {} distinct words", words.len());
    words
}

/// Stands in for a database write: it takes a little while.
fn update_database(words: &BTreeSet<String>) -> Result<(), SuspendError> {
    sleep(secs(0.05))?;
    info!("update_database: {} words stored", words.len());
    Ok(())
}

// ANCHOR: server
/// The tiny web server the fetches talk to: every page takes `delay` to
/// "render", so the fetches must overlap to finish quickly. One task per
/// request, each a child of a scope around the accept loop, as in
/// lesson 06's echo server: no request outlives the server.
fn serve_pages(listener: TcpListener, delay: Duration) -> Result<()> {
    scope(|pages| -> io::Result<()> {
        loop {
            let (client, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) if Cancelled::is_in(&error) => return Err(error),
                // Out of descriptors (EMFILE), say: a real server does not
                // die of it. The connection stays queued, so the listener
                // stays readable and retrying at once would spin: back off,
                // as lesson 06 does.
                Err(error) => {
                    warn!("accept failed: {error}; trying again in 0.1 s");
                    sleep(secs(0.1))?;
                    continue;
                }
            };
            let _ = pages.spawn("page server", move || {
                // A failed request ends only its own task: logged here, not
                // returned to the scope, which would cancel every other one.
                match serve_page(client, delay) {
                    Err(error) if !Cancelled::is_in(&error) => {
                        warn!("{peer}: {error}");
                        Ok(())
                    }
                    ended => ended,
                }
            });
        }
    })??;
    Ok(())
}

fn serve_page(client: TcpStream, delay: Duration) -> io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf)? {
            0 => return Ok(()), // the client left before asking
            n => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    sleep(delay)?;
    let body = format!("this is {path} and {path} is a page about the event loop\n");
    let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    client.write_all(head.as_bytes())?;
    client.write_all(body.as_bytes())
}
// ANCHOR_END: server

/// Lesson 07: spawn, join and gather; a panicking task; a callback API as a future; update_index.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    if let Err(error) = run(args.clock.clock(), &args.observe) {
        eprintln!("07-tasks: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run(clock: yieldloop::Clock, observe: &ObserveArgs) -> Result<()> {
    let observer = trace::init_observed(&clock, observe)?;
    // Lesson 11: `kill -USR1 <pid>` prints every task with its backtrace.
    // Real time only: a watched descriptor makes the virtual clock give I/O
    // a grace period before each jump (see the Guarantees page).
    let on_real_clock = !clock.is_virtual();
    let mut event_loop = Builder::new().clock(clock).build()?;
    if on_real_clock {
        dump_tasks_on_sigusr1(&event_loop.handle())?;
    }
    let listener = TcpListener::bind("127.0.0.1", 0)?; // port 0: any free port
    let server = listener.local_addr()?;
    let delay = secs(0.2);
    // ANCHOR: detached
    // BAD EXAMPLE, kept on purpose: the one detached task of lessons 06 and 07. Nobody
    // joins the web server, so if it fails, nobody hears (the fetches below
    // would just wait), and when `main` returns it is still suspended in
    // `accept`: only dropping the loop ends it. The slides' rule is "do not
    // spawn without finalization"; lesson 08 teaches the fix: cancel the
    // server and wait for it when the work is done (its part 2), or start
    // both in a scope (its part 3).
    drop(event_loop.spawn("web server", move || serve_pages(listener, delay)));
    // ANCHOR_END: detached
    event_loop.run_until_complete(move || -> Result<()> {
        spawn_join_gather()?;
        a_panicking_task()?;
        no_more_callbacks()?;
        let pages = ["/page/1", "/page/2", "/page/3", "/page/4", "/page/5"];
        info!(
            "{} pages from http://{server}, {:.1} s each",
            pages.len(),
            delay.as_secs_f64()
        );
        update_index_one_by_one(server, &pages)?;
        info!("part 5: update_index with tasks, and the slide's call_soon line");
        update_index(server, &pages, CacheCall::LikeTheSlide)?;
        info!("part 6: update_index with tasks, call_soon fixed");
        update_index(server, &pages, CacheCall::Fixed)
    })??;
    event_loop.run_once()?; // let the call_soon'd update_cache run
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}
// ANCHOR_END: main
