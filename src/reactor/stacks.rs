//! Where task stacks come from, and go back to. Introduced by lesson 06.
//!
//! Every task runs on a stack of its own, made by corosensei's `DefaultStack`:
//! one `mmap` of the requested size plus a guard page below it, made
//! inaccessible with `mprotect` so that a stack overflow faults instead of
//! silently writing over the neighbour.
//!
//! ```text
//!   high addresses   ┌──────────────────────┐ ◀── the task starts here
//!                    │ frames in use         │     (only touched pages are
//!                    │        ↓              │      in RSS: mmap is lazy)
//!                    │  never touched        │
//!                    ├──────────────────────┤
//!   low addresses    │ guard page (no access)│ ◀── overflow faults here
//!                    └──────────────────────┘
//! ```
//!
//! Two consequences a learner meets in practice:
//!
//! * **The mapping count.** The kernel tracks those as two mappings (the
//!   protections differ), and Linux allows `vm.max_map_count` mappings per
//!   process: 65,530 by default. So about 32,700 tasks can be alive at once,
//!   whatever their stack size. Worse, when the count runs out, *every*
//!   mapping fails, including the allocator's, and Rust aborts the process
//!   on a failed allocation. So we do not wait for `mmap` to fail: we count
//!   the stacks we have mapped ([`live_stacks`]) and refuse a new one, with
//!   [`NoStack`] naming `vm.max_map_count`, while there is still room for the
//!   rest of the process ([`stack_ceiling`]).
//! * **Mapping is a system call (several), and so is unmapping.** A finished
//!   task's stack goes to a pool and is handed to the next task, so a loop
//!   that spawns and finishes tasks all day makes no system calls for stacks
//!   after warming up. After a burst (30,000 tasks finishing together) the
//!   pool holds more than it needs; the loop gives the surplus back to the
//!   kernel a few at a time when it is idle ([`StackPool::trim`]), the way
//!   `malloc` keeps freed memory and trims it later, instead of paying for
//!   30,000 `munmap`s while tasks are waiting to run.

use std::fmt;
use std::fs;
use std::sync::OnceLock;

use corosensei::stack::{DefaultStack, Stack, StackPointer};

use crate::stack_guard;

/// Default stack size: 256 KiB of address space per task, of which only the
/// touched pages cost memory. Debug builds use far bigger frames than release
/// builds (no inlining, every temporary in its own slot), and the default
/// must survive a `cargo run` debug build of an ordinary call chain, so it is
/// generous; a test runs a deep debug-mode recursion on it.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest stack [`crate::Builder::stack_size`] accepts: enough for a
/// task's own frames (`task_body`, `catch_unwind`, a switch) in a debug
/// build *and* for the panic hook, which runs on the panicking task's stack:
/// with `RUST_BACKTRACE=1` it symbolises the backtrace there, which
/// overflowed the old 16 KiB minimum (so whether a panic was contained
/// depended on an environment variable). 32 KiB sufficed in a debug build
/// with `RUST_BACKTRACE=full`; we keep twice that. Only touched pages cost
/// memory.
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// How many finished stacks the pool keeps for good. Each keeps the pages its
/// last task touched; more than this are given back when the loop is idle.
pub const DEFAULT_POOL_LIMIT: usize = 1024;

/// How many surplus stacks one idle moment unmaps: about a millisecond of
/// work, so that trimming never makes a due timer late by much.
const TRIM_BATCH: usize = 256;

/// Stacks of finished tasks, ready for new ones.
///
/// Invariant: every pooled stack is `size` bytes (the size is fixed when the
/// loop is built). The pool may hold more than `limit` stacks after a burst
/// of finished tasks, until [`trim`](StackPool::trim) brings it back down.
pub struct StackPool {
    size: usize,
    limit: usize,
    free: Vec<TaskStack>,
}

// ANCHOR: ceiling
/// Mappings left for everything else in the process (the allocator's large
/// blocks, thread stacks, libraries) when task stacks are counted against
/// `vm.max_map_count`.
const MAPPINGS_KEPT_FOR_THE_REST: usize = 1024;

pub use crate::stack_guard::live_stacks;

/// The largest stack we try to map: far beyond any real need, and small
/// enough that adding the guard page and rounding to pages cannot overflow
/// (corosensei would panic on that instead of failing).
pub const MAX_STACK_SIZE: usize = 1 << 40;

/// The most task stacks this process may map: the mappings
/// `vm.max_map_count` allows, minus those in use when first asked and
/// `MAPPINGS_KEPT_FOR_THE_REST` (1,024), halved (a stack and its guard page are
/// two). Where there is no `/proc` (macOS), there is no such limit.
pub fn stack_ceiling() -> usize {
    static CEILING: OnceLock<usize> = OnceLock::new();
    *CEILING.get_or_init(|| {
        let Some(max_map_count) = fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
        else {
            return usize::MAX;
        };
        let in_use = fs::read_to_string("/proc/self/maps").map_or(0, |maps| maps.lines().count());
        max_map_count.saturating_sub(in_use + MAPPINGS_KEPT_FOR_THE_REST) / 2
    })
}
// ANCHOR_END: ceiling

