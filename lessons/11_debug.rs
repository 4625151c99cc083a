//! # Lesson 11 — Seeing the loop: debug mode, the task tree, the timeline
//!
//! Every lesson so far showed the loop from outside: trace lines the tasks
//! printed. This one asks the loop itself what it is doing, in four parts:
//!
//! 1. **A blocking call.** `b` calls `std::thread::sleep`: the whole loop
//!    stops with it. Debug mode (`Builder::debug(true)`, or
//!    `YIELDLOOP_DEBUG=1` for any program) times every step and names the
//!    task that held the loop, and where it was resumed from.
//! 2. **A task never joined.** `main` returns while a spawned task still
//!    sleeps; when the loop is dropped, debug mode says so (asyncio: "Task
//!    was destroyed but it is pending!").
//! 3. **Stacks.** A panic three helpers deep, its backtrace trimmed to our
//!    own functions; beside it `EventLoop::dump_tasks()` of a task
//!    *suspended* three helpers deep: a stackful task has a real stack, so
//!    the tree shows its functions, not just a chain of awaits.
//! 4. **The timeline** of lesson 03's `a`/`b`, run as tasks on the reactor.
//!
//! `RUST_LOG=info,yieldloop::task=trace cargo run --bin 11-debug -- --virtual`
//! adds the loop's own events (spawn, resume, suspend on what, wake why).
//!
//! **Stepping.** Every lesson that runs a loop takes `--step`: the loop
//! stops before each iteration and shows its ready queue, its timers, what
//! its selector watches and the timeout it is about to use, and why. Enter
//! runs one iteration, `t` one task step, `c` the rest, `p` prints the task
//! tree with backtraces, `q` quits. Try lesson 03 first:
//! `cargo run --bin 03-run-loop -- --virtual --step`.
//! And a running server (lessons 05–07, the delay-server) prints its tasks
//! when sent `kill -USR1 <pid>`.

use std::backtrace::Backtrace;
use std::error::Error;
use std::panic;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use tracing::info;
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{secs, sleep, spawn, Builder, Clock};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

// ANCHOR: blocking
/// Part 1: `b` blocks the thread, so `a` (due at 0.500) waits with it.
fn a_blocking_call(clock: &Clock) -> Result {
    info!("part 1: a blocking call in a task");
    let mut event_loop = Builder::new().clock(clock.clone()).debug(true).build()?;
    event_loop.run_until_complete(|| -> Result {
        let a = spawn("a", || -> Result {
            sleep(secs(0.5))?;
            info!("a woke up");
            Ok(())
        });
        let b = spawn("b", || {
            info!("b calls std::thread::sleep(0.3 s)");
            std::thread::sleep(secs(0.3)); // BAD EXAMPLE: blocks the loop
        });
        b.join()?;
        a.join()??;
        Ok(())
    })??;
    Ok(())
}
// ANCHOR_END: blocking

// ANCHOR: forgotten
/// Part 2: a task spawned and never joined, still sleeping at the end.
fn a_task_never_joined(clock: &Clock) -> Result {
    info!("part 2: a task never joined");
    let mut event_loop = Builder::new().clock(clock.clone()).debug(true).build()?;
    event_loop.run_until_complete(|| -> Result {
        drop(spawn("forgotten", || sleep(secs(10.0)))); // BAD EXAMPLE
        sleep(secs(0.1))?;
        info!("main returns");
        Ok(())
    })??;
    drop(event_loop); // debug mode reports the pending task here
    Ok(())
}
// ANCHOR_END: forgotten

// ANCHOR: helpers
#[inline(never)]
fn outer(panics: bool) {
    middle(panics);
}

#[inline(never)]
fn middle(panics: bool) {
    inner(panics);
}

#[inline(never)]
fn inner(panics: bool) {
    if panics {
        panic!("inner failed");
    }
    let _ = sleep(secs(5.0));
}
// ANCHOR_END: helpers

/// The frames of a backtrace that belong to this lesson (`outer`,
/// `middle`, `inner`), innermost first: the rest is the runtime and std.
fn our_frames(backtrace: &str) -> Vec<String> {
    backtrace
        .lines()
        .filter_map(|line| line.trim_start().split_once(": ").map(|(_, name)| name))
        .filter(|name| {
            ["::outer", "::middle", "::inner"]
                .iter()
                .any(|f| name.ends_with(f))
        })
        .map(|name| name.rsplit("::").next().unwrap_or(name).to_string())
        .collect()
}

// ANCHOR: stacks
/// Part 3: a panic's backtrace, and a suspended task's, three helpers deep.
fn stacks(clock: &Clock) -> Result {
    info!("part 3: a panic's backtrace, and dump_tasks()");
    // The panic hook keeps the panic's backtrace instead of printing it all.
    let caught = Arc::new(Mutex::new(String::new()));
    let previous = panic::take_hook();
    panic::set_hook({
        let caught = caught.clone();
        Box::new(move |_| {
            let backtrace = Backtrace::force_capture().to_string();
            *caught.lock().unwrap_or_else(PoisonError::into_inner) = backtrace;
        })
    });
    let mut event_loop = Builder::new().clock(clock.clone()).build()?;
    let failed = event_loop.run_until_complete(|| spawn("faulty", || outer(true)).join())?;
    panic::set_hook(previous);
    let backtrace = caught
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    info!(
        "join(faulty): {}",
        failed.err().map_or(String::new(), |e| e.to_string())
    );
    info!(
        "the panic's stack, ours only: {}",
        our_frames(&backtrace).join(" ← ")
    );

    let _sleeper = event_loop.spawn("sleeper", || outer(false));
    event_loop.run_until_complete(|| sleep(secs(1.0)))??;
    let tree = event_loop.dump_tasks();
    info!("dump_tasks(), one second after the sleeper started:");
    for line in tree.to_string().lines() {
        println!("    {line}");
    }
    Ok(())
}
// ANCHOR_END: stacks

// ANCHOR: timeline
/// Part 4: lesson 03's a/b, as tasks on the reactor.
fn the_ab_timeline(clock: &Clock) -> Result {
    let mut event_loop = Builder::new().clock(clock.clone()).build()?;
    event_loop.run_until_complete(|| -> Result {
        let a = spawn("a", || -> Result {
            info!("a enter");
            sleep(secs(1.0))?;
            info!("a exit");
            Ok(())
        });
        let b = spawn("b", || -> Result {
            info!("b enter");
            sleep(secs(0.5))?;
            info!("b middle");
            sleep(secs(0.5))?;
            info!("b exit");
            Ok(())
        });
        a.join()??;
        b.join()??;
        Ok(())
    })??;
    Ok(())
}
// ANCHOR_END: timeline

/// Lesson 11: debug mode, dump_tasks() and the timeline.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

fn main() -> Result {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    let clock = args.clock.clock();
    let observer = trace::init_observed(&clock, &args.observe)?;
    let timeline = observer.timeline();
    a_blocking_call(&clock)?;
    a_task_never_joined(&clock)?;
    stacks(&clock)?;
    info!("part 4: lesson 03's a/b on the reactor, and its timeline");
    // Each part above built its own loop, so the clock went on; the picture
    // starts with part 4.
    timeline.restart(clock.now());
    the_ab_timeline(&clock)?;
    timeline.print();
    observer.finish()?; // --timeline and friends: see "Reading a timeline"
                        // Part 5 is yours: the step-through debugger, on any lesson's loop.
    println!(
        "\nnow step through a loop yourself: cargo run --bin 03-run-loop -- --virtual --step\n\
         (Enter: one iteration, t: one task step, c: continue, p: tasks with backtraces, q: quit)"
    );
    Ok(())
}
