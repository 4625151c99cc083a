//! Where task stacks come from, and go back to. Introduced by lesson 06.
//!
//! Every task runs on a stack of its own, with a guard page below it that
//! faults when touched, so that a stack overflow stops the process (with a
//! message naming the task, [`crate::stack_guard`]) instead of silently
//! writing over the neighbour:
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
//! There are two ways to make one ([`StackAllocator`]), chosen once per
//! loop: by [`crate::Builder::stack_allocator`], else by the
//! `YIELDLOOP_STACKS` environment variable (`guard`, `mmap`), else by asking
//! the kernel once whether it has guard markers.
//!
//! * **Mappings** (every kernel; the only way before Linux 6.13): one
//!   `mmap` per stack (corosensei's `DefaultStack`), its guard page made
//!   inaccessible with `mprotect`. The kernel tracks that as *two* mappings
//!   (the protections differ), and Linux allows `vm.max_map_count` mappings
//!   per process: 65,530 by default. So about 32,700 tasks can be alive at
//!   once, whatever their stack size. Worse, when the count runs out,
//!   *every* mapping fails, including the allocator's, and Rust aborts the
//!   process on a failed allocation. So we do not wait for `mmap` to fail:
//!   we count the stacks we have mapped ([`live_stacks`]) and refuse a new
//!   one, with [`NoStack`] naming `vm.max_map_count`, while there is still
//!   room for the rest of the process ([`stack_ceiling`]).
//! * **Guard pages** (Linux 6.13+, the default where the kernel has it):
//!   `madvise(MADV_GUARD_INSTALL)` makes a page of an ordinary mapping fault
//!   like a guard page, with a marker in the page tables instead of a
//!   mapping of its own. So stacks are carved from large regions, up to a
//!   thousand per `mmap`, one mapping for all of them
//!   ([`crate::reactor::carved_stacks`]): no ceiling but memory, and no
//!   system call per stack.
//!
//! Either way, **making a stack costs system calls and its first use a page
//! fault**, so a finished task's stack goes to a pool and is handed to the
//! next task: a loop that spawns and finishes tasks all day makes no system
//! calls for stacks after warming up. After a burst (30,000 tasks finishing
//! together) the pool holds more than it needs; the loop gives the surplus
//! back to the kernel a batch at a time when it is idle ([`StackPool::trim`]),
//! the way `malloc` keeps freed memory and trims it later. A mapped stack is
//! unmapped. A carved one cannot be (its neighbours share the region), so
//! its pages are given back with `MADV_DONTNEED` (one call for a run of
//! neighbours) and it stays carved, guard page and all, in a second list
//! that is reused once the warm stacks run out: the memory goes back, the
//! address space (cheap: 128 TiB) and its page tables stay until the loop is
//! dropped and the regions with it.

use std::fmt;
use std::fs;
use std::io;
use std::sync::OnceLock;

use corosensei::stack::{DefaultStack, Stack, StackPointer};

use crate::reactor::carved_stacks::{self, CarvedStack, Carver};
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

/// Which way task stacks are made. Chosen once per loop by
/// [`crate::Builder::stack_allocator`], else by the `YIELDLOOP_STACKS`
/// environment variable (`guard` or `mmap`), else by
/// [`StackAllocator::detect`]: guard pages where the kernel has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackAllocator {
    /// Stacks carved from large regions, each guard page installed with
    /// `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+): one mapping per region
    /// of up to a thousand stacks, so `vm.max_map_count` is no limit
    /// ([`crate::reactor::carved_stacks`]).
    GuardPages,
    /// One mapping per stack plus an `mprotect`ed guard page: two mappings
    /// each, so at most [`stack_ceiling`] live stacks. Works everywhere.
    Mappings,
}

/// The environment variable that picks a [`StackAllocator`] for loops whose
/// builder does not: `guard` or `mmap` (`auto`, or unset: detect).
pub const STACKS_ENV: &str = "YIELDLOOP_STACKS";

impl StackAllocator {
    /// Guard pages if this kernel supports them (probed once), else mappings.
    pub fn detect() -> StackAllocator {
        if carved_stacks::guard_pages_supported() {
            StackAllocator::GuardPages
        } else {
            StackAllocator::Mappings
        }
    }

