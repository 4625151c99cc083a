//! # Lesson 08 — Cancellation, timeouts and structured scopes
//!
//! Lesson 07's tasks could be started and waited for, but not stopped, and
//! nothing bounded how long a wait could take. Here `handle.cancel()` stops a
//! task *where it waits*: the `sleep` (or `read`, `join`, …) it is suspended
//! in returns `Err(Cancelled)`, `?` carries it up, and `Drop` guards run on
//! the way — Python's `throw(CancelledError)`, as plain Rust errors. On top
//! of it: `wait_for` (a deadline), `shield` (a wait that may be cancelled
//! while its task runs on) and `scope` (trio's nursery: no child outlives
//! it). Read `src/reactor/cancel.rs` and `src/reactor/scope.rs` beside this.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 08-cancel              # real time: about 3 s
//! cargo run --bin 08-cancel -- --virtual # virtual time: instant, exact times
//! ```
//!
//! Look for, part by part: a forgotten task writing to a log that was
//! already closed (part 1); the same task cancelled and waited for, by hand
//! (part 2) and by a scope, which also cancels a sibling when one child
//! fails (part 3); `son`, `father`, `grandfather` cleaning up in that order,
//! all at the moment of the cancel, and drawn on a timeline (part 4); `wait_for` cutting a slow call short after its cleanup, and letting a
//! fast one through (part 5); a shielded save finishing after its waiter
//! was cancelled (part 6).
//!
//! Next (round 2 of the course): lesson 09's locks and queues, whose waits
//! are cancelled the same way.

use std::cell::RefCell;
use std::error::Error;
use std::process::ExitCode;
use std::rc::Rc;

use clap::Parser;
use tracing::info;
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::timeline::Timeline;
use yieldloop::course::trace;
use yieldloop::{
    now, scope, secs, shield, sleep, spawn, wait_for, Builder, Clock, SuspendError, TaskError,
};

/// What the lesson's functions return.
type Result<T = (), E = Box<dyn Error>> = std::result::Result<T, E>;

/// A log file that can be closed: `None` once closed.
type LogFile = Rc<RefCell<Option<Vec<String>>>>;

/// Writes a line to the log, or fails if it was closed.
fn write_log(log: &LogFile, line: &str) -> Result {
    match log.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(line.to_string());
            Ok(())
        }
        None => Err(format!("cannot write {line:?}: the log is closed").into()),
    }
}

/// Prints "`who` cleanup" when dropped: the lesson's `finally:` block.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        info!("{} cleanup", self.0);
    }
}

/// The background job of parts 1–3: flushes the log after 0.5 s.
fn flush(log: LogFile) -> Result {
    let _cleanup = Cleanup("flush");
    sleep(secs(0.5))?;
    write_log(&log, "flushed")?;
    info!("flush done");
    Ok(())
}

// ANCHOR: forgotten
/// Part 1, seed 002's `asyncio.create_task(...)` and nothing else: `report`
/// returns while its task still runs, its caller closes the log, and the
/// task fails later with nobody listening.
fn forgotten(log: LogFile) -> Result {
    info!("part 1: a task spawned and forgotten");
    let handle = spawn("flush", {
        let log = log.clone();
        move || {
            if let Err(error) = flush(log) {
                info!("flush failed, and nobody hears it: {error}");
            }
        }
    });
    drop(handle); // detached: nobody will wait for it, nobody will stop it
    sleep(secs(0.1))?;
    info!("report returned; closing the log");
    log.borrow_mut().take();
    sleep(secs(0.5))?; // only so that this part's trace shows the failure
    Ok(())
}
// ANCHOR_END: forgotten

// ANCHOR: manual
/// Part 2, the slide's manual fix: `try: … finally: t.cancel(); await
/// wait(t)`. Cancel it, *and wait for it*, on every path out.
fn manual_fix(log: LogFile) -> Result {
    info!("part 2: cancel and wait, by hand");
    let task = spawn("flush", {
        let log = log.clone();
        move || flush(log)
    });
    let outcome = sleep(secs(0.1)); // the work of `report`, which may fail
    info!("report done; cancelling flush: {}", task.cancel());
    match task.join() {
        Err(TaskError::Cancelled { task, .. }) => info!("{task} was cancelled and has finished"),
        other => info!("flush ended otherwise: {other:?}"),
    }
    log.borrow_mut().take();
    info!("log closed, nothing left running");
    Ok(outcome?)
}
// ANCHOR_END: manual

