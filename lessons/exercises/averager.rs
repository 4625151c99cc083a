//! # averager: a generator with memory (after lesson 02)
//!
//! PEP 342's classic: a generator that is sent numbers and, after each one,
//! yields the average of all the numbers it has been sent so far. Send 10,
//! it yields 10; send 20, it yields 15; send 0, it yields 10.
//!
//! The running total and the count live in the generator's own local
//! variables, on its own stack: that is what makes a coroutine more than a
//! function.
//!
//! Check it: `cargo run --bin workshop -- check averager`.

// I AM NOT DONE

use yieldloop::Generator;

/// Sent numbers; after each, yields the average of all sent so far.
pub fn averager() -> Generator<f64, f64> {
    Generator::new(|co, first: f64| {
        let _ = (co, first);
        todo!("keep a total and a count; yield total / count after each number")
    })
}
