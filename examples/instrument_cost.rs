//! Not a lesson: the program behind the benchmark's `instrument` section
//! (`cargo bench --bench perf -- --only instrument`, issue 13's row).
//!
//! The bench builds this example twice, with lesson 11's `tracing` events
//! compiled in (the default `instrument` feature) and compiled out
//! (`--no-default-features`), and runs the two builds in turns, so that
//! the only difference between them is the instrumentation. No `tracing`
//! subscriber is installed: this is the cost of events nobody listens to.
//!
//! ```text
//! instrument_cost switch 4000000 5          # ns per task switch, median of 5
//! instrument_cost spawn 400000 5 debug      # ns per spawn + join, in debug mode
//! ```
//!
//! It prints one number: nanoseconds per operation.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use yieldloop::{spawn, yield_now, Builder, TaskError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|(what, ops, repeats, debug)| measure(what, ops, repeats, debug)) {
        Ok(ns) => {
            println!("{ns}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("instrument_cost: {why}");
            eprintln!("usage: instrument_cost switch|spawn OPERATIONS REPEATS [debug]");
            ExitCode::FAILURE
        }
    }
}

/// What to measure, how many operations, how many repeats, debug mode.
fn parse(args: &[String]) -> Result<(&str, u64, usize, bool), String> {
    let number = |text: &str| {
        text.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(format!("expected a positive whole number, found {text:?}"))
    };
    match args {
        [what, ops, repeats, rest @ ..] if what == "switch" || what == "spawn" => {
            let debug = match rest {
                [] => false,
                [flag] if flag == "debug" => true,
                _ => return Err(format!("unexpected arguments {rest:?}")),
            };
            Ok((what, number(ops)?, number(repeats)? as usize, debug))
        }
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

/// The median over `repeats` of `ops` operations, in ns per operation.
fn measure(what: &str, ops: u64, repeats: usize, debug: bool) -> Result<f64, String> {
    let mut samples = Vec::new();
    for _ in 0..repeats {
        let mut event_loop = Builder::new()
            .debug(debug)
            .build()
            .map_err(|e| format!("building the loop: {e}"))?;
        let took = if what == "switch" {
            event_loop.run_until_complete(move || two_yielders(ops))
        } else {
            event_loop.run_until_complete(move || spawns_and_joins(ops))
        };
        let took = took
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        samples.push(took.as_nanos() as f64 / ops as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// `ops` task switches: two tasks take turns in `yield_now` while this one
/// waits in `join` (the benchmark's "task switch" row, the same work).
fn two_yielders(ops: u64) -> Result<Duration, TaskError> {
    let turns = move || {
        for _ in 0..ops / 2 {
            yield_now().map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let start = Instant::now();
    let (a, b) = (spawn("a", turns), spawn("b", turns));
    let (a, b) = (a.join()?, b.join()?);
    let took = start.elapsed();
    a.and(b).map_err(|message| TaskError::Failed {
        task: "a or b".into(),
        message,
    })?;
    Ok(took)
}

/// `ops` times: spawn an empty task and join it.
fn spawns_and_joins(ops: u64) -> Result<Duration, TaskError> {
    let start = Instant::now();
    for i in 0..ops {
        black_box(spawn("empty", move || black_box(i)).join()?);
    }
    Ok(start.elapsed())
}
