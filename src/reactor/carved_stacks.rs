//! Task stacks carved from large regions, their guard pages installed with
//! `madvise(MADV_GUARD_INSTALL)` (Linux 6.13 and later). Introduced by
//! lesson 06 (its chapter's section on stacks and `vm.max_map_count`).
//!
//! A guarded stack used to be two memory mappings (the stack, and a guard
//! page with other protections), and Linux allows `vm.max_map_count`
//! mappings per process, so a process held at most ~32,700 stacks
//! ([`super::stacks`] tells that story). Linux 6.13 added *guard markers*:
//! `MADV_GUARD_INSTALL` marks pages of an ordinary read-write mapping in its
//! page tables so that touching them faults, exactly like a `PROT_NONE`
//! guard page, but without splitting the mapping. So one `mmap` can hold a
//! thousand stacks, each with its own guard page:
//!
//! ```text
//!   one region (one mapping, one mmap call)
//!   ┌───────┬──────────────┬───────┬──────────────┬───────┬──────────── …
//!   │ guard │   stack 0    │ guard │   stack 1    │ guard │   stack 2
//!   └───────┴──────────────┴───────┴──────────────┴───────┴──────────── …
//!   low addresses      each slot: one guard page + the usable stack ──▶ high
//! ```
//!
//! A slot looks exactly like a stack of its own mapping (guard page at its
//! lowest address, usable memory above), so corosensei and the
//! stack-overflow handler of [`crate::stack_guard`] cannot tell the two
//! apart. What changes is the cost: one `mmap` and one `madvise` call for a
//! whole region instead of an `mmap` and an `mprotect` per stack (and a
//! `munmap` later), and one entry in `/proc/self/maps` for all of them.
//!
//! # Invariants (what makes this sound)
//!
//! * **A region outlives every stack carved from it.** Each [`CarvedStack`]
//!   holds an `Rc` of its [`Region`]; the region unmaps itself only when the
//!   last of them is dropped. A stack that is leaked (`mem::forget`, as the
//!   loop does with a task abandoned at shutdown) leaks its region's `Rc`
//!   too, so that memory is never unmapped under the values left on it.
//! * **A stack is never handed out twice.** A [`CarvedStack`] is the only
//!   token for its slot: [`Carver::carve`] makes one per slot (`next_slot`
//!   only grows, and a region is never carved after it is full), the type is
//!   not `Clone`, and the pool moves it between its free list and a
//!   coroutine. Who holds the value owns the slot.
//! * **Every slot's guard page is installed before its stack is handed
//!   out**: `Region::map` installs all of a region's guards before it
//!   returns, and fails (unmapping the region) if any cannot be installed.
//!   `MADV_DONTNEED`, which gives a stack's pages back, keeps guard markers.

use std::io;
use std::num::NonZeroUsize;
use std::ptr;
use std::rc::Rc;
use std::sync::OnceLock;

use crate::stack_guard;

/// `madvise` advice: turn these pages into guard pages (page-table markers
/// that fault on any access) without changing the mapping. Linux 6.13's
/// value; the `libc` crate does not have it yet.
pub const MADV_GUARD_INSTALL: libc::c_int = 102;

/// `process_madvise`'s "this process" (`PIDFD_SELF`, Linux 6.15): lets one
/// system call install many guards, and cannot name another process (a
/// cached pidfd would name the parent after a `fork`).
#[cfg(target_os = "linux")]
const PIDFD_SELF: libc::c_int = -10000;

/// The most ranges one `process_madvise` call takes (`UIO_MAXIOV`).
#[cfg(target_os = "linux")]
const MAX_RANGES_PER_CALL: usize = 1024;

/// How many stacks the first region of a pool holds; each new region holds
/// twice as many as the last, up to [`MAX_REGION_SLOTS`] and
/// [`MAX_REGION_BYTES`]. A lesson with three tasks maps 16 slots; a burst of
/// a million grows to regions of a thousand.
const FIRST_REGION_SLOTS: usize = 16;
/// At most this many stacks per region: one `process_madvise` call's worth
/// of guard pages.
const MAX_REGION_SLOTS: usize = 1024;
/// At most this much address space per region (256 MiB: 1,008 slots of the
/// default 256 KiB stack). Address space is cheap (47 bits is 128 TiB) but
/// a failed huge `mmap` should fail on the stack size, not the region.
const MAX_REGION_BYTES: usize = 256 << 20;

