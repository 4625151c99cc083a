//! Python's generator protocol on a stackful coroutine. Introduced by lesson 02.
//!
//! A Python generator is a function that can stop in the middle (`yield`), hand a
//! value out, and later be resumed with a value in (`send`), an exception in
//! (`throw`), or be told to stop for good (`close`). Everything the rest of the
//! course builds, from the slides' `run` loop to the reactor, is "a loop that
//! resumes generators", so this module is the foundation.
//!
//! We build it on [`corosensei::Coroutine`]: a function running on a stack of
//! its own. When it suspends, its whole call stack stays where it is, frozen,
//! and the caller carries on. That has two consequences worth a learner's time:
//!
//! * **No `yield from`.** A Python generator can only suspend in its own frame,
//!   so a helper that wants to suspend must itself be a generator and be
//!   delegated to with `yield from` (PEP 380). A stackful coroutine can suspend
//!   from any depth: a helper is a plain function that takes the [`Co`] handle,
//!   and its return value is an ordinary return value.
//! * **Honest backtraces.** Because the frames are real frames, a panic deep in
//!   a helper shows every caller in its backtrace, down to the coroutine's entry.
//!
//! ```text
//!   caller's stack                     the generator's own stack
//!   ──────────────                     ─────────────────────────
//!   main                               body(co, first)
//!   └ g.send(1) ───── resume ───────▶  └ helper(co)
//!                                         └ co.yield_(x)  ── suspend ──┐
//!     ◀────────────── Yielded(x) ──────────────────────────────────────┘
//! ```
//!
//! | Python                    | here                                         |
//! |---------------------------|----------------------------------------------|
//! | `x = yield y`             | `let x = co.yield_(y)?;`                      |
//! | `g.send(v)`               | `g.send(v)` → `Yielded(y)` or `Returned(r)`   |
//! | `g.throw(e)`              | `g.throw(e)`: `co.yield_` returns `Err(e)`    |
//! | `g.close()`, `del g`      | `g.close()`, `drop(g)`: the stack is unwound  |
//! | `return r` (= `StopIteration(r)`) | `Returned(r)`, from the `send` that ran it |
//! | `StopIteration` later     | [`GeneratorError::Exhausted`]                 |
//! | `v = yield from sub()`    | `let v = sub(co)?;` — a plain call            |
//!
//! ```
//! use yieldloop::{Generator, GeneratorState::Yielded};
//!
//! // Python: def gen(): s = 0; while True: x = yield s; s += x
//! let mut g: Generator<i64, i64> = Generator::new(|co, _first| {
//!     let mut sum = 0;
//!     loop {
//!         sum += co.yield_(sum)?;
//!     }
//! });
//! assert_eq!(g.send(0), Ok(Yielded(0))); // starts the body
//! assert_eq!(g.send(1), Ok(Yielded(1)));
//! assert_eq!(g.send(2), Ok(Yielded(3)));
//! g.close(); // unwinds the body's stack
//! ```

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt;

use corosensei::stack::Stack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack_guard::{self, GeneratorStack, GuardedStack, RunningGenerator};
use crate::stepping;

/// What a suspended body is resumed with: a value (`send`) or an error (`throw`).
enum Resume<S, E> {
    Send(S),
    Throw(E),
}

/// The body's side of a generator: the thing it yields through.
///
/// A body receives `&Co` as its first argument and hands it down to any helper
/// that needs to suspend. `S` is what `send` passes in, `Y` what the body yields
/// out, `E` what `throw` can raise inside it.
// `repr(transparent)` makes `Co` the same type in memory as the corosensei
// `Yielder` it wraps, which is what lets `Co::from_yielder` cast a reference.
#[repr(transparent)]
pub struct Co<S, Y, E = Infallible> {
    yielder: Yielder<Resume<S, E>, Y>,
}

impl<S, Y, E> Co<S, Y, E> {
    fn from_yielder(yielder: &Yielder<Resume<S, E>, Y>) -> &Self {
        // SAFETY: `Co` is `repr(transparent)` over exactly this `Yielder` type,
        // so the two have the same layout, and the returned reference borrows
        // from `yielder` with the same lifetime.
        unsafe { &*(yielder as *const Yielder<Resume<S, E>, Y>).cast::<Self>() }
    }

