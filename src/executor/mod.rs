//! Stage four of the ladder, lesson 10: blocking code and other threads.
//!
//! Builds on [`crate::reactor`]. The reactor runs everything on one thread
//! and must never block; this stage is how it lives beside code that does:
//! a pool of threads for blocking calls, one `Send` door for other threads,
//! and child processes whose pipes are waited on like sockets. The reactor
//! knows only two small hooks for it: the selector's [`Wake`] handle, and
//! the loop's `Remote` (what arrives from other threads), which
//! [`run`] implements.
//!
//! | module         | lesson | what it is                                              |
//! |----------------|--------|---------------------------------------------------------|
//! | [`pool`]       | 10     | the thread pool: lazy threads, all joined when the loop drops |
//! | [`threadsafe`] | 10     | `call_soon_threadsafe`, the one `Send` door into the loop |
//! | [`run`]        | 10     | `run_in_executor`: a blocking call on a thread, the task waits |
//! | [`blocking`]   | 10     | `resolve`, `TcpStream::connect` by name, `read_file`, `write_file` |
//! | [`process`]    | 10     | child processes: non-blocking pipes, pidfd, `communicate` |
//!
//! [`Wake`]: crate::reactor::selector::Wake

pub mod blocking;
pub mod pool;
pub mod process;
pub mod run;
pub mod threadsafe;