    /// What `YIELDLOOP_STACKS` asks for: `None` if it is unset or `auto`; an
    /// error naming the variable for any other value.
    pub fn from_env() -> io::Result<Option<StackAllocator>> {
        match std::env::var(STACKS_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Ok(value) => match value.trim() {
                "auto" | "" => Ok(None),
                "guard" => Ok(Some(StackAllocator::GuardPages)),
                "mmap" => Ok(Some(StackAllocator::Mappings)),
                other => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{STACKS_ENV}={other:?}: expected `guard`, `mmap` or `auto`"),
                )),
            },
            Err(error) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{STACKS_ENV}: {error}"),
            )),
        }
    }

    /// The allocator a loop uses: `asked` (the builder's choice), else the
    /// environment's, else [`StackAllocator::detect`]. Asking for guard pages
    /// on a kernel without them is an error, not a silent fallback.
    pub(crate) fn resolve(asked: Option<StackAllocator>) -> io::Result<StackAllocator> {
        let chosen = match asked {
            Some(allocator) => allocator,
            None => StackAllocator::from_env()?.unwrap_or_else(StackAllocator::detect),
        };
        if chosen == StackAllocator::GuardPages && !carved_stacks::guard_pages_supported() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "guard-page stacks need madvise(MADV_GUARD_INSTALL), Linux 6.13 or later; \
                 this kernel refused it (use StackAllocator::Mappings or YIELDLOOP_STACKS=mmap)",
            ));
        }
        Ok(chosen)
    }
}

// ANCHOR: pool_state
/// Stacks of finished tasks, ready for new ones.
///
/// Invariants: every stack here is `size` bytes (the size is fixed when the
/// loop is built) and was made by `allocator`; a stack is in at most one
/// place at a time (here, or a task's coroutine), because a `TaskStack` is
/// moved, never copied. `free` may hold more than `limit` stacks after a
/// burst of finished tasks, until [`trim`](StackPool::trim) brings it back
/// down: it unmaps mapped stacks, and gives carved stacks' pages back to the
/// kernel (`MADV_DONTNEED`), keeping them carved in `released`, because a
/// carved stack cannot be unmapped alone (its region holds its neighbours).
pub struct StackPool {
    size: usize,
    limit: usize,
    allocator: StackAllocator,
    /// Makes new stacks for [`StackAllocator::GuardPages`].
    carver: Option<Carver>,
    /// Finished tasks' stacks, their touched pages still in memory: reused
    /// first (last in, first out: the warmest first).
    free: Vec<TaskStack>,
    /// Carved stacks whose pages were given back: no memory, only address
    /// space and page tables. Reused when `free` is empty.
    released: Vec<TaskStack>,
}
// ANCHOR_END: pool_state

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

/// A task's stack, counted in [`live_stacks`] from the moment it is made
/// until it is dropped, wherever that happens (the pool, a finished task, a
/// loop dropped with tasks suspended).
pub struct TaskStack {
    memory: StackMemory,
    /// How far below the top of the stack's memory the task's stack starts.
    /// Every stack's memory ends on a page boundary, so without this every
    /// task's hottest bytes (the registers saved at a switch) would sit at
    /// the same offset within a page, compete for the same few CPU cache
    /// sets, and evict each other when a thousand tasks take turns. Varying
    /// the start ("cache colouring") spreads them out.
    colour: usize,
}

/// Where a stack's memory comes from: see [`StackAllocator`].
enum StackMemory {
    /// A mapping of its own, guard page `mprotect`ed: corosensei's
    /// `DefaultStack`, unmapped when dropped.
    Mapped(DefaultStack),
    /// A slot of a region; the region is unmapped after its last stack.
    Carved(CarvedStack),
}

/// Successive stacks start this many bytes apart within their first page,
/// cycling through [`COLOURS`] offsets. A multiple of 16: corosensei needs
/// the start 16-byte aligned (a step of 40 crashes at the first switch).
const COLOUR_STEP: usize = 48;
const _: () = assert!(COLOUR_STEP % corosensei::stack::STACK_ALIGNMENT == 0);
/// How many different starting offsets there are: 40, so the lowest start
/// is 1,872 bytes below the top, and the starts fall in 30 of the 64 sets
/// of a 32 KiB L1 cache. It was 48 offsets 80 bytes apart (down to 3,760
/// bytes), but a sleeping task's frames take about 1.8 KiB, so with the
/// deeper offsets four tasks in ten spilled into a second page: 6.4 KiB of
/// memory per sleeping task instead of 4.7 (measured with 30,000 and
/// 100,000 sleepers). A thousand tasks taking turns switch in about the same
/// time either way (24–29 ns on a loaded 2-core VM).
const COLOURS: usize = 40;
/// Stacks smaller than this start at the very top (no colour).
const COLOURED_FROM: usize = 64 * 1024;

