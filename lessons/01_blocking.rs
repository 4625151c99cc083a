//! # Lesson 01 — Blocking calls
//!
//! Two functions, `a` and `b`, each wait a total of one second. Called one
//! after the other with a *blocking* sleep, the program takes two seconds:
//! while `a` sleeps, nothing else can happen, although there is nothing for
//! the computer to do. That wasted second is what every later lesson wins back.
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 01-blocking              # real time: takes 2 s
//! cargo run --bin 01-blocking -- --virtual # virtual time: instant, exact trace
//! ```
//!
//! Look for: `b enter` cannot start before `a exit` at 1.0; the run ends at
//! 2.0. The timeline under the trace draws it: the two rows do not overlap.
//!
//! Next, lesson 02 meets the tool that lets a function stop half-way and
//! let another run: the generator.

use clap::Parser;
use tracing::info;
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::{secs, Clock};

// ANCHOR: blocking
/// `clock.sleep` on the real clock is `std::thread::sleep`: the whole thread
/// stops, and with it the whole program.
fn a(clock: &Clock) {
    info!("a enter");
    clock.sleep(secs(1.0));
    info!("a exit");
}

fn b(clock: &Clock) {
    info!("b enter");
    clock.sleep(secs(0.5));
    info!("b middle");
    clock.sleep(secs(0.5));
    info!("b exit");
}
// ANCHOR_END: blocking

// Every lesson has its own `Args`, on purpose, so that `--help` names the lesson;
// the flag itself is shared (`cli::ClockArgs`).
/// Lesson 01: two functions that sleep, run one after the other (2 s in all).
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    observe: ObserveArgs,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.observe.step {
        // The one flag of the set that needs a loop: say so instead of
        // ignoring it.
        eprintln!(
            "01-blocking: this lesson runs no loop, so there is nothing to step through; \
             --step starts with lesson 03 (cargo run --bin 03-run-loop -- --virtual --step)"
        );
        std::process::exit(2);
    }
    let clock = args.clock.clock();
    let observer = trace::init_observed(&clock, &args.observe)?;
    let timeline = observer.timeline();
    // ANCHOR: main
    a(&clock);
    b(&clock);
    // ANCHOR_END: main
    timeline.print();
    observer.finish()?;
    Ok(())
}
