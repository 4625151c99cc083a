//! Stage five of the ladder, lesson 11: seeing the loop.
//!
//! Builds on the reactor (lessons 06–08), the sync primitives (lesson 09)
//! and the executor (lesson 10), and only *reads* them: the reactor keeps
//! the few hooks this needs ([`crate::reactor::instrument`]: what each task
//! waits on, the `tracing` events, debug mode's checks, and the request a
//! suspended task answers with its backtrace), and never imports this
//! module.
//!
//! | module   | lesson | what it is                                             |
//! |----------|--------|--------------------------------------------------------|
//! | [`dump`] | 11     | `EventLoop::dump_tasks`: the task tree, with backtraces |
//! | [`stepper`] | 11  | `--step`: the step-through debugger (the loops call [`crate::stepping`]) |
//! | [`signal`] | 11   | SIGUSR1 in the server lessons: the task tree on standard error |

pub mod dump;
pub mod signal;
pub mod stepper;