impl TaskStack {
    /// A new stack of `size` usable bytes made by `allocator` (`carver`
    /// for guard pages), unless the process is at its ceiling (mappings
    /// only) or `size` is absurd.
    fn new(
        size: usize,
        allocator: StackAllocator,
        carver: Option<&mut Carver>,
    ) -> Result<TaskStack, NoStack> {
        let refuse = |cause: String| NoStack {
            size,
            cause,
            allocator,
        };
        if size > MAX_STACK_SIZE {
            return Err(refuse(format!(
                "more than the {} GiB a stack may have",
                MAX_STACK_SIZE >> 30
            )));
        }
        let live = stack_guard::count_mapped(false);
        let memory = match (allocator, carver) {
            (StackAllocator::GuardPages, Some(carver)) => carver
                .carve()
                .map(StackMemory::Carved)
                .map_err(|error| format!("mmap of a region for stacks failed: {error}")),
            _ => TaskStack::map(size, live),
        };
        match memory {
            Ok(memory) => {
                // Small stacks cannot spare the bytes.
                let colour = if size >= COLOURED_FROM {
                    (live % COLOURS) * COLOUR_STEP
                } else {
                    0
                };
                Ok(TaskStack { memory, colour })
            }
            Err(cause) => {
                stack_guard::count_unmapped(false);
                Err(refuse(cause))
            }
        }
    }

    /// [`StackAllocator::Mappings`]: a mapping of its own, unless `live`
    /// stacks are at the ceiling.
    fn map(size: usize, live: usize) -> Result<StackMemory, String> {
        let ceiling = stack_ceiling();
        if live >= ceiling {
            let generators = stack_guard::live_generator_stacks();
            return Err(format!(
                "{live} coroutine stacks are mapped ({} for tasks, {generators} for generators), \
                 the most this process can hold",
                live - generators
            ));
        }
        DefaultStack::new(size)
            .map(StackMemory::Mapped)
            .map_err(|error| format!("mmap failed: {error}"))
    }

    /// The top of the stack's memory (before colouring) and its lowest
    /// address, guard page included (corosensei's `limit`).
    fn bounds(&self) -> (StackPointer, StackPointer) {
        match &self.memory {
            StackMemory::Mapped(stack) => (stack.base(), stack.limit()),
            StackMemory::Carved(stack) => (stack.top(), stack.limit()),
        }
    }

    /// Usable bytes: from above the guard page up to the top of the memory.
    pub(crate) fn usable_size(&self) -> usize {
        let (top, limit) = self.bounds();
        top.get() - limit.get() - stack_guard::page_size()
    }
}

impl Drop for TaskStack {
    fn drop(&mut self) {
        stack_guard::count_unmapped(false);
    }
}

// SAFETY: we hand corosensei the bounds of the memory we own (a
// `DefaultStack`, or a carved slot whose region our `CarvedStack` keeps
// mapped), guard page included in `limit`, with the top lowered by at most
// 39 × 48 bytes (under a page, 16-byte aligned, and only for stacks of
// 64 KiB or more): the guard page is untouched and far more than the
// trait's minimum size stays usable. A carved slot's guard page was
// installed before the slot was carved (`carved_stacks`' invariants).
unsafe impl Stack for TaskStack {
    #[inline]
    fn base(&self) -> StackPointer {
        let (top, _) = self.bounds();
        // The colour is a multiple of 16 below a page-aligned top, so the
        // start keeps the alignment corosensei needs and is far from zero.
        StackPointer::new(top.get() - self.colour).unwrap_or(top)
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.bounds().1
    }
}

/// No stack could be had for a new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoStack {
    /// The stack size asked for.
    pub size: usize,
    /// What went wrong: the ceiling reached, or the operating system's answer.
    pub cause: String,
    /// Which allocator refused: the advice differs.
    pub allocator: StackAllocator,
}

