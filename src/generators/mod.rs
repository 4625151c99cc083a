//! Stage one of the ladder, lessons 02–04: coroutines that yield requests,
//! and the smallest scheduler there is.
//!
//! Builds on [`crate::clock`] only. Everything later in the course starts
//! here: lesson 05's select loop resumes these same [`Generator`]s, and the
//! reactor (lesson 06) keeps the idea of "a coroutine suspends where it
//! waits" while dropping the yielded [`Request`] (see
//! [`crate::reactor::task`] for why).
//!
//! | module        | lesson | what it is                                 |
//! |---------------|--------|--------------------------------------------|
//! | [`generator`] | 02     | Python's generator protocol on `corosensei` |
//! | [`request`]   | 03     | what a coroutine yields to its scheduler    |
//! | [`run`]       | 03     | the slides' min-wakeup `run(*gens)` loop    |

pub mod generator;
pub mod request;
pub mod run;

pub use generator::{Co, Generator, GeneratorError, GeneratorState};
pub use request::{secs, Request};
