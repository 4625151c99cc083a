//! Task stacks carved from large regions with `MADV_GUARD_INSTALL` guard
//! pages (`src/reactor/carved_stacks.rs`, issue 15 §1). The overflow
//! message on both allocators is pinned in `tests/soundness.rs`
//! (`a_task_that_overflows_a_carved_stack_is_named`, `..._mapped_stack_...`),
//! the fallback's ceiling in `tests/reactor_api.rs`.
//!
//! Faults and aborts run in a child process: this test binary re-runs
//! itself with `GUARD_STACKS_SCENARIO` naming the scenario (see
//! [`scenario_entry`]), and the parent asserts on how it ended. Tests that
//! need guard pages print why they skip on a kernel without them (before
//! Linux 6.13).

mod common;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::time::Duration;

use yieldloop::reactor::carved_stacks::{guard_pages_supported, Carver};
use yieldloop::reactor::stacks::StackAllocator;
use yieldloop::{secs, sleep, spawn, Builder, Clock};

/// Every child here finishes in seconds; a hang is killed after this.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `scenario` in a child (this binary) with `env` added.
fn child(scenario: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            "--exact",
            "scenario_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GUARD_STACKS_SCENARIO", scenario)
        .env_remove("RUST_BACKTRACE")
        .env_remove("YIELDLOOP_STACKS");
    for (key, value) in env {
        command.env(key, value);
    }
    common::output_within(&mut command, scenario, CHILD_DEADLINE)
}

/// Whether guard pages are there; if not, says why the test does nothing.
fn guard_pages_or_skip(test: &str) -> bool {
    let supported = guard_pages_supported();
    if !supported {
        eprintln!("{test}: skipped, this kernel has no MADV_GUARD_INSTALL (Linux 6.13+)");
    }
    supported
}

/// Not a test of its own: the child side of [`child`]. Without
/// `GUARD_STACKS_SCENARIO` it does nothing.
#[test]
fn scenario_entry() {
    let Ok(name) = std::env::var("GUARD_STACKS_SCENARIO") else {
        return;
    };
    match name.as_str() {
        "write_into_a_guard_page" => write_into_a_guard_page(),
        other => panic!("no scenario {other}"),
    }
    println!("SCENARIO OK");
    std::io::stdout().flush().unwrap();
}

// ---------------------------------------------------------------------------
// Guard pages are guards
// ---------------------------------------------------------------------------

/// Carves a stack, writes at its top and just above its guard page (both
/// must work), then into the guard page, which must fault.
fn write_into_a_guard_page() {
    let mut carver = Carver::new(64 * 1024).unwrap();
    let stack = carver.carve().unwrap();
    let page = 4096;
    let top = stack.top().get() as *mut u8;
    let guard = stack.limit().get() as *mut u8;
    // SAFETY: the carved stack's usable memory is ours and unused: its last
    // byte and its first byte above the guard page.
    unsafe {
        top.sub(1).write_volatile(1);
        guard.add(page).write_volatile(1);
    }
    eprintln!("usable memory written; now the guard page");
    // SAFETY: none, deliberately: this must fault, killing the child.
    unsafe { guard.write_volatile(1) };
}

/// Catches: a region mapped without its guard markers (or with them on the
/// wrong page): the write would land in the neighbour's stack silently.
#[test]
fn a_write_into_a_carved_guard_page_faults() {
    if !guard_pages_or_skip("a_write_into_a_carved_guard_page_faults") {
        return;
    }
    let output = child("write_into_a_guard_page", &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("usable memory written"),
        "the usable part must be writable; stderr:\n{stderr}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "stderr:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Past the old ceiling
// ---------------------------------------------------------------------------

/// More sleeping tasks alive at once than per-stack mappings allow (about
/// 32,700 with `vm.max_map_count` = 65,530), all joined. The process's
/// mappings stay few: a region holds up to a thousand stacks.
#[test]
fn forty_thousand_sleeping_tasks_live_at_once_on_guard_pages() {
    if !guard_pages_or_skip("forty_thousand_sleeping_tasks_live_at_once_on_guard_pages") {
        return;
    }
    const TASKS: usize = 40_000;
    common::within("40,000 sleeping tasks", Duration::from_secs(120), || {
        let mut event_loop = Builder::new()
            .stack_allocator(StackAllocator::GuardPages)
            .stack_size(64 * 1024)
            .clock(Clock::new_virtual())
            .build()
            .unwrap();
        let (joined, mappings_while_alive) = event_loop
            .run_until_complete(|| {
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| spawn("sleeper", || sleep(secs(1.0))))
                    .collect();
                // Every task has started and sleeps: all 40,000 are alive.
                sleep(secs(0.5)).unwrap();
                let mappings = std::fs::read_to_string("/proc/self/maps")
                    .map_or(0, |maps| maps.lines().count());
                let joined = handles
                    .into_iter()
                    .map(|handle| handle.join())
                    .filter(|result| matches!(result, Ok(Ok(()))))
                    .count();
                (joined, mappings)
            })
            .unwrap();
        assert_eq!(joined, TASKS);
        assert!(
            mappings_while_alive < 10_000,
            "{mappings_while_alive} mappings for {TASKS} stacks"
        );
    });
}
