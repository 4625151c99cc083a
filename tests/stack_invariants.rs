//! Where task stacks go: counted while mapped, pooled when a task ends,
//! trimmed back to the pool's limit when the loop is idle. Three of the
//! mutation run's survivors (issue 17; `docs/src/mutation.md`).
//!
//! A file of its own because [`live_stacks`] counts every stack in the
//! process: loops of tests running beside these would move it. The tests of
//! this file take turns through [`ONE_AT_A_TIME`].

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::within;
use yieldloop::reactor::stacks::live_stacks;
use yieldloop::{gather, sleep, spawn, yield_now, Builder, Clock, EventLoop};

/// Held by every test here, so that none sees another's stacks.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// These loops finish in milliseconds.
const DEADLINE: Duration = Duration::from_secs(10);

/// How many stacks the loops below keep pooled.
const POOL_LIMIT: usize = 4;

/// A virtual-clock loop keeping at most [`POOL_LIMIT`] spare stacks.
fn small_pool_loop() -> EventLoop {
    Builder::new()
        .clock(Clock::new_virtual())
        .stack_pool_limit(POOL_LIMIT)
        .build()
        .unwrap()
}

/// `tasks` tasks alive at once (each yields before it ends), all finished
/// when this returns.
fn burst(event_loop: &mut EventLoop, tasks: usize) {
    event_loop
        .run_until_complete(move || {
            let handles: Vec<_> = (0..tasks)
                .map(|_| spawn("burst", || yield_now().unwrap()))
                .collect();
            gather(handles)
        })
        .unwrap();
}

/// Catches: `TaskStack`'s drop not decrementing the live-stack counter. The
/// counter is what refuses new stacks near `vm.max_map_count`, so a leak in
/// it would, in a long-running server, refuse every task in the end.
#[test]
fn after_the_loop_is_dropped_live_stacks_return_to_baseline() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    within("loops counted by live_stacks", DEADLINE, || {
        let baseline = live_stacks();
        let mut event_loop = small_pool_loop();
        burst(&mut event_loop, 20); // finished: their stacks are pooled
        drop(event_loop.spawn("sleeper", || sleep(Duration::from_secs(60))));
        event_loop.run_once().unwrap(); // suspended: its stack is in use
        assert!(live_stacks() > baseline, "stacks are counted while mapped");
        drop(event_loop);
        assert_eq!(live_stacks(), baseline, "every stack was unmapped");
    });
}

/// Catches: `StackPool::trim` not trimming. After a burst the pool holds a
/// stack for every task of it; the next time the loop is about to wait, it
/// must give the surplus back to the kernel.
#[test]
fn after_an_idle_wait_the_pool_is_at_or_under_its_limit() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    within("a loop trimming its pool", DEADLINE, || {
        let mut event_loop = small_pool_loop();
        burst(&mut event_loop, 50);
        assert!(
            event_loop.pooled_stacks() > POOL_LIMIT,
            "the burst's stacks are pooled until the loop is idle"
        );
        // An idle wait: nothing ready, one timer ahead.
        let _ = event_loop.call_later(Duration::from_secs(1), || ());
        event_loop.run_forever().unwrap();
        let pooled = event_loop.pooled_stacks();
        assert!(
            pooled <= POOL_LIMIT,
            "{pooled} stacks pooled after an idle wait, limit {POOL_LIMIT}"
        );
    });
}

/// Catches: `Core::step` dropping a finished task's stack instead of giving
/// it back to the pool. Then every task would cost an `mmap` and a `munmap`.
/// A burst larger than the pool's limit leaves stacks pooled, and the next
/// burst maps no new ones.
#[test]
fn a_burst_larger_than_the_pool_limit_reuses_its_stacks() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    within("two bursts of tasks", DEADLINE, || {
        let mut event_loop = small_pool_loop();
        burst(&mut event_loop, 20);
        let pooled = event_loop.pooled_stacks();
        assert!(pooled > 0, "no finished task's stack was pooled");
        let mapped = live_stacks();
        burst(&mut event_loop, 20);
        assert_eq!(live_stacks(), mapped, "the second burst mapped new stacks");
        assert_eq!(event_loop.pooled_stacks(), pooled);
    });
}

/// Resident memory of this process, from `/proc/self/status`, in bytes.
fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Catches: trimming a guard-page pool without giving the carved stacks'
/// pages back (`MADV_DONTNEED`). Carved stacks cannot be unmapped one by
/// one, so that call is the only thing that returns a burst's memory.
#[test]
fn trimming_carved_stacks_gives_their_memory_back() {
    if !yieldloop::reactor::carved_stacks::guard_pages_supported() {
        eprintln!("skipped: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+)");
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    within("a guard-page pool trimming a burst", DEADLINE, || {
        const TASKS: usize = 1_000;
        const TOUCHED: usize = 32 * 1024;
        let mut event_loop = Builder::new()
            .clock(Clock::new_virtual())
            .stack_allocator(yieldloop::reactor::stacks::StackAllocator::GuardPages)
            .stack_pool_limit(POOL_LIMIT)
            .build()
            .unwrap();
        // Each task dirties 32 KiB of its stack, alive at once: ~32 MB.
        event_loop
            .run_until_complete(|| {
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| {
                        spawn("toucher", || {
                            let block = [7u8; TOUCHED];
                            std::hint::black_box(&block);
                            yield_now().unwrap();
                        })
                    })
                    .collect();
                gather(handles)
            })
            .unwrap();
        let after_burst = resident_bytes();
        // Idle waits, each trimming a batch, until the pool is at its limit.
        for _ in 0..(TASKS / 100) {
            let _ = event_loop.call_later(Duration::from_millis(1), || ());
            event_loop.run_forever().unwrap();
        }
        assert!(event_loop.pooled_stacks() <= POOL_LIMIT);
        let after_trim = resident_bytes();
        let returned = after_burst.saturating_sub(after_trim);
        assert!(
            returned >= TASKS * TOUCHED / 2,
            "only {returned} bytes went back of the ~{} the burst touched",
            TASKS * TOUCHED
        );
    });
}
