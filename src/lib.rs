//! # yieldloop
//!
//! A teaching runtime: how an event loop like Python's asyncio is made, built
//! one idea at a time on stackful coroutines. Each module says which lesson
//! introduces it; `docs/src/architecture.md` draws the whole map.
//!
//! | module        | lesson | what it is                                          |
//! |---------------|--------|-----------------------------------------------------|
//! | [`trace`]     | 01     | `0.000 a enter` lines through `tracing`              |
//! | [`timeline`]  | 01     | the trace drawn as a picture, one row per function   |
//! | [`clock`]     | 01     | real time, or virtual time that jumps                |
//! | [`cli`]       | 01     | shared lesson flags: `--virtual`, `--host`, `--port` |
//! | [`generator`] | 02     | Python's generator protocol on `corosensei`          |
//! | [`request`]   | 03     | what a coroutine yields to its scheduler             |
//! | [`run`]       | 03     | the slides' min-wakeup `run(*gens)` loop             |
//! | [`net`]       | 05     | listening sockets with a backlog of 1,024            |
//! | [`select_loop`] | 05   | sleepers, `to_read`, `to_write` and select(2)        |
//! | [`sock`]      | 05     | `sock_accept`/`sock_recv`/`sock_sendall` for tasks   |
//! | [`descriptors`] | 05   | the open-files limit; holding low descriptor numbers |
//! | [`selector`]  | 06     | Python's `selectors`: epoll/kqueue or select(2)      |
//! | [`timers`]    | 06     | timers by (deadline, seq), cancellable               |
//! | [`stacks`]    | 06     | task stacks, pooled; the `vm.max_map_count` ceiling  |
//! | [`event_loop`]| 06     | the reactor: ready queue, timers, `run_once`         |
//! | [`task`]      | 06     | tasks, `spawn`, `sleep`, `yield_now`, the thread-local |
//! | [`tcp`]       | 06     | sockets whose calls suspend the task, not the thread |
//! | [`future`]    | 07     | one-shot futures, `gather`, `wait`                   |
//! | [`ladder`]    | —      | the list of lessons the course prints                |

#![warn(missing_docs)]

pub mod cli;
pub mod clock;
pub mod descriptors;
pub mod event_loop;
pub mod future;
pub mod generator;
pub mod ladder;
pub mod net;
pub mod request;
pub mod run;
pub mod select_loop;
pub mod selector;
pub mod sock;
pub mod stacks;
pub mod task;
pub mod tcp;
pub mod timeline;
pub mod timers;
pub mod trace;

pub use clock::Clock;
pub use event_loop::{Builder, EventLoop, Handle, TimerHandle};
pub use future::{gather, wait, Future, WaitError, WaitMode};
pub use generator::{Co, Generator, GeneratorError, GeneratorState};
pub use request::{secs, Request};
pub use task::{now, sleep, spawn, yield_now, JoinHandle, NotInTask, TaskError};
pub use tcp::{TcpListener, TcpStream};
