//! # Lesson 02 — Generators
//!
//! A Python generator is a function that can stop half-way, hand a value
//! out, and be resumed later. It is the brick every event loop in this course
//! is made of. Here we meet its whole protocol on `yieldloop::Generator`, a
//! stackful coroutine (its own stack, from the `corosensei` crate):
//!
//! 1. iteration: `fib` yields numbers to a `for` loop;
//! 2. `send`: a running sum receives numbers and yields the total so far;
//! 3. `throw`: an error is raised *inside* the generator, which handles it;
//! 4. `close`: a suspended generator is unwound, and its cleanup runs;
//! 5. delegation: a helper yields on our behalf and returns a value, with a
//!    plain function call where Python needs `yield from`; what is sent to
//!    or thrown into the outer generator reaches the helper;
//! 6. "only sugar": the slides' class-based `gen1`, a struct that keeps its
//!    place by hand. It is what Rust's `async fn` compiles to (lesson 12).
//!
//! Run it: `cargo run --bin 02-generators`. Read each part of the output
//! beside the function that printed it; each `assert!` is a claim about the
//! protocol that you can break and watch fail.
//!
//! Next, lesson 03 lets generators yield *requests* ("wake me in 0.5 s") to a
//! loop that runs several of them at once.

use std::convert::Infallible;

use clap::Parser;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{Co, Generator, GeneratorError, GeneratorState};

use GeneratorState::{Returned, Yielded};

// ANCHOR: fib
/// Python: `def fib(n): a, b = 0, 1; for _ in range(n): yield a; a, b = b, a + b`.
fn fib(n: usize) -> Generator<(), u64> {
    Generator::new(move |co, ()| {
        let (mut a, mut b) = (0, 1);
        for _ in 0..n {
            co.yield_(a)?;
            (a, b) = (b, a + b);
        }
        Ok(())
    })
}
// ANCHOR_END: fib

// ANCHOR: running_sum
/// Python: `s = 0; while True: x = yield s; s += x` — with a twist from the
/// slides: if an error is thrown in, yield `"error"` once and stop.
///
/// The generator is sent `i64`, yields `String`, and can have a `String`
/// error thrown into it: `Generator<i64, String, (), String>`.
fn running_sum() -> Generator<i64, String, (), String> {
    Generator::new(|co, _first| {
        let mut sum = 0;
        loop {
            match co.yield_(sum.to_string()) {
                Ok(x) => sum += x,
                Err(_thrown) => {
                    co.yield_("error".to_string())?;
                    return Ok(());
                }
            }
        }
    })
}
// ANCHOR_END: running_sum

// ANCHOR: close
/// Prints when dropped: our `finally:` block.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  cleanup: {} released", self.0);
    }
}

fn holds_a_resource() -> Generator<(), u32> {
    Generator::new(|co, ()| {
        let _file = Cleanup("the file");
        let mut line = 1;
        loop {
            co.yield_(line)?;
            line += 1;
        }
    })
}
// ANCHOR_END: close

// ANCHOR: delegation
/// PEP 380's `gen1`: yields 1 and 2, returns 3. It takes the caller's `co`,
/// so its `yield_` suspends the *whole* coroutine: the stack below it, with
/// `gen2`'s frame, simply waits. No `yield from` needed, and yet what is
/// sent to `gen2` arrives here, and what is thrown into `gen2` is raised
/// here: there is only one `co.yield_` waiting, and it is this one.
fn gen1(co: &Co<i32, i32, String>) -> Result<i32, String> {
    let sent = co.yield_(1)?;
    println!("  gen1 received {sent}");
    match co.yield_(2) {
        Ok(_) => {}
        Err(thrown) => println!("  gen1 caught {thrown:?} and returns 3"),
    }
    Ok(3) // Python: `return 3`, which *is* `raise StopIteration(3)`
}

/// PEP 380's `gen2`: `value = yield from gen1()` is a plain call.
fn gen2() -> Generator<i32, i32, i32, String> {
    Generator::new(|co, _first| {
        let value = gen1(co)?;
        println!("  gen2 got {value} back from gen1");
        Ok(value)
    })
}
// ANCHOR_END: delegation

// ANCHOR: sugar
/// The slides' class-based `gen1` ("it is only sugar"): no coroutine, no
/// stack of its own, just a struct that remembers where it is. Each `send`
/// runs to the next `yield` and stops; `self.v` is the whole saved state.
///
/// ```python
/// class gen1:
///     def __init__(self): self.v = 1
///     def __iter__(self): return self
///     def __next__(self):
///         if self.v > 2: raise StopIteration(3)
///         v = self.v; self.v += 1; return v
/// ```
///
/// Rust's compiler writes exactly this kind of struct for every `async fn`
/// (lesson 12): a state, and a method that runs from one wait to the next.
struct Gen1 {
    v: i32,
}

