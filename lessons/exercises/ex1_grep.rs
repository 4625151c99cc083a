//! # Exercise 1 (after lesson 02): a generator that consumes
//!
//! Generators do not only produce values; `send` lets them *consume* them.
//! Write `grep(pattern)`: a generator that is sent lines of text and, for
//! each line, yields `Some(line)` if the line contains `pattern` and `None`
//! if it does not. It never returns by itself; the caller closes it.
//!
//! Remember how the first `send` works here (lesson 02): it starts the body,
//! and the value it sends is the body's second argument. So the first line
//! arrives as an argument, and every later line as the result of `co.yield_`.
//!
//! Check your work: `cargo test --features learner --test exercises`.
//! (Without `--features learner`, the tests run the reference solution.)

use yieldloop::Generator;

/// Sent lines; yields `Some(line)` for lines containing `pattern`, else `None`.
pub fn grep(pattern: &str) -> Generator<String, Option<String>> {
    let _pattern = pattern.to_string();
    todo!("build the generator with Generator::new(move |co, first_line| ...)")
}