// ANCHOR: probe
/// Whether this kernel can install guard markers: tried once per process on
/// a scratch page, then remembered. `false` before Linux 6.13 (the kernel
/// answers `EINVAL`), on other systems, and where a sandbox forbids it.
pub fn guard_pages_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let page = stack_guard::page_size();
        match Region::map_pages(page) {
            // SAFETY: the first page of the scratch region we own; nothing
            // else can be using it. It is unmapped when `region` is dropped.
            Ok(region) => unsafe { guard(region.start, page) }.is_ok(),
            Err(_) => false,
        }
    })
}
// ANCHOR_END: probe

/// One `mmap` region that stacks are carved from. Unmapped when dropped,
/// which happens when the pool and every stack carved from it are gone.
#[derive(Debug)]
pub struct Region {
    /// Its lowest address (page-aligned).
    start: usize,
    /// Its length in bytes (whole pages).
    len: usize,
}

impl Region {
    /// Maps `len` bytes (whole pages) of read-write memory, no guards yet.
    /// `MAP_NORESERVE`: only touched pages cost memory, and the kernel does
    /// not count the untouched rest against its overcommit budget.
    fn map_pages(len: usize) -> io::Result<Region> {
        // SAFETY: a fresh anonymous private mapping at an address of the
        // kernel's choice: it cannot overlap anything we use.
        let memory = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if memory == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            start: memory as usize,
            len,
        })
    }

    // ANCHOR: region
    /// Maps a region of `slots` slots of `slot_len` bytes each and installs
    /// the guard page at the bottom of every slot.
    fn map(slots: usize, slot_len: usize) -> io::Result<Region> {
        let len = slots
            .checked_mul(slot_len)
            .ok_or_else(|| io::Error::other("region size overflows"))?;
        let region = Region::map_pages(len)?;
        let guards: Vec<usize> = (0..slots)
            .map(|slot| region.start + slot * slot_len)
            .collect();
        // SAFETY: every address is the first page of a slot of the region we
        // just mapped and own; no stack has been carved from it yet. On
        // failure `region` is dropped (unmapped) with it.
        unsafe { guard_all(&guards) }?;
        Ok(region)
    }
    // ANCHOR_END: region
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: we own this mapping, and every stack carved from it holds
        // an `Rc` of this region, so none is left when it is dropped.
        let result = unsafe { libc::munmap(self.start as *mut libc::c_void, self.len) };
        debug_assert_eq!(result, 0, "munmap of a stack region failed");
    }
}

