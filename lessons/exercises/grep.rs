//! # grep: a generator that consumes (after lesson 02)
//!
//! Generators do not only produce values; `send` lets them *consume* them.
//! Write `grep(pattern)`: a generator that is sent lines of text and, for
//! each line, yields `Some(line)` if the line contains `pattern` and `None`
//! if it does not. It never returns by itself; the caller closes it.
//!
//! Remember how the first `send` works here (lesson 02): it starts the body,
//! and the value it sends is the body's second argument. So the first line
//! arrives as `first_line`, and every later line as what `co.yield_` returns.
//!
//! Check it: `cargo run --bin workshop -- check grep`.
//! Stuck? `cargo run --bin workshop -- hint grep`.

// I AM NOT DONE

use yieldloop::Generator;

/// Sent lines; yields `Some(line)` for lines containing `pattern`, else `None`.
pub fn grep(pattern: &str) -> Generator<String, Option<String>> {
    let pattern = pattern.to_string();
    // The closure's argument types are written out: `co` is inferred from
    // `Generator::new`, but the first line's type must be named here.
    Generator::new(move |co, first_line: String| {
        let _ = (co, first_line, &pattern);
        todo!("look at the line, yield Some(line) or None, and wait for the next one")
    })
}