    /// Python's `x = yield value`: suspend, hand `value` to whoever resumed us,
    /// and wait. Returns what the next `send` passes in, or `Err` with what the
    /// next `throw` raises, so that `?` lets a thrown error end the generator.
    pub fn yield_(&self, value: Y) -> Result<S, E> {
        // Lesson 11's `--step`: remember where we suspend, for its `p` key.
        // Off, this is one branch.
        if stepping::capture_at_yield() {
            let backtrace = std::backtrace::Backtrace::force_capture();
            let since = stepping::step_time();
            SUSPENDED_AT.with(|cell| *cell.borrow_mut() = Some((backtrace, since)));
        }
        match self.yielder.suspend(value) {
            Resume::Send(sent) => Ok(sent),
            Resume::Throw(error) => Err(error),
        }
    }
}

/// What one `send` or `throw` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorState<Y, R> {
    /// The body reached `co.yield_(y)` and is suspended there.
    Yielded(Y),
    /// The body returned `Ok(r)`; the generator is finished.
    Returned(R),
}

/// Why a `send` or `throw` produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorError<E> {
    /// The body ended with `Err(e)`: an error it did not handle, often one that
    /// `throw` put in and `?` carried out.
    Raised(E),
    /// The generator had already finished (returned, raised, panicked or been
    /// closed). Python raises `StopIteration` here; corosensei would panic, so
    /// we check first.
    Exhausted,
}

