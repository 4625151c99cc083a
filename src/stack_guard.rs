//! Coroutine stacks, below every stage: how many are mapped, and the
//! stack-overflow message (a SIGSEGV handler that names the task whose stack
//! ran out). Introduced by lesson 06 (its chapter's section on stacks);
//! it sits beside `clock.rs` because lesson 02's generators use it too: all
//! coroutine stacks count against one limit and get the same message.
//!
//! Every task and every generator runs on a stack of its own with an
//! inaccessible guard page below it ([`crate::reactor::stacks`]). Recursing
//! too deep touches the guard page and the kernel sends SIGSEGV, which kills
//! the process with a bare "Segmentation fault" (exit 139): no hint of which
//! task, or that the fix is a bigger stack. Rust does better for threads
//! ("thread 'main' has overflowed its stack"), but only for the thread's own
//! stack, not for ours.
//!
//! So we install a SIGSEGV (and SIGBUS) handler of our own:
//!
//! ```text
//!   fault at address A ──▶ on_fault (on the alternate signal stack: the
//!                           task's own stack is the one that is full)
//!     A in the running task's guard page?      ──▶ "task 'NAME' overflowed its
//!     A in the running generator's guard page? ──▶  N KiB stack (...)", abort
//!     anything else ──▶ the handler that was there before (Rust's own),
//!                       or the default action: a real crash stays a crash
//! ```
//!
//! What a signal handler may do is strictly limited: it can interrupt any
//! code, even `malloc` holding its lock, so it must not allocate, lock, or
//! print through `std`'s buffered, locked stdout. It only reads a few plain
//! values (which stack is running, read from thread-locals the scheduler
//! keeps anyway), formats into a buffer on its own stack, calls write(2) and
//! abort(3), all async-signal-safe.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

use corosensei::stack::{DefaultStack, Stack, StackPointer};

/// Coroutine stacks currently mapped by this process, in every loop and
/// thread: tasks' and generators' alike. Stacks of their own mapping count
/// against `vm.max_map_count`; stacks carved from a region do not, but are
/// counted here too (see `reactor::stacks`).
static LIVE_STACKS: AtomicUsize = AtomicUsize::new(0);

/// Of [`LIVE_STACKS`], how many belong to generators (for error messages).
static LIVE_GENERATOR_STACKS: AtomicUsize = AtomicUsize::new(0);

/// How many coroutine stacks are mapped right now: tasks' (running,
/// suspended or pooled) and generators'.
pub fn live_stacks() -> usize {
    LIVE_STACKS.load(Ordering::Relaxed)
}

/// How many of [`live_stacks`] are generators'.
pub fn live_generator_stacks() -> usize {
    LIVE_GENERATOR_STACKS.load(Ordering::Relaxed)
}

/// Counts one more mapped stack; returns how many there were before.
pub(crate) fn count_mapped(generator: bool) -> usize {
    if generator {
        LIVE_GENERATOR_STACKS.fetch_add(1, Ordering::Relaxed);
    }
    LIVE_STACKS.fetch_add(1, Ordering::Relaxed)
}

/// Counts one stack fewer.
pub(crate) fn count_unmapped(generator: bool) {
    if generator {
        LIVE_GENERATOR_STACKS.fetch_sub(1, Ordering::Relaxed);
    }
    LIVE_STACKS.fetch_sub(1, Ordering::Relaxed);
}

/// A generator's stack: corosensei's `DefaultStack`, counted in
/// [`live_stacks`] while it is mapped.
pub struct GeneratorStack {
    stack: DefaultStack,
}

impl GeneratorStack {
    /// Usable bytes: from above the guard page up to the top.
    pub fn usable_size(&self) -> usize {
        self.stack.base().get() - self.stack.limit().get() - page_size()
    }

    /// Maps a stack of `size` bytes.
    pub fn new(size: usize) -> std::io::Result<Self> {
        let stack = DefaultStack::new(size)?;
        count_mapped(true);
        Ok(GeneratorStack { stack })
    }
}

impl Drop for GeneratorStack {
    fn drop(&mut self) {
        count_unmapped(true);
    }
}

// SAFETY: we hand corosensei exactly the bounds of the `DefaultStack` we own.
unsafe impl Stack for GeneratorStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.stack.base()
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.stack.limit()
    }
}

/// Where a coroutine's stack and its guard page are, and whose it is: plain
/// numbers and a pointer, so that the signal handler can read them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuardedStack {
    /// The lowest address of the mapping: corosensei's `Stack::limit`. The
    /// guard page is the first page from here; usable memory starts above.
    limit: usize,
    /// Usable bytes (what the user asked for, rounded to pages).
    size: usize,
    /// The task's name (UTF-8), or null for a generator. It points into the
    /// task's `Completion`, which lives as long as the task runs.
    name: *const u8,
    name_len: usize,
}

