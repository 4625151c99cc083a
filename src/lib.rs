//! # yieldloop
//!
//! A teaching runtime: how an event loop like Python's asyncio is made, built
//! one idea at a time on stackful coroutines. Each module says which lesson
//! introduces it; `docs/src/architecture.md` draws the whole map.
//!
//! The source tree reads bottom-up, the way the course does: each folder is
//! a stage of the lesson ladder and only uses the stages below it.
//!
//! | module           | lessons | what it is                                        |
//! |------------------|---------|---------------------------------------------------|
//! | [`clock`]        | 01 on   | real time, or virtual time that jumps (every stage) |
//! | [`stack_guard`]  | 02 on   | coroutine stacks: their count, the stack-overflow message |
//! | [`stepping`]     | 11      | the hook every loop calls for `--step` (below every loop, like `clock`) |
//! | [`generators`]   | 02–04   | generators on `corosensei`, requests, the `run` loop |
//! | [`select`]       | 05      | select(2) by hand: the loop, `sock_*`, listeners   |
//! | [`reactor`]      | 06–08   | asyncio's event loop: tasks, timers, selector, futures, cancellation; TCP, UDP, Unix sockets, pipes |
//! | [`sync`]         | 09      | between tasks: `Lock`, `Event`, `Semaphore`, `Condition`, `Queue` |
//! | [`executor`]     | 10      | blocking code and threads: `run_in_executor`, `call_soon_threadsafe`, processes |
//! | [`debug`]        | 11      | seeing the loop: `dump_tasks` (instrumentation and debug mode are reactor hooks) |
//! | [`course`]       | —       | not a stage: trace lines, timelines, flags, the ladder |
//!
//! What a lesson or a learner's program calls is re-exported here at the
//! root (`yieldloop::spawn`, `yieldloop::sleep`, `yieldloop::EventLoop`, …),
//! so code does not need to know which folder a name lives in.

#![warn(missing_docs)]

pub mod clock;
pub mod course;
pub mod debug;
pub mod executor;
pub mod generators;
pub mod reactor;
pub mod select;
pub mod stack_guard;
pub mod stepping;
pub mod sync;

pub use clock::Clock;
pub use debug::dump::{TaskDump, TaskTree};
pub use executor::blocking::{open_connection, read_file, resolve, write_file, Address, ToAddress};
pub use executor::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
pub use executor::run::{executor_thread_count, run_in_executor, ExecutorError};
pub use executor::threadsafe::ThreadsafeHandle;
pub use generators::generator::{Co, Generator, GeneratorError, GeneratorState};
pub use generators::request::{secs, Request};
pub use reactor::buffered::{StreamReader, StreamWriter, TooLong, DEFAULT_LIMIT};
pub use reactor::cancel::{shield, wait_for, CancelCause, Cancelled, SuspendError, TimedOut};
pub use reactor::event_loop::{
    default_executor_threads, Builder, EventLoop, Handle, StepTimes, TimerHandle,
};
pub use reactor::future::{gather, wait, wait_timeout, Future, WaitError, WaitMode};
pub use reactor::instrument::WaitOn;
pub use reactor::pipe::{pipe, PipeReader, PipeWriter};
pub use reactor::scope::{scope, ChildOutcome, Scope};
pub use reactor::stream::{
    OwnedReadHalf, OwnedWriteHalf, ReadHalf, Stream, StreamSocket, WriteHalf,
};
pub use reactor::task::{now, sleep, spawn, yield_now, JoinHandle, NotInTask, TaskError};
pub use reactor::tcp::{TcpListener, TcpStream};
pub use reactor::udp::{Datagram, UdpSocket};
pub use reactor::unix::{UnixDatagram, UnixListener, UnixStream};
pub use std::process::{ExitStatus, Output, Stdio};
pub use sync::condition::Condition;
pub use sync::event::Event;
pub use sync::lock::{Lock, LockGuard};
pub use sync::queue::{
    LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, QueueOf, TaskDoneTooOften,
};
pub use sync::semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit, TooManyReleases};
pub use sync::waiters::{SyncError, WouldBlock};
