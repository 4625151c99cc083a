//! Check for the `backtrace` exercise: the frames lesson 04's panic shows.

use super::report::{guarded, wrong, Outcome};

const ALL: [&str; 7] = [
    "check_length",
    "read_header",
    "handle_request",
    "handler",
    "Generator::send",
    "run",
    "main",
];

/// Compares the learner's list with the backtrace lesson 04 prints.
pub fn check(frames: fn() -> Vec<&'static str>) -> Outcome {
    let answer = guarded("frames()", frames)?;
    if let Some(unknown) = answer.iter().find(|name| !ALL.contains(name)) {
        return Err(wrong(format!(
            "`{unknown}` is not one of the names to choose from: {}",
            ALL.join(", ")
        )));
    }
    let missing: Vec<&str> = ALL
        .iter()
        .copied()
        .filter(|n| !answer.contains(n))
        .collect();
    if missing
        .iter()
        .any(|n| ["Generator::send", "run", "main"].contains(n))
    {
        return Err(wrong(format!(
            "you left out {}. Run `RUST_BACKTRACE=1 cargo run --bin 04-sleep` and look \
             below the coroutine's own frames: can the unwinder cross from the \
             coroutine's stack back to the one that resumed it?",
            missing.join(", ")
        )));
    }
    if !missing.is_empty() {
        return Err(wrong(format!(
            "you left out {}: every function still running when the panic \
             happened is on the stack, and the backtrace walks the stack.",
            missing.join(", ")
        )));
    }
    if answer.len() != ALL.len() || answer != ALL {
        return Err(wrong(format!(
            "the names are right but not the order (or one is twice): \
             innermost first means the one that panicked, then its caller, \
             then its caller's caller. You wrote: {}",
            answer.join(" → ")
        )));
    }
    Ok(())
}