impl GuardedStack {
    /// The bounds of a stack whose mapping starts (guard page first) at
    /// `limit` and holds `size` usable bytes, not yet named.
    pub(crate) fn new(limit: usize, size: usize) -> Self {
        GuardedStack {
            limit,
            size,
            name: ptr::null(),
            name_len: 0,
        }
    }

    /// The same bounds, for the task called `name`. The caller keeps `name`
    /// alive while this is reachable from `CURRENT` (`task_body` does).
    pub(crate) fn named(self, name: &str) -> Self {
        GuardedStack {
            name: name.as_ptr(),
            name_len: name.len(),
            ..self
        }
    }

    /// Whether `address` lies in this stack's guard page.
    fn guard_holds(&self, address: usize) -> bool {
        address >= self.limit && address - self.limit < page_size()
    }
}

thread_local! {
    /// The generator running on this thread, innermost first; null if none.
    /// `const`-initialised and without a destructor, so reading it from the
    /// signal handler touches no lazy initialisation.
    static GENERATOR: Cell<*const GuardedStack> = const { Cell::new(ptr::null()) };

    /// Whether this thread has an alternate signal stack we know of.
    static ALT_STACK_READY: Cell<bool> = const { Cell::new(false) };
}

/// Marks a generator as running on this thread until dropped (the
/// generator's `resume` holds one across corosensei's `resume`).
pub(crate) struct RunningGenerator {
    outer: *const GuardedStack,
}

impl RunningGenerator {
    /// `stack` must stay put until the returned guard is dropped.
    pub(crate) fn enter(stack: &GuardedStack) -> Self {
        let outer = GENERATOR.with(|cell| cell.replace(stack));
        RunningGenerator { outer }
    }
}

impl Drop for RunningGenerator {
    fn drop(&mut self) {
        GENERATOR.with(|cell| cell.set(self.outer));
    }
}

/// How the handler finds the running task's stack: the reactor reads its
/// thread-local `CURRENT` (this module sits below the reactor and cannot
/// name it). Must be async-signal-safe: it reads a thread-local, no more.
pub(crate) type TaskLookup = fn() -> *const GuardedStack;

/// The reactor's [`TaskLookup`] as a number (0: none yet), so the handler
/// can read it without a lock.
static TASK_LOOKUP: AtomicUsize = AtomicUsize::new(0);

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);

/// The size of a memory page (and of a guard page).
pub(crate) fn page_size() -> usize {
    PAGE_SIZE.load(Ordering::Relaxed)
}
/// The handlers that were installed before ours, for faults that are not
/// stack overflows of our coroutines.
static PREVIOUS_SEGV: OnceLock<libc::sigaction> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Bytes of alternate signal stack we map for a thread that has none. The
/// handler needs little: a 512-byte buffer and a few calls.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Installs the handler (once per process) and makes sure this thread has
/// an alternate signal stack to run it on (once per thread). Called when a
/// loop is built (with the reactor's [`TaskLookup`]) and when a generator is
/// made (with `None`).
pub(crate) fn install(task_lookup: Option<TaskLookup>) {
    if let Some(lookup) = task_lookup {
        TASK_LOOKUP.store(lookup as *const () as usize, Ordering::Relaxed);
    }
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page) {
            PAGE_SIZE.store(page, Ordering::Relaxed);
        }
        install_for(libc::SIGSEGV, &PREVIOUS_SEGV);
        install_for(libc::SIGBUS, &PREVIOUS_BUS);
    });
    if !ALT_STACK_READY.with(Cell::get) {
        ensure_alt_stack();
        ALT_STACK_READY.with(|ready| ready.set(true));
    }
}

fn install_for(signal: libc::c_int, previous: &OnceLock<libc::sigaction>) {
    // SAFETY: `sigaction` is plain data; all-zero is a valid value for it.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: reading the current action into a valid, writable struct.
    if unsafe { libc::sigaction(signal, ptr::null(), &mut old) } != 0 {
        return;
    }
    // Record the old handler *before* ours can run and look for it.
    let _ = previous.set(old);
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_fault as *const () as usize;
    // SA_ONSTACK: run on the alternate stack (the faulting stack is full).
    // SA_SIGINFO: we need the fault address. SA_NODEFER is not set, so a
    // fault inside the handler is not re-entered but kills the process.
    action.sa_flags = libc::SA_ONSTACK | libc::SA_SIGINFO;
    // SAFETY: `sa_mask` is a valid sigset_t inside `action`.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `on_fault` has the signature SA_SIGINFO requires and only does
    // async-signal-safe things.
    unsafe { libc::sigaction(signal, &action, ptr::null_mut()) };
}