impl Gen1 {
    fn new() -> Self {
        Gen1 { v: 1 }
    }

    /// `__next__`, with the return value that `StopIteration(3)` carries.
    fn send(&mut self) -> GeneratorState<i32, i32> {
        if self.v > 2 {
            return Returned(3);
        }
        let v = self.v;
        self.v += 1;
        Yielded(v)
    }
}

/// A `for` loop sees only the yields; like Python's, it drops the 3.
impl Iterator for Gen1 {
    type Item = i32;

    fn next(&mut self) -> Option<i32> {
        match self.send() {
            Yielded(v) => Some(v),
            Returned(_) => None,
        }
    }
}

/// Svetlov's "simplified yield from", for a hand-written generator: pass
/// every yield up through our own `co`, and return what it returns.
fn yield_from(co: &Co<(), i32>, mut sub: Gen1) -> Result<i32, Infallible> {
    loop {
        match sub.send() {
            Yielded(v) => co.yield_(v)?,
            Returned(r) => return Ok(r),
        }
    }
}

/// The slides' `gen2`, delegating to the class: `value == 3`.
fn gen2_over_the_class() -> Generator<(), i32, i32> {
    Generator::new(|co, ()| {
        let value = yield_from(co, Gen1::new())?;
        assert_eq!(value, 3);
        Ok(value)
    })
}
// ANCHOR_END: sugar

/// Lesson 02: send, throw, close and delegation on a stackful coroutine.
#[derive(Parser)]
struct Args {}

fn main() {
    Args::parse();

    // ANCHOR: main
    println!("1. iteration: for x in fib(10)");
    let numbers: Vec<String> = fib(10).map(|x| x.to_string()).collect();
    println!("  {}", numbers.join(" "));

    println!("2. send: a running sum");
    let mut sum = running_sum();
    // The first send starts the body; Python would require `send(None)`.
    if let Ok(Yielded(total)) = sum.send(0) {
        println!("  send(0) -> {total}   (starts the body)");
    }
    for x in [1, 2, 3] {
        if let Ok(Yielded(total)) = sum.send(x) {
            println!("  send({x}) -> {total}");
        }
    }

    println!("3. throw: the generator handles the error");
    let answer = sum.throw("FOO".to_string());
    println!("  throw(\"FOO\") -> {answer:?}");
    assert_eq!(answer, Ok(Yielded("error".to_string())));
    assert_eq!(sum.send(0), Ok(Returned(())));
    let after = sum.send(1);
    println!("  send after it finished -> {after:?}");
    assert_eq!(after, Err(GeneratorError::Exhausted));

    println!("4. close: unwinding a suspended generator");
    let mut reader = holds_a_resource();
    for _ in 0..2 {
        if let Ok(Yielded(line)) = reader.send(()) {
            println!("  read line {line}");
        }
    }
    println!("  close()");
    reader.close();

    println!("5. delegation: send and throw reach gen1 through gen2");
    let mut outer = gen2();
    // The first send starts gen2, which calls gen1, which yields 1.
    println!("  send(0) -> {:?}", outer.send(0));
    // 10 goes to gen2, and is received by gen1's pending yield.
    println!("  send(10) -> {:?}", outer.send(10));
    // Thrown into gen2, raised at gen1's yield; gen1 handles it and returns.
    let finished = outer.throw("STOP".to_string());
    println!("  throw(\"STOP\") -> {finished:?}   (Python: StopIteration(3))");
    assert_eq!(finished, Ok(Returned(3)));
    let after = outer.send(0);
    println!("  send after it finished -> {after:?}   (Python: StopIteration, no value)");
    assert_eq!(after, Err(GeneratorError::Exhausted));

    println!("6. only sugar: the slides' class-based gen1, by hand");
    let values: Vec<String> = Gen1::new().map(|v| v.to_string()).collect();
    println!("  for v in Gen1: {}", values.join(" "));
    let mut over_class = gen2_over_the_class();
    let states: Vec<String> = std::iter::from_fn(|| over_class.send(()).ok())
        .map(|state| format!("{state:?}"))
        .collect();
    println!("  gen2 delegating to Gen1: {}", states.join(", "));
    // ANCHOR_END: main
}
