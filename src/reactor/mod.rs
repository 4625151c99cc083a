//! Stage three of the ladder, lessons 06–08: the reactor, shaped like
//! asyncio's `BaseEventLoop`.
//!
//! Builds on [`crate::clock`], and on lesson 05 in two places: the select(2)
//! backend of [`selector`] reuses [`crate::select::select_loop`]'s `timeval`
//! conversion, and [`tcp`] binds through [`crate::select::net`]. It does not
//! use lesson 02's `Generator`: a task suspends on a bare corosensei
//! coroutine and says what it waits for before it suspends (the module
//! comment of [`task`] explains the change).
//!
//! | module         | lesson | what it is                                          |
//! |----------------|--------|-----------------------------------------------------|
//! | [`selector`]   | 06     | Python's `selectors`: epoll/kqueue or select(2)      |
//! | [`timers`]     | 06     | timers by (deadline, seq), cancellable               |
//! | [`stacks`]     | 06     | task stacks, pooled; which allocator; the old ceiling |
//! | [`carved_stacks`] | 06  | stacks carved from regions, `MADV_GUARD_INSTALL` guards |
//! | [`event_loop`] | 06     | the reactor: ready queue, timers, `run_once`         |
//! | [`task`]       | 06     | tasks, `spawn`, `sleep`, `yield_now`, the thread-local |
//! | [`io_source`]  | 06     | a descriptor tasks wait on; one waiter per direction |
//! | [`stream`]     | 06     | byte streams (TCP, Unix) and their read/write halves |
//! | [`buffered`]   | 10     | `StreamReader`/`StreamWriter`: lines, exact reads, limits (the fetcher) |
//! | [`tcp`]        | 06     | TCP listeners and streams that suspend the task      |
//! | [`unix`]       | 06     | Unix-domain listeners, streams, datagram sockets     |
//! | [`udp`]        | 06     | UDP sockets: whole datagrams, suspending the task    |
//! | [`pipe`]       | 06     | pipes: between tasks, or to a child process          |
//! | [`watch`]      | 06     | `add_reader` / `add_writer` callbacks on a descriptor |
//! | [`future`]     | 07     | one-shot futures, `gather`, `wait`                   |
//! | [`instrument`] | 11     | `tracing` events and spans per task and iteration   |
//! | [`cancel`]     | 08     | cancellation at suspension points, `wait_for`, `shield` |
//! | [`scope`]      | 08     | structured concurrency: `scope`, trio's nursery      |

pub mod buffered;
pub mod cancel;
pub mod carved_stacks;
pub mod event_loop;
pub mod future;
pub mod instrument;
pub mod io_source;
pub mod pipe;
pub mod scope;
pub mod selector;
pub mod stacks;
pub mod stream;
pub mod task;
pub mod tcp;
pub mod timers;
pub mod udp;
pub mod unix;
pub mod watch;