/// Gives this thread an alternate signal stack if it has none. Threads that
/// `std` starts (and the main thread) already have one; we add one only for
/// threads started some other way. That mapping lives as long as the thread
/// (we cannot know when a foreign thread ends), which is one mapping per such
/// thread at most.
fn ensure_alt_stack() {
    // SAFETY: `stack_t` is plain data; all-zero is valid.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: reading this thread's alternate stack into a valid struct.
    if unsafe { libc::sigaltstack(ptr::null(), &mut current) } != 0 {
        return;
    }
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return; // it has one already
    }
    // SAFETY: a fresh anonymous private mapping, no address hint.
    let memory = unsafe {
        libc::mmap(
            ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if memory == libc::MAP_FAILED {
        return;
    }
    let stack = libc::stack_t {
        ss_sp: memory,
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: `stack` describes the mapping we just made, which we never
    // unmap.
    unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
}

/// Which of our stacks holds `address` in its guard page: the running
/// generator's, else the running task's.
fn overflowed(address: usize) -> Option<(&'static str, GuardedStack)> {
    let generator = GENERATOR.with(Cell::get);
    // SAFETY: a non-null `GENERATOR` points at the running generator's
    // `GuardedStack`, which outlives its `RunningGenerator` guard.
    if let Some(stack) = unsafe { generator.as_ref() } {
        if stack.guard_holds(address) {
            return Some(("generator", *stack));
        }
    }
    let lookup = TASK_LOOKUP.load(Ordering::Relaxed);
    if lookup == 0 {
        return None;
    }
    // SAFETY: a non-zero `TASK_LOOKUP` was stored from a `TaskLookup` in
    // `install`; function pointers and `usize` have the same size.
    let lookup: TaskLookup = unsafe { std::mem::transmute::<usize, TaskLookup>(lookup) };
    // SAFETY: the lookup returns null or the running task's `GuardedStack`,
    // which lives on the top of its stack, far from the guard page.
    let stack = *unsafe { lookup().as_ref() }?;
    stack.guard_holds(address).then_some(("task", stack))
}

/// The signal handler. Async-signal-safe: no allocation, no locks.
extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers, and
    // si_addr is the faulting address for SIGSEGV and SIGBUS.
    let address = unsafe { (*info).si_addr() } as usize;
    if let Some((kind, stack)) = overflowed(address) {
        let mut message = Message::default();
        message.push(kind.as_bytes());
        if !stack.name.is_null() {
            message.push(b" '");
            // SAFETY: `name`/`name_len` describe the task's name, alive while
            // the task runs (see `GuardedStack::named`).
            message.push(unsafe { std::slice::from_raw_parts(stack.name, stack.name_len) });
            message.push(b"'");
        }
        message.push(b" overflowed its ");
        message.push_number(stack.size / 1024);
        message.push(if kind == "task" {
            b" KiB stack (raise it with Builder::stack_size)\n".as_slice()
        } else {
            b" KiB stack (raise it with Generator::with_stack_size)\n".as_slice()
        });
        // SAFETY: write(2) and abort(3) are async-signal-safe; the buffer is
        // valid for `len` bytes.
        unsafe {
            libc::write(
                libc::STDERR_FILENO,
                message.bytes.as_ptr().cast(),
                message.len,
            );
            libc::abort();
        }
    }
    let previous = if signal == libc::SIGBUS {
        &PREVIOUS_BUS
    } else {
        &PREVIOUS_SEGV
    };
    match previous.get() {
        Some(previous)
            if previous.sa_flags & libc::SA_SIGINFO != 0
                && previous.sa_sigaction != libc::SIG_DFL
                && previous.sa_sigaction != libc::SIG_IGN =>
        {
            // SAFETY: an SA_SIGINFO handler has exactly this signature; we
            // pass on what the kernel gave us.
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(previous.sa_sigaction) };
            handler(signal, info, context);
        }
        previous => {
            // Put back what was there (the default action if we know of
            // nothing) and return: the faulting instruction runs again and
            // gets the old treatment, normally a crash with SIGSEGV.
            // SAFETY: as in `install_for`; `sigaction` is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                let action = previous.unwrap_or(&action);
                libc::sigaction(signal, action, ptr::null_mut());
            }
        }
    }
}

/// A line of text built on the handler's stack, without allocating.
struct Message {
    bytes: [u8; 512],
    len: usize,
}

impl Default for Message {
    fn default() -> Self {
        Message {
            bytes: [0; 512],
            len: 0,
        }
    }
}

impl Message {
    /// Appends what fits.
    fn push(&mut self, text: &[u8]) {
        let room = self.bytes.len() - self.len;
        let take = text.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&text[..take]);
        self.len += take;
    }

    /// Appends `number` in decimal.
    fn push_number(&mut self, mut number: usize) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (number % 10) as u8;
            number /= 10;
            if number == 0 {
                break;
            }
        }
        self.push(&digits[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_built_without_allocating() {
        let mut message = Message::default();
        message.push(b"task 'a' overflowed its ");
        message.push_number(16);
        message.push_number(0);
        assert_eq!(
            &message.bytes[..message.len],
            b"task 'a' overflowed its 160"
        );
        let mut full = Message::default();
        full.push(&[b'x'; 600]);
        assert_eq!(full.len, 512);
    }
}