// ANCHOR: scope
/// Part 3, trio's nursery: the scope waits for its children, and the first
/// one to fail cancels the others.
fn with_scope(log: LogFile) -> Result {
    info!("part 3: a scope");
    let result = scope(|s| {
        let _ = s.spawn("flush", {
            let log = log.clone();
            move || flush(log)
        });
        let _ = s.spawn("upload", || -> Result {
            sleep(secs(0.2))?;
            Err("upload: connection refused".into())
        });
    });
    match result {
        Ok(()) => info!("scope: every child succeeded"),
        Err(error) => info!("scope failed: {error}"),
    }
    log.borrow_mut().take();
    info!("log closed, nothing left running");
    Ok(())
}
// ANCHOR_END: scope

// ANCHOR: chain
/// Part 4, the slide's `grandfather → father → son`: each joins a task it
/// started, so cancelling the grandfather reaches the son first.
fn grandfather() -> Result<(), TaskError> {
    let _cleanup = Cleanup("grandfather");
    info!("grandfather enter");
    spawn("father", father).join()??;
    Ok(())
}

fn father() -> Result<(), TaskError> {
    let _cleanup = Cleanup("father");
    info!("father enter");
    spawn("son", son).join()??;
    Ok(())
}

fn son() -> Result<(), SuspendError> {
    let _cleanup = Cleanup("son");
    info!("son enter");
    sleep(secs(10.0))?; // cancelled here
    info!("son exit (never printed)");
    Ok(())
}

fn cancel_chain(timeline: &Timeline) -> Result {
    info!("part 4: grandfather, father, son");
    timeline.restart(now()?);
    let task = spawn("grandfather", grandfather);
    sleep(secs(0.5))?;
    info!("main: cancel grandfather");
    task.cancel();
    let joined = task.join();
    info!(
        "main: joined: {}",
        joined.map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    timeline.print(); // this part only, drawn: everyone stops at the cancel
    Ok(())
}
// ANCHOR_END: chain

// ANCHOR: wait_for
/// Part 5, the slide's `wait_for(task(), 10.5)`: a slow call is cancelled at
/// the deadline (after its cleanup), a fast one returns its value.
fn fetch(name: &'static str, takes: f64) -> Result<&'static str, SuspendError> {
    let _cleanup = Cleanup(name);
    sleep(secs(takes))?;
    Ok(name)
}

fn timeouts() -> Result {
    info!("part 5: wait_for");
    match wait_for(secs(0.5), || fetch("slow", 2.0)) {
        Ok(body) => info!("slow answered: {body:?}"),
        Err(timed_out) => info!("slow: {timed_out}"),
    }
    match wait_for(secs(0.5), || fetch("fast", 0.2)) {
        Ok(body) => info!("fast answered: {:?}", body?),
        Err(timed_out) => info!("fast: {timed_out}"),
    }
    Ok(())
}
// ANCHOR_END: wait_for

// ANCHOR: shield
/// Part 6, `asyncio.shield`: the waiter is cancelled, the save runs on.
fn shielded() -> Result {
    info!("part 6: shield");
    let save = spawn("save", || -> Result<(), SuspendError> {
        sleep(secs(0.4))?;
        info!("save finished: the file is complete");
        Ok(())
    });
    let waiter = spawn("waiter", move || shield(save).join());
    sleep(secs(0.1))?;
    info!("cancel waiter: {}", waiter.cancel());
    match waiter.join() {
        Err(error) => info!("waiter: {error}"),
        Ok(_) => info!("waiter: finished"),
    }
    sleep(secs(0.5))?;
    Ok(())
}
// ANCHOR_END: shield

/// Lesson 08: a forgotten task, cancel-and-wait, scope, the cancel chain, wait_for, shield.
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
        eprintln!("08-cancel: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run(clock: Clock, observe: &ObserveArgs) -> Result {
    let observer = trace::init_observed(&clock, observe)?;
    let timeline = observer.timeline().clone();
    let mut event_loop = Builder::new().clock(clock).build()?;
    event_loop.run_until_complete(move || -> Result {
        let new_log = || Rc::new(RefCell::new(Some(Vec::new())));
        forgotten(new_log())?;
        manual_fix(new_log())?;
        with_scope(new_log())?;
        cancel_chain(&timeline)?;
        timeouts()?;
        shielded()
    })??;
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}
// ANCHOR_END: main