impl<E: fmt::Display> fmt::Display for GeneratorError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeneratorError::Raised(error) => write!(f, "the generator raised: {error}"),
            GeneratorError::Exhausted => f.write_str(
                "the generator has already finished and cannot be resumed (Python: StopIteration)",
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GeneratorError<E> {}

thread_local! {
    /// The backtrace the last generator took as it yielded (only under
    /// `--step`); `Generator::resume` moves it into the generator.
    static SUSPENDED_AT: RefCell<Option<Suspension>> = const { RefCell::new(None) };
}

/// Where a generator suspended (its backtrace) and at what loop time.
type Suspension = (std::backtrace::Backtrace, std::time::Duration);

/// The corosensei coroutine under a generator: resumed with a [`Resume`],
/// suspends with a `Y`, finishes with the body's `Result<R, E>`.
type Stackful<S, Y, R, E> = Coroutine<Resume<S, E>, Y, Result<R, E>, GeneratorStack>;

/// A generator's stack size unless [`Generator::with_stack_size`] says
/// otherwise: corosensei's default, 1 MiB of address space (only touched
/// pages cost memory).
pub const DEFAULT_GENERATOR_STACK: usize = 1024 * 1024;

/// The result of resuming a generator.
pub type Resumed<Y, R, E> = Result<GeneratorState<Y, R>, GeneratorError<E>>;

/// A Python-style generator: a body on its own stack that yields `Y`, is sent
/// `S`, returns `R`, and can have an `E` thrown into it.
///
/// The body does not run until the first [`send`](Generator::send), exactly as
/// `g = gen()` runs nothing in Python.
pub struct Generator<S, Y, R = (), E = Infallible> {
    /// `None` once closed; a finished coroutine is also told by `done()`.
    coroutine: Option<Stackful<S, Y, R, E>>,
    /// Where its stack's guard page is, for the stack-overflow message.
    /// Boxed so that its address stays put while it is running.
    guarded: Box<GuardedStack>,
    /// Where the body is suspended, as a backtrace, and since what loop
    /// time, when lesson 11's `--step` asked generators to note it at each yield.
    suspended_at: Option<Suspension>,
    /// The body's type name (`_03_run_loop::a::{{closure}}`): free to keep
    /// (a `&'static str`), and how `--step` tells coroutines apart.
    body: &'static str,
    /// A serial number, unique in the process: how the loops' events name
    /// a coroutine on the timelines (lesson 11).
    id: u64,
    /// Its name on the timelines, if it was given one ([`Generator::named`]).
    name: Option<std::borrow::Cow<'static, str>>,
}

/// The last [`Generator::id`] handed out.
static LAST_GENERATOR_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl<S, Y, R, E> Generator<S, Y, R, E>
where
    S: 'static,
    Y: 'static,
    R: 'static,
    E: 'static,
{
    /// Wraps `body` as a generator. The body gets the [`Co`] to yield through
    /// and the value of the first `send`.
    ///
    /// Python insists that the first send be `None`, because no `yield` is
    /// waiting to receive it. Here the first value is not thrown away: it is
    /// the body's second argument (use `()` when there is nothing to pass).
    ///
    /// # Panics
    ///
    /// If no stack can be mapped (the process holds as many mappings as
    /// `vm.max_map_count` allows); [`Generator::with_stack_size`] returns
    /// that as an error instead.
    pub fn new<F>(body: F) -> Self
    where
        F: FnOnce(&Co<S, Y, E>, S) -> Result<R, E> + 'static,
    {
        match Generator::with_stack_size(DEFAULT_GENERATOR_STACK, body) {
            Ok(generator) => generator,
            Err(error) => panic!(
                "could not map a generator's stack: {error}. Each coroutine stack is two \
                 mappings, and vm.max_map_count limits them per process"
            ),
        }
    }

    /// Like [`Generator::new`], on a stack of `bytes` (at least corosensei's
    /// minimum). The stack counts against the same limit as tasks' stacks
    /// (`vm.max_map_count`); when mapping it fails, this is the error.
    pub fn with_stack_size<F>(bytes: usize, body: F) -> std::io::Result<Self>
    where
        F: FnOnce(&Co<S, Y, E>, S) -> Result<R, E> + 'static,
    {
        // An overflow of this stack gets a message, not a bare SIGSEGV.
        stack_guard::install(None);
        let stack = GeneratorStack::new(bytes)?;
        let guarded = Box::new(GuardedStack::new(stack.limit().get(), stack.usable_size()));
        let coroutine = Coroutine::with_stack(stack, move |yielder, first: Resume<S, E>| {
            match first {
                Resume::Send(value) => body(Co::from_yielder(yielder), value),
                // Python: throwing into a generator that never started raises the
                // error at once, and the body never runs.
                Resume::Throw(error) => Err(error),
            }
        });
        Ok(Generator {
            coroutine: Some(coroutine),
            guarded,
            suspended_at: None,
            body: std::any::type_name::<F>(),
            id: LAST_GENERATOR_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            name: None,
        })
    }
}

impl<S, Y, R, E> Generator<S, Y, R, E> {
    /// Resumes the body with `value` (Python's `g.send(value)`). The first call
    /// starts the body, which receives `value` as its argument.
    pub fn send(&mut self, value: S) -> Resumed<Y, R, E> {
        self.resume(Resume::Send(value))
    }

    /// Resumes the body with an error (Python's `g.throw(error)`): the body's
    /// pending `co.yield_` returns `Err(error)`. The body may handle it and go
    /// on yielding, or pass it on with `?`, which ends the generator with
    /// [`GeneratorError::Raised`].
    pub fn throw(&mut self, error: E) -> Resumed<Y, R, E> {
        self.resume(Resume::Throw(error))
    }

    /// Stops the generator for good (Python's `g.close()`).
    ///
    /// If the body is suspended, its stack is unwound: every live value on it
    /// is dropped, so `Drop` guards run, as `finally:` blocks do when Python
    /// throws `GeneratorExit`. Dropping a `Generator` does the same.
    pub fn close(&mut self) {
        // Dropping a corosensei coroutine unwinds a suspended stack.
        self.coroutine = None;
    }

    /// Where the body is suspended, as a printed backtrace: only under
    /// lesson 11's `--step`, which asks every generator to take one when it
    /// yields.
    pub(crate) fn suspended_backtrace(&self) -> Option<String> {
        let (backtrace, _) = self.suspended_at.as_ref()?;
        Some(backtrace.to_string())
    }

    /// Since what loop time it waits (under `--step`; else zero).
    pub(crate) fn suspended_since(&self) -> std::time::Duration {
        self.suspended_at
            .as_ref()
            .map_or(std::time::Duration::ZERO, |(_, since)| *since)
    }

    /// The function whose body this generator runs, for lesson 11's
    /// `--step`: `a` for the closure that lesson 03's `fn a()` returns.
    pub(crate) fn body_name(&self) -> &'static str {
        let mut name = self.body;
        while let Some(outer) = name.strip_suffix("::{{closure}}") {
            name = outer;
        }
        name.rsplit("::").next().unwrap_or(name)
    }

    /// Its serial number: the first generator made in a process is 1, the
    /// next 2, and so on. The loops name it by this in their events.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Gives it a name, for the timelines of lesson 11 (a reactor task gets
    /// its name from `spawn`; a generator has none unless given one).
    pub fn named(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the generator can no longer be resumed.
    pub fn is_finished(&self) -> bool {
        self.coroutine.as_ref().is_none_or(Coroutine::done)
    }

    fn resume(&mut self, input: Resume<S, E>) -> Resumed<Y, R, E> {
        // Checking `done()` first turns corosensei's "resume a completed
        // coroutine" panic into Python's StopIteration. It matters after a
        // panic in the body: the coroutine is then finished but still here.
        let coroutine = match &mut self.coroutine {
            Some(coroutine) if !coroutine.done() => coroutine,
            _ => return Err(GeneratorError::Exhausted),
        };
        let _running = RunningGenerator::enter(&self.guarded);
        match coroutine.resume(input) {
            CoroutineResult::Yield(value) => {
                if stepping::capture_at_yield() {
                    self.suspended_at = SUSPENDED_AT.with(|cell| cell.borrow_mut().take());
                }
                Ok(GeneratorState::Yielded(value))
            }
            CoroutineResult::Return(Ok(value)) => Ok(GeneratorState::Returned(value)),
            CoroutineResult::Return(Err(error)) => Err(GeneratorError::Raised(error)),
        }
    }
}

/// A generator that is sent nothing is an iterator over what it yields (the
/// slides' `for x in fib(10)`). As in a Python `for` loop, the return value is
/// dropped.
impl<Y, R> Iterator for Generator<(), Y, R, Infallible> {
    type Item = Y;

    fn next(&mut self) -> Option<Y> {
        match self.send(()) {
            Ok(GeneratorState::Yielded(value)) => Some(value),
            Ok(GeneratorState::Returned(_)) | Err(_) => None,
        }
    }
}

impl<S, Y, R, E> fmt::Debug for Generator<S, Y, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    use GeneratorState::{Returned, Yielded};

    /// The slides' running sum: `x = yield s; s += x`.
    fn running_sum() -> Generator<i64, i64, (), String> {
        Generator::new(|co, _first| {
            let mut sum = 0;
            loop {
                let x = co.yield_(sum)?;
                sum += x;
            }
        })
    }

    #[test]
    fn send_starts_the_body_then_delivers_values() {
        let mut g = running_sum();
        assert_eq!(g.send(0), Ok(Yielded(0)));
        assert_eq!(g.send(1), Ok(Yielded(1)));
        assert_eq!(g.send(2), Ok(Yielded(3)));
        assert_eq!(g.send(3), Ok(Yielded(6)));
    }

    #[test]
    fn nothing_runs_before_the_first_send() {
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        let mut g: Generator<(), ()> = Generator::new(move |_co, ()| {
            flag.set(true);
            Ok(())
        });
        assert!(!ran.get());
        assert_eq!(g.send(()), Ok(Returned(())));
        assert!(ran.get());
    }

    #[test]
    fn a_generator_of_unit_is_an_iterator() {
        let fib: Generator<(), u64> = Generator::new(|co, ()| {
            let (mut a, mut b) = (0, 1);
            for _ in 0..10 {
                co.yield_(a)?;
                (a, b) = (b, a + b);
            }
            Ok(())
        });
        assert_eq!(
            fib.collect::<Vec<_>>(),
            vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
        );
    }

    #[test]
    fn throw_propagated_with_question_mark_ends_the_generator() {
        let mut g = running_sum();
        g.send(0).unwrap();
        g.send(5).unwrap();
        assert_eq!(
            g.throw("FOO".to_string()),
            Err(GeneratorError::Raised("FOO".to_string()))
        );
        assert!(g.is_finished());
        assert_eq!(g.send(1), Err(GeneratorError::Exhausted));
    }

    #[test]
    fn throw_can_be_handled_inside_the_body() {
        let mut g: Generator<i64, String, (), String> = Generator::new(|co, _| {
            let mut sum = 0;
            loop {
                match co.yield_(sum.to_string()) {
                    Ok(x) => sum += x,
                    Err(_) => {
                        co.yield_("error".to_string())?;
                        return Ok(());
                    }
                }
            }
        });
        g.send(0).unwrap();
        assert_eq!(g.send(4), Ok(Yielded("4".to_string())));
        assert_eq!(g.throw("FOO".into()), Ok(Yielded("error".to_string())));
        assert_eq!(g.send(0), Ok(Returned(())));
    }

    #[test]
    fn throw_into_an_unstarted_generator_raises_without_running_it() {
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        let mut g: Generator<(), (), (), &str> = Generator::new(move |_co, ()| {
            flag.set(true);
            Ok(())
        });
        assert_eq!(g.throw("early"), Err(GeneratorError::Raised("early")));
        assert!(!ran.get());
        assert_eq!(g.send(()), Err(GeneratorError::Exhausted));
    }

    /// Sets its flag when dropped: stands in for a `finally:` block.
    struct Guard(Rc<Cell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    fn guarded(flag: Rc<Cell<bool>>) -> Generator<(), u32> {
        Generator::new(move |co, ()| {
            let _guard = Guard(flag);
            let mut n = 0;
            loop {
                co.yield_(n)?;
                n += 1;
            }
        })
    }

    #[test]
    fn close_unwinds_a_suspended_body_and_runs_its_guards() {
        let cleaned = Rc::new(Cell::new(false));
        let mut g = guarded(cleaned.clone());
        assert_eq!(g.send(()), Ok(Yielded(0)));
        assert!(!cleaned.get());
        g.close();
        assert!(cleaned.get());
        assert_eq!(g.send(()), Err(GeneratorError::Exhausted));
    }

    #[test]
    fn dropping_a_suspended_generator_runs_its_guards() {
        let cleaned = Rc::new(Cell::new(false));
        let mut g = guarded(cleaned.clone());
        g.send(()).unwrap();
        g.send(()).unwrap();
        drop(g);
        assert!(cleaned.get());
    }

    #[test]
    fn resuming_after_return_is_exhausted_not_a_panic() {
        let mut g: Generator<(), (), u8> = Generator::new(|_co, ()| Ok(7));
        assert_eq!(g.send(()), Ok(Returned(7)));
        assert_eq!(g.send(()), Err(GeneratorError::Exhausted));
        assert_eq!(g.send(()), Err(GeneratorError::Exhausted));
    }

    #[test]
    fn resuming_after_a_panic_is_exhausted() {
        let mut g: Generator<(), ()> = Generator::new(|_co, ()| panic!("boom"));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.send(())));
        assert!(caught.is_err());
        assert!(g.is_finished());
        assert_eq!(g.send(()), Err(GeneratorError::Exhausted));
    }

    /// PEP 380's example: `gen1` yields 1 and 2 and returns 3 to `gen2`.
    fn gen1(co: &Co<(), i32>) -> Result<i32, Infallible> {
        co.yield_(1)?;
        co.yield_(2)?;
        Ok(3)
    }

    #[test]
    fn delegation_is_a_plain_call_and_returns_a_value() {
        let returned = Rc::new(Cell::new(0));
        let seen = returned.clone();
        let mut gen2: Generator<(), i32> = Generator::new(move |co, ()| {
            let value = gen1(co)?;
            seen.set(value);
            Ok(())
        });
        assert_eq!(gen2.send(()), Ok(Yielded(1)));
        assert_eq!(gen2.send(()), Ok(Yielded(2)));
        assert_eq!(gen2.send(()), Ok(Returned(())));
        assert_eq!(returned.get(), 3);
    }

    #[test]
    fn exhausted_reads_like_stop_iteration() {
        let message = GeneratorError::<String>::Exhausted.to_string();
        assert!(message.contains("StopIteration"), "{message}");
    }

    /// Lesson 03's `fn a() -> Coroutine` style: a function returning its body.
    fn ticker() -> Generator<(), u32> {
        Generator::new(|co, ()| co.yield_(1))
    }

    #[test]
    fn a_generator_is_named_by_the_function_that_made_it() {
        assert_eq!(ticker().body_name(), "ticker");
    }
}