/// Installs a guard marker on `len` bytes at `address`.
///
/// # Safety
///
/// The range must be pages of a mapping the caller owns and that no live
/// value uses: from now on, touching them faults.
unsafe fn guard(address: usize, len: usize) -> io::Result<()> {
    // SAFETY: passed on to our caller (this function's contract); madvise
    // itself only changes the page tables of that range.
    if unsafe { libc::madvise(address as *mut libc::c_void, len, MADV_GUARD_INSTALL) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Installs a guard page at each of `pages`: batched, a thousand per system
/// call, where the kernel has `process_madvise` on `PIDFD_SELF` (6.15), one
/// `madvise` each otherwise (6.13, 6.14).
///
/// # Safety
///
/// As [`guard`], for one page at each address.
unsafe fn guard_all(pages: &[usize]) -> io::Result<()> {
    let page = stack_guard::page_size();
    #[cfg(target_os = "linux")]
    {
        let mut batched = true;
        for chunk in pages.chunks(MAX_RANGES_PER_CALL) {
            let ranges: Vec<libc::iovec> = chunk
                .iter()
                .map(|&address| libc::iovec {
                    iov_base: address as *mut libc::c_void,
                    iov_len: page,
                })
                .collect();
            // SAFETY: `ranges` is a valid array of `ranges.len()` iovecs
            // describing pages the caller owns (our contract); PIDFD_SELF
            // names this process and no other.
            let done = unsafe {
                libc::syscall(
                    libc::SYS_process_madvise,
                    PIDFD_SELF,
                    ranges.as_ptr(),
                    ranges.len(),
                    MADV_GUARD_INSTALL,
                    0u32,
                )
            };
            if done != (chunk.len() * page) as libc::c_long {
                batched = false; // an older kernel: do it one page at a time
                break;
            }
        }
        if batched {
            return Ok(());
        }
    }
    for &address in pages {
        // SAFETY: our contract, one page at a time (installing a guard
        // twice, after a partial batch, is harmless).
        unsafe { guard(address, page) }?;
    }
    Ok(())
}

/// Gives the pages of `[address, address + len)` back to the kernel: they
/// read as zeros when next touched. Guard markers in the range stay.
///
/// # Safety
///
/// No live value may be stored in the range.
pub(crate) unsafe fn release_pages(address: usize, len: usize) {
    // SAFETY: our contract: nothing in the range is in use, so losing its
    // contents is fine. A failure only means the memory stays resident.
    unsafe { libc::madvise(address as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// One task stack carved from a [`Region`]: the slot from `limit` (its
/// guard page) up to `limit + slot_len` (the top, where the task starts).
#[derive(Debug)]
pub struct CarvedStack {
    /// Keeps the region mapped while this stack exists (first invariant).
    _region: Rc<Region>,
    /// The lowest address of the slot: its guard page (corosensei's `limit`).
    limit: NonZeroUsize,
    /// The highest address (exclusive): where the task's stack starts.
    top: NonZeroUsize,
}

impl CarvedStack {
    /// The lowest address of the slot, guard page included.
    pub fn limit(&self) -> NonZeroUsize {
        self.limit
    }

    /// The highest address (exclusive): the top of the stack.
    pub fn top(&self) -> NonZeroUsize {
        self.top
    }
}

/// Carves stacks of one size out of regions it maps as it needs them.
#[derive(Debug)]
pub struct Carver {
    /// Guard page plus usable bytes (a whole number of pages).
    slot_len: usize,
    /// The region being carved, if it has slots left.
    current: Option<Rc<Region>>,
    /// The next uncarved slot of `current`.
    next_slot: usize,
    /// How many slots `current` has.
    slots: usize,
    /// How many slots the next region gets.
    next_region_slots: usize,
}

impl Carver {
    /// A carver for stacks of `usable` bytes (rounded up to whole pages).
    pub fn new(usable: usize) -> io::Result<Carver> {
        let page = stack_guard::page_size();
        let slot_len = usable
            .checked_next_multiple_of(page)
            .and_then(|usable| usable.checked_add(page))
            .ok_or_else(|| io::Error::other("stack size overflows"))?;
        Ok(Carver {
            slot_len,
            current: None,
            next_slot: 0,
            slots: 0,
            next_region_slots: FIRST_REGION_SLOTS,
        })
    }

    // ANCHOR: carve
    /// A fresh stack: the next slot of the current region, or the first of
    /// a new region when that one is full.
    pub fn carve(&mut self) -> io::Result<CarvedStack> {
        let region = match &self.current {
            Some(region) if self.next_slot < self.slots => region.clone(),
            _ => {
                let slots = self
                    .next_region_slots
                    .min((MAX_REGION_BYTES / self.slot_len).max(1));
                let region = Rc::new(Region::map(slots, self.slot_len)?);
                self.next_region_slots = (self.next_region_slots * 2).min(MAX_REGION_SLOTS);
                self.current = Some(region.clone());
                self.next_slot = 0;
                self.slots = slots;
                region
            }
        };
        let limit = region.start + self.next_slot * self.slot_len;
        self.next_slot += 1; // second invariant: this slot is never carved again
                             // A mapping is never at address 0, and the slot lies inside it.
        let (Some(limit), Some(top)) = (
            NonZeroUsize::new(limit),
            NonZeroUsize::new(limit + self.slot_len),
        ) else {
            return Err(io::Error::other("a region was mapped at address 0"));
        };
        Ok(CarvedStack {
            _region: region,
            limit,
            top,
        })
    }
    // ANCHOR_END: carve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_of_a_region_are_adjacent_and_never_repeat() {
        if !guard_pages_supported() {
            eprintln!("skipped: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+)");
            return;
        }
        let page = stack_guard::page_size();
        let mut carver = Carver::new(16 * 1024).unwrap();
        let stacks: Vec<CarvedStack> = (0..40).map(|_| carver.carve().unwrap()).collect();
        let mut limits: Vec<usize> = stacks.iter().map(|s| s.limit().get()).collect();
        // Within the first region, each slot starts where the last one ends.
        assert_eq!(stacks[1].limit(), stacks[0].top());
        assert_eq!(
            stacks[0].top().get() - stacks[0].limit().get(),
            16 * 1024 + page
        );
        limits.sort_unstable();
        limits.dedup();
        assert_eq!(limits.len(), 40, "a slot was handed out twice");
    }
}
