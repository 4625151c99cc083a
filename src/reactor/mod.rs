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
//! | [`stacks`]     | 06     | task stacks, pooled; the `vm.max_map_count` ceiling  |
//! | [`event_loop`] | 06     | the reactor: ready queue, timers, `run_once`         |
//! | [`task`]       | 06     | tasks, `spawn`, `sleep`, `yield_now`, the thread-local |
//! | [`tcp`]        | 06     | sockets whose calls suspend the task, not the thread |
//! | [`future`]     | 07     | one-shot futures, `gather`, `wait`                   |
//! | [`cancel`]     | 08     | cancellation at suspension points, `wait_for`, `shield` |
//! | [`scope`]      | 08     | structured concurrency: `scope`, trio's nursery      |

pub mod cancel;
pub mod event_loop;
pub mod future;
pub mod scope;
pub mod selector;
pub mod stacks;
pub mod task;
pub mod tcp;
pub mod timers;