/// A task's stack: corosensei's `DefaultStack`, counted in [`live_stacks`]
/// from the moment it is mapped until it is unmapped (dropped), wherever that
/// happens (the pool, a finished task, a loop dropped with tasks suspended).
pub struct TaskStack {
    stack: DefaultStack,
    /// How far below the top of the mapping the task's stack starts. Every
    /// mapping starts on a page boundary, so without this every task's
    /// hottest bytes (the registers saved at a switch) would sit at the same
    /// offset within a page, compete for the same few CPU cache sets, and
    /// evict each other when a thousand tasks take turns. Varying the start
    /// ("cache colouring") spreads them out.
    colour: usize,
}

/// Successive stacks start this many bytes apart within their first page,
/// cycling through [`COLOURS`] offsets.
const COLOUR_STEP: usize = 64 + 16;
/// How many different starting offsets there are.
const COLOURS: usize = 48;
/// Stacks smaller than this start at the very top (no colour).
const COLOURED_FROM: usize = 64 * 1024;

impl TaskStack {
    /// Maps a stack of `size` usable bytes for `owner`, unless the process
    /// is at its ceiling or `size` is absurd.
    fn map(size: usize) -> Result<TaskStack, NoStack> {
        if size > MAX_STACK_SIZE {
            return Err(NoStack {
                size,
                cause: format!(
                    "more than the {} GiB a stack may have",
                    MAX_STACK_SIZE >> 30
                ),
            });
        }
        let live = stack_guard::count_mapped(false);
        let ceiling = stack_ceiling();
        let cause = if live >= ceiling {
            let generators = stack_guard::live_generator_stacks();
            format!(
                "{live} coroutine stacks are mapped ({} for tasks, {generators} for generators), \
                 the most this process can hold",
                live - generators
            )
        } else {
            match DefaultStack::new(size) {
                Ok(stack) => {
                    // Small stacks cannot spare the bytes.
                    let colour = if size >= COLOURED_FROM {
                        (live % COLOURS) * COLOUR_STEP
                    } else {
                        0
                    };
                    return Ok(TaskStack { stack, colour });
                }
                Err(error) => format!("mmap failed: {error}"),
            }
        };
        stack_guard::count_unmapped(false);
        Err(NoStack { size, cause })
    }

    /// Usable bytes: from above the guard page up to the top of the mapping
    /// (corosensei's `limit` is the bottom of the mapping, guard page included).
    pub(crate) fn usable_size(&self) -> usize {
        self.stack.base().get() - self.stack.limit().get() - stack_guard::page_size()
    }
}

impl Drop for TaskStack {
    fn drop(&mut self) {
        stack_guard::count_unmapped(false);
    }
}

// SAFETY: we hand corosensei the bounds of the `DefaultStack` we own, with the
// top lowered by at most 48 × 80 bytes (under a page, 16-byte aligned, and
// only for stacks of 64 KiB or more): the guard page is untouched and far
// more than the trait's minimum size stays usable.
unsafe impl Stack for TaskStack {
    #[inline]
    fn base(&self) -> StackPointer {
        let top = self.stack.base().get() - self.colour;
        // The colour is a multiple of 16 below a page-aligned top, so `top`
        // keeps the alignment corosensei needs and is far from zero.
        StackPointer::new(top).unwrap_or(self.stack.base())
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.stack.limit()
    }
}

/// No stack could be had for a new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoStack {
    /// The stack size asked for.
    pub size: usize,
    /// What went wrong: the ceiling reached, or the operating system's answer.
    pub cause: String,
}

impl fmt::Display for NoStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not get a {} KiB stack ({}). Each coroutine's stack (a task's or a \
             generator's) is two memory mappings (the stack and its guard page), and \
             Linux allows vm.max_map_count of them per process (65,530 by default, so \
             about 32,700 live coroutines). Let tasks finish and drop generators you \
             are done with, or raise the limit: `sudo sysctl vm.max_map_count=262144`",
            self.size / 1024,
            self.cause
        )
    }
}

impl std::error::Error for NoStack {}

impl StackPool {
    /// A pool handing out stacks of `size` bytes, keeping `limit` spare for good.
    pub fn new(size: usize, limit: usize) -> Self {
        StackPool {
            size,
            limit,
            free: Vec::new(),
        }
    }

    // ANCHOR: pool
    /// A stack for a new task: a pooled one if there is one, else a new mapping.
    pub fn take(&mut self) -> Result<TaskStack, NoStack> {
        match self.free.pop() {
            Some(stack) => Ok(stack),
            None => TaskStack::map(self.size),
        }
    }

    /// Takes back the stack of a finished task.
    pub fn give_back(&mut self, stack: TaskStack) {
        self.free.push(stack);
    }

    /// Unmaps a batch of the stacks beyond `limit`; returns whether any are
    /// left to trim. The loop calls it when it is about to wait.
    pub fn trim(&mut self) -> bool {
        let keep = self.limit.max(self.free.len().saturating_sub(TRIM_BATCH));
        self.free.truncate(keep); // dropping a TaskStack unmaps it
        self.free.len() > self.limit
    }
    // ANCHOR_END: pool

    /// The size of every stack this pool hands out.
    pub fn stack_size(&self) -> usize {
        self.size
    }

    /// How many spare stacks are pooled.
    pub fn spare(&self) -> usize {
        self.free.len()
    }
}
