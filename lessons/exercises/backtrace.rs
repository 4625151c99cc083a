//! # backtrace: what a panic inside a coroutine shows (after lesson 04)
//!
//! A question, answered in code. Lesson 04's part 2 runs a handler under
//! `run` that sleeps, then calls `handle_request`, which calls
//! `read_header`, which calls `check_length`, which panics. Run it yourself:
//!
//! ```text
//! RUST_BACKTRACE=1 cargo run --bin 04-sleep
//! ```
//!
//! Which of these functions does the backtrace show, innermost first?
//!
//! `main`, `run`, `Generator::send`, `handler` (the coroutine's body, a
//! closure), `handle_request`, `read_header`, `check_length`
//!
//! Leave out any you think a panic on a coroutine's own stack cannot show.
//! Then say why in a comment: asyncio's tracebacks, the talks say, lose the
//! loop's side. Do ours?
//!
//! Check it: `cargo run --bin workshop -- check backtrace`.

// I AM NOT DONE

/// The functions in the backtrace, innermost (the one that panicked) first.
pub fn frames() -> Vec<&'static str> {
    todo!("list the names, e.g. vec![\"check_length\", ...]")
}