impl fmt::Display for NoStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.size / 1024;
        let cause = &self.cause;
        match self.allocator {
            StackAllocator::Mappings => write!(
                f,
                "could not get a {size} KiB stack ({cause}). Each coroutine's stack (a task's \
                 or a generator's) is two memory mappings (the stack and its guard page), and \
                 Linux allows vm.max_map_count of them per process (65,530 by default, so \
                 about 32,700 live coroutines). Let tasks finish and drop generators you are \
                 done with, or raise the limit: `sudo sysctl vm.max_map_count=262144`"
            ),
            StackAllocator::GuardPages => write!(
                f,
                "could not get a {size} KiB stack ({cause}). Task stacks are carved from large \
                 regions with guard pages installed by MADV_GUARD_INSTALL, so vm.max_map_count \
                 is not what ran out: the memory or address space did. Use smaller stacks \
                 (Builder::stack_size) or fewer live tasks"
            ),
        }
    }
}

impl std::error::Error for NoStack {}

impl StackPool {
    /// A pool handing out stacks of `size` bytes made by `allocator`,
    /// keeping `limit` spare with their memory for good.
    pub fn new(size: usize, limit: usize, allocator: StackAllocator) -> Self {
        let carver = match allocator {
            // A size no carver can round is refused by `take`'s size check.
            StackAllocator::GuardPages => Carver::new(size.min(MAX_STACK_SIZE)).ok(),
            StackAllocator::Mappings => None,
        };
        StackPool {
            size,
            limit,
            allocator,
            carver,
            free: Vec::new(),
            released: Vec::new(),
        }
    }

    // ANCHOR: pool
    /// A stack for a new task: a pooled one if there is one (warm ones
    /// first), else a new one.
    pub fn take(&mut self) -> Result<TaskStack, NoStack> {
        match self.free.pop().or_else(|| self.released.pop()) {
            Some(stack) => Ok(stack),
            None => TaskStack::new(self.size, self.allocator, self.carver.as_mut()),
        }
    }

    /// Takes back the stack of a finished task.
    pub fn give_back(&mut self, stack: TaskStack) {
        self.free.push(stack);
    }

    /// Gives a batch of the stacks beyond `limit` back to the kernel;
    /// returns whether any are left to trim. The loop calls it when it is
    /// about to wait.
    pub fn trim(&mut self) -> bool {
        let keep = self.limit.max(self.free.len().saturating_sub(TRIM_BATCH));
        let mut surplus = self.free.split_off(keep.min(self.free.len()));
        match self.allocator {
            // Dropping a mapped stack unmaps it.
            StackAllocator::Mappings => drop(surplus),
            StackAllocator::GuardPages => {
                release_memory(&mut surplus);
                self.released.append(&mut surplus);
            }
        }
        self.free.len() > self.limit
    }
    // ANCHOR_END: pool

    /// The size of every stack this pool hands out.
    pub fn stack_size(&self) -> usize {
        self.size
    }

    /// Which allocator makes this pool's stacks.
    pub fn allocator(&self) -> StackAllocator {
        self.allocator
    }

    /// How many spare stacks are pooled with their memory (at most the
    /// pool's limit once trimmed).
    pub fn spare(&self) -> usize {
        self.free.len()
    }

    /// How many spare carved stacks were given back to the kernel (they
    /// keep only address space, and are reused after the [`spare`](Self::spare) ones).
    pub fn released(&self) -> usize {
        self.released.len()
    }
}

/// `MADV_DONTNEED` on the usable memory of carved `stacks`: their touched
/// pages go back to the kernel, their guard pages stay. Stacks that lie next
/// to each other in a region (a burst's stacks usually do) go in one call.
fn release_memory(stacks: &mut [TaskStack]) {
    stacks.sort_unstable_by_key(|stack| stack.bounds().1);
    let page = stack_guard::page_size();
    let mut run: Option<(usize, usize)> = None; // [from, to) of adjacent stacks
    for stack in stacks.iter() {
        let (top, limit) = stack.bounds();
        let (top, limit) = (top.get(), limit.get());
        run = match run {
            // The next slot starts where the last one ends: extend the run
            // (over that slot's guard page, which MADV_DONTNEED keeps).
            Some((from, to)) if to == limit => Some((from, top)),
            Some((from, to)) => {
                // SAFETY: these stacks are in the pool: no task runs on
                // them and nothing on them is alive.
                unsafe { carved_stacks::release_pages(from, to - from) };
                Some((limit + page, top))
            }
            None => Some((limit + page, top)),
        };
    }
    if let Some((from, to)) = run {
        // SAFETY: as above.
        unsafe { carved_stacks::release_pages(from, to - from) };
    }
}
