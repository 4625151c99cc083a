//! Stage four of the ladder, lesson 09: synchronisation between tasks —
//! asyncio's `Lock`, `Event`, `Semaphore`, `Condition` and `Queue`.
//!
//! Builds on [`crate::reactor`] only: every primitive parks its waiting
//! tasks with the reactor's own machinery (a task says whom to wake, then
//! `suspend`s; lesson 08's cancellation wakes it with an error), through the
//! one FIFO list in [`waiters`].
//!
//! Why a single-threaded loop needs locks at all: two tasks can never run
//! *at the same time*, so there is no data race; but every call that may
//! suspend is a point where another task runs, so a check and the action it
//! guards can be split apart — a *logic* race (lesson 09's `transfer`). A
//! stackful task makes it sharper than asyncio: nothing marks the calls that
//! may suspend, as `await` does.
//!
//! | module          | what it is                                              |
//! |-----------------|---------------------------------------------------------|
//! | [`waiters`]     | the FIFO wait list every primitive parks its tasks on, `SyncError` |
//! | [`lock`]        | `Lock` and its `LockGuard`                               |
//! | [`event`]       | `Event`: one flag, every waiter wakes when it is set     |
//! | [`semaphore`]   | `Semaphore`, `BoundedSemaphore`, `SemaphorePermit`        |
//! | [`condition`]   | `Condition` over a `Lock`                                |
//! | [`queue`]       | `Queue`, `PriorityQueue`, `LifoQueue`                     |
//!
//! The rules every primitive keeps, and why:
//!
//! * **One loop, one thread.** The primitives hold `Rc`s and so are
//!   `!Send`: the compiler refuses to move one to another thread. Waiting
//!   outside a task returns [`SyncError::NotInTask`] (there is no task to
//!   suspend); the non-waiting calls (`try_lock`, `put_nowait`, `set`, …)
//!   work anywhere. Tasks of two loops on one thread could share one, but a
//!   waiter is only woken on its own loop's ready queue, so keep them apart.
//! * **First come, first served.** Waiters are served in the order they
//!   started waiting, and what a releaser frees is *handed* to the first
//!   waiter (a lock stays locked, on its behalf) so that a task that did not
//!   wait cannot barge in before it.
//! * **Cancellation loses nothing.** A waiter that is cancelled (lesson 08,
//!   or a `wait_for` whose time is up) leaves the list; if it had already
//!   been handed the lock, a permit, a queued item or a free slot, it hands
//!   it on to the next waiter before it returns the error. The same happens
//!   when its stack is unwound.
//! * **No waiter is left behind.** A primitive dropped while tasks wait on
//!   it wakes them with [`SyncError::Closed`].
//! * **The trace says who waits on what:** a `debug` event on target
//!   `yieldloop::sync` names the primitive (give it a name with `named`) and
//!   the task (`RUST_LOG=yieldloop::sync=debug`).

pub mod condition;
pub mod event;
pub mod lock;
pub mod queue;
pub mod semaphore;
pub mod waiters;
