//! # Lesson 04 — `sleep()` as a function
//!
//! Real frameworks never make you write `yield Request::Sleep(..)`: they give
//! you `sleep(t)`. In Python that helper must itself be a generator, and its
//! caller must delegate to it with `yield from sleep(1)` (later `await`),
//! all the way up: every function between the loop and the wait has to know
//! it is a coroutine. On a stackful coroutine, `sleep` is an ordinary
//! function that takes the coroutine's handle and suspends it from wherever
//! it is called. Part 1 shows that with the slides' `foo` and `sleep`.
//!
//! Part 2 shows what that buys when something breaks. A handler panics two
//! helpers deep, after a sleep. Because the coroutine's frames are real
//! frames on a real stack, the backtrace lists every one of them, from the
//! `panic!` down through the helpers to the coroutine's entry, then on into
//! the loop that resumed it. (The talk's own answer to "generators give poor
//! stack traces" is "Всё ровно наоборот", exactly the other way round:
//! `yield from` chains show every generator in the traceback. What a stackful
//! coroutine adds is that plain helpers which never said `yield from` show up
//! too, and that the ordinary backtrace and debugger walk through the switch.)
//!
//! Run it:
//!
//! ```text
//! cargo run --bin 04-sleep -- --virtual
//! RUST_BACKTRACE=1 cargo run --bin 04-sleep -- --virtual   # show the backtrace
//! ```
//!
//! Look for: `sleep exit` at 1.000 between `sleep enter` and `foo exit`; in
//! the backtrace, `check_length`, `read_header`, `handle_request` and the
//! coroutine's closure, then `corosensei`, then `yieldloop::generators::run::run`.
//!
//! Next, lesson 05 adds requests to read and write sockets, and the loop
//! learns to wait for the network with select(2).

use std::convert::Infallible;
use std::time::Duration;

use clap::Parser;
use tracing::info;
use yieldloop::course::cli::{ClockArgs, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::generators::run::{run, Coroutine, Yield};
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{secs, Generator, Request};

// ANCHOR: sleep
/// The slides' `sleep` generator, as a plain function. (The library has the
/// same helper without the trace lines: `yieldloop::generators::run::sleep`.)
fn sleep(co: &Yield, delay: Duration) -> Result<(), Infallible> {
    info!("sleep enter");
    co.yield_(Request::Sleep(delay))?;
    info!("sleep exit");
    Ok(())
}

/// `result = yield from sleep(1)` becomes a call.
fn foo() -> Coroutine {
    Generator::new(|co, ()| {
        info!("foo enter");
        sleep(co, secs(1.0))?;
        info!("foo exit");
        Ok(())
    })
}
// ANCHOR_END: sleep

// ANCHOR: panic
/// The coroutine: handles one (pretend) request.
fn handler() -> Coroutine {
    Generator::new(|co, ()| {
        info!("handler enter");
        handle_request(co, "GET /index.html");
        info!("handler exit (never printed)");
        Ok(())
    })
}

/// One helper down: waits for the header, then reads it.
#[inline(never)]
fn handle_request(co: &Yield, request: &str) {
    let _ = sleep(co, secs(0.5));
    read_header(request);
}

/// Two helpers down: the bug.
#[inline(never)]
fn read_header(request: &str) {
    check_length(request, 8);
}

#[inline(never)]
fn check_length(request: &str, limit: usize) {
    if request.len() > limit {
        panic!(
            "header of {} bytes is over the limit of {limit}",
            request.len()
        );
    }
}
// ANCHOR_END: panic

// Every lesson has its own `Args`, on purpose, so that `--help` names the lesson;
// the flag itself is shared (`cli::ClockArgs`).
/// Lesson 04: the request hidden in a helper; a panic's backtrace shows every frame.
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

    println!("part 1: sleep() is a function");
    run(&clock, vec![foo()]);
    timeline.print();

    // ANCHOR: catch
    println!("part 2: a panic two helpers deep");
    // The panic leaves `run` like an exception leaves the slides' loop. We
    // catch it here only to finish the lesson politely; the panic hook has
    // already printed the message (and, with RUST_BACKTRACE=1, every frame).
    let caught = std::panic::catch_unwind(|| run(&clock, vec![handler()]));
    match caught {
        Ok(()) => println!("the handler finished without a panic"),
        Err(_) => println!("the panic came out of run(): see the message above (stderr)"),
    }
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        println!("run again with RUST_BACKTRACE=1 to see every frame");
    }
    // ANCHOR_END: catch
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}
