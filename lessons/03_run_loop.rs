//! # Lesson 03 — The run loop
//!
//! Lesson 01's `a` and `b` again, but now they do not sleep themselves: they
//! *yield a request*, "wake me in 1 s", to a scheduler, and the scheduler
//! decides who runs. While `a` waits, `b` can run. The scheduler is the
//! slides' `run(*gens)` in Rust, in `src/generators/run.rs`: it keeps each coroutine's
//! wake-up time, sleeps until the earliest, resumes that one, and repeats.
//! Read it now; it is about twenty lines.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 03-run-loop              # real time: takes 1 s, not 2
//! cargo run --bin 03-run-loop -- --virtual # virtual time: instant, exact
//! ```
//!
//! Look for: `a enter` and `b enter` both at 0.000; `b middle` at 0.500
//! while `a` is still waiting; everything done at 1.000. On the timeline the
//! two rows now lie on top of each other: the waits overlap.
//!
//! Next, lesson 04 hides the `yield` inside a `sleep()` helper, the way real
//! frameworks do, and shows what a stackful coroutine gives us for free when
//! something goes wrong.

use clap::Parser;
use tracing::info;
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::generators::run::{run, Coroutine};
use yieldloop::{secs, Generator, Request};

// ANCHOR: coroutines
/// `a` asks to sleep 1 s; the loop, not `a`, does the waiting.
fn a() -> Coroutine {
    Generator::new(|co, ()| {
        info!("a enter");
        co.yield_(Request::Sleep(secs(1.0)))?;
        info!("a exit");
        Ok(())
    })
}

fn b() -> Coroutine {
    Generator::new(|co, ()| {
        info!("b enter");
        co.yield_(Request::Sleep(secs(0.5)))?;
        info!("b middle");
        co.yield_(Request::Sleep(secs(0.5)))?;
        info!("b exit");
        Ok(())
    })
}
// ANCHOR_END: coroutines

// Every lesson has its own `Args`, on purpose, so that `--help` names the lesson;
// the flag itself is shared (`cli::ClockArgs`).
/// Lesson 03: coroutines yield sleep requests; a min-wakeup loop overlaps their waits.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    let clock = args.clock.clock();
    let observer = trace::init_observed(&clock, &args.observe)?;
    let timeline = observer.timeline();
    // ANCHOR: main
    run(&clock, vec![a(), b()]);
    // ANCHOR_END: main
    timeline.print();
    observer.finish()?;
    Ok(())
}
