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
//!   whatever their stack size. Past that, `mmap`/`mprotect` fail with
//!   `ENOMEM`; we turn that into [`NoStack`], an error that says so, instead of
//!   a crash.
//! * **Mapping is a system call (several).** A finished task's stack is kept
//!   in a pool and handed to the next task, so a loop that spawns and finishes
//!   tasks all day makes no system calls for stacks after warming up.

use std::fmt;

use corosensei::stack::DefaultStack;

/// Default stack size: 256 KiB of address space per task, of which only the
/// touched pages cost memory. Debug builds use far bigger frames than release
/// builds (no inlining, every temporary in its own slot), and the default
/// must survive a `cargo run` debug build of an ordinary call chain, so it is
/// generous; a test runs a deep debug-mode recursion on it.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// How many finished stacks the pool keeps by default. Each keeps the pages
/// its last task touched, so the pool is bounded to bound memory.
pub const DEFAULT_POOL_LIMIT: usize = 1024;

/// Stacks of finished tasks, ready for new ones.
///
/// Invariant: every pooled stack is `size` bytes (the pool is emptied if the
/// size could change, and it cannot after the loop is built) and the pool
/// never holds more than `limit` stacks.
pub struct StackPool {
    size: usize,
    limit: usize,
    free: Vec<DefaultStack>,
}

/// No stack could be mapped for a new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoStack {
    /// The stack size asked for.
    pub size: usize,
    /// The operating system's answer.
    pub os_error: String,
}

impl fmt::Display for NoStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not map a {} KiB stack for the task ({}). Each task's stack is two \
             memory mappings (the stack and its guard page), and Linux allows \
             vm.max_map_count of them per process (65,530 by default, so about \
             32,700 live tasks). Let tasks finish, or raise the limit: \
             `sudo sysctl vm.max_map_count=262144`",
            self.size / 1024,
            self.os_error
        )
    }
}

impl std::error::Error for NoStack {}

impl StackPool {
    /// A pool handing out stacks of `size` bytes, keeping at most `limit` spare.
    pub fn new(size: usize, limit: usize) -> Self {
        StackPool {
            size,
            limit,
            free: Vec::new(),
        }
    }

    /// A stack for a new task: a pooled one if there is one, else a new mapping.
    pub fn take(&mut self) -> Result<DefaultStack, NoStack> {
        if let Some(stack) = self.free.pop() {
            return Ok(stack);
        }
        DefaultStack::new(self.size).map_err(|error| NoStack {
            size: self.size,
            os_error: error.to_string(),
        })
    }

    /// Takes back the stack of a finished task (unmapping it if the pool is full).
    pub fn give_back(&mut self, stack: DefaultStack) {
        if self.free.len() < self.limit {
            self.free.push(stack);
        }
    }

    /// The size of every stack this pool hands out.
    pub fn stack_size(&self) -> usize {
        self.size
    }

    /// How many spare stacks are pooled.
    pub fn spare(&self) -> usize {
        self.free.len()
    }
}
