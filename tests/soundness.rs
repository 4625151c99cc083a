//! Soundness and shutdown (issue 8): every panic from user code is contained,
//! the current-task pointer never dangles, the loop's drop never aborts or
//! hangs, the virtual clock never spins, and a stack overflow names its task.
//!
//! Scenarios whose old behaviour was a segfault, an abort or a hang run in a
//! child process: this test binary re-runs itself with `SOUNDNESS_SCENARIO`
//! naming the scenario (see [`child`] and [`scenario_entry`]), and the parent
//! asserts on the exit status and what it printed. Every scenario prints
//! `SCENARIO OK` when it gets to its end.
//!
//! Each finding of the issue maps to tests here; docs/src/guarantees.md lists
//! which test pins which promise.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use yieldloop::reactor::stacks::live_stacks;
use yieldloop::{
    now, sleep, spawn, yield_now, Builder, Clock, EventLoop, Future, Generator, Handle, TaskError,
    TcpListener, WaitError,
};

// ---------------------------------------------------------------------------
// Harness: watchdogs and child processes
// ---------------------------------------------------------------------------

/// Aborts the whole test process, naming `test`, if it is not disarmed
/// (dropped) within `seconds`: a hang fails fast instead of stalling CI.
struct Watchdog {
    done: Arc<AtomicBool>,
}

fn watchdog(test: &'static str, seconds: u64) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < deadline {
            if flag.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("watchdog: test {test} hung for {seconds} s");
        std::process::abort();
    });
    Watchdog { done }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// Runs `scenario` in a child process (this binary, re-run), killing it after
/// `seconds`. Returns its output; `status.code()` is `None` if a signal or
/// the timeout ended it.
fn child_with(scenario: &str, seconds: u64, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            "--exact",
            "scenario_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOUNDNESS_SCENARIO", scenario)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let process = command.spawn().expect("re-run the test binary");
    let id = process.id();
    // Collect the output on a thread (reading as it comes, so a chatty child
    // never blocks on a full pipe) and wait for it with a deadline.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(process.wait_with_output());
    });
    match receiver.recv_timeout(Duration::from_secs(seconds)) {
        Ok(output) => output.expect("the child's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("scenario {scenario} hung for {seconds} s (killed)");
        }
    }
}

fn child(scenario: &str) -> Output {
    child_with(scenario, 30, &[])
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts the child got to its end and exited 0.
fn assert_ok(scenario: &str, output: &Output) {
    let (stdout, stderr) = text(output);
    assert!(
        output.status.success() && stdout.contains("SCENARIO OK"),
        "scenario {scenario} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}

/// Not a test of its own: the child side of [`child`]. Without
/// `SOUNDNESS_SCENARIO` it does nothing.
#[test]
fn scenario_entry() {
    let Ok(name) = std::env::var("SOUNDNESS_SCENARIO") else {
        return;
    };
    match name.as_str() {
        "done_callback_panic_then_outside" => done_callback_panic_then_outside(),
        "nested_loop_done_callback_panic" => nested_loop_done_callback_panic(),
        "shutdown_done_callback_gets_cancelled" => shutdown_done_callback_gets_cancelled(),
        "shutdown_guard_sleeps" => shutdown_guard_sleeps(),
        "shutdown_guard_panics" => shutdown_guard_panics(),
        "shutdown_supervisor" => shutdown_supervisor(),
        "task_overflow" => task_overflow(),
        "generator_overflow" => generator_overflow(),
        "panic_with_backtrace_on_min_stack" => panic_with_backtrace_on_min_stack(),
        "other_segfault" => other_segfault(),
        "write_into_a_guard_page" => write_into_a_guard_page(),
        "shutdown_10000" => shutdown_10000(),
        "non_text_payload" => non_text_payload(),
        other => panic!("no scenario {other}"),
    }
    println!("SCENARIO OK");
    std::io::stdout().flush().unwrap();
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn virtual_loop() -> (EventLoop, Clock) {
    let clock = Clock::new_virtual();
    let event_loop = Builder::new().clock(clock.clone()).build().unwrap();
    (event_loop, clock)
}

/// A value whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the bomb's drop panicked");
    }
}

// ---------------------------------------------------------------------------
// Finding 1: the current-task pointer is restored even when a panic unwinds
// ---------------------------------------------------------------------------

fn done_callback_panic_then_outside() {
    let (mut event_loop, _clock) = virtual_loop();
    let result = event_loop.run_until_complete(|| {
        let child = spawn("child", || 1);
        child
            .future()
            .add_done_callback(|_| panic!("a done callback panicked"));
        sleep(ms(10)).unwrap();
        child.join()
    });
    assert_eq!(result, Ok(Ok(1)));
    // Outside any task again: nothing may claim to be one.
    assert!(now().is_err(), "now() outside a task must be NotInTask");
    assert!(Handle::current().is_err());
    assert!(
        sleep(ms(1)).is_err(),
        "sleep outside a task must fail, not switch stacks"
    );
    assert_eq!(
        event_loop.task_count(),
        0,
        "the finished task left the slab"
    );
}

#[test]
fn a_panicking_done_callback_leaves_no_current_task_behind() {
    let output = child("done_callback_panic_then_outside");
    assert_ok("done_callback_panic_then_outside", &output);
}

fn nested_loop_done_callback_panic() {
    let (mut outer, _clock) = virtual_loop();
    let seen = Rc::new(RefCell::new(Vec::new()));
    outer.call_soon(|| {
        let (mut inner, _clock) = virtual_loop();
        let _ = inner.run_until_complete(|| {
            let child = spawn("inner child", || ());
            child
                .future()
                .add_done_callback(|_| panic!("inner done callback"));
            sleep(ms(1)).unwrap();
        });
    });
    let record = seen.clone();
    outer.call_soon(move || record.borrow_mut().push(now().is_err()));
    outer.run_until_complete(|| sleep(ms(5)).unwrap()).unwrap();
    assert_eq!(*seen.borrow(), vec![true], "a callback is not a task");
}

#[test]
fn a_nested_loops_panicking_done_callback_leaves_no_current_task_behind() {
    let output = child("nested_loop_done_callback_panic");
    assert_ok("nested_loop_done_callback_panic", &output);
}

// ---------------------------------------------------------------------------
// Finding 2: panics that used to escape run_until_complete
// ---------------------------------------------------------------------------

#[test]
fn a_panicking_done_callback_on_a_join_handle_is_contained() {
    let _watchdog = watchdog(
        "a_panicking_done_callback_on_a_join_handle_is_contained",
        20,
    );
    let (mut event_loop, _clock) = virtual_loop();
    let result = event_loop.run_until_complete(|| {
        let child = spawn("child", || 5);
        child
            .future()
            .add_done_callback(|_| panic!("done callback"));
        let ran_after = Rc::new(Cell::new(false));
        let flag = ran_after.clone();
        child.future().add_done_callback(move |_| flag.set(true));
        let value = child.join();
        (value, ran_after.get())
    });
    assert_eq!(result, Ok((Ok(5), true)), "the next callback still ran");
}

#[test]
fn a_panic_payload_whose_drop_panics_is_contained_in_a_task() {
    let _watchdog = watchdog(
        "a_panic_payload_whose_drop_panics_is_contained_in_a_task",
        20,
    );
    let (mut event_loop, _clock) = virtual_loop();
    let result = event_loop
        .run_until_complete(|| spawn("bomber", || -> () { panic::panic_any(Bomb) }).join());
    match result {
        Ok(Err(TaskError::Panicked { task, message })) => {
            assert_eq!(task, "bomber");
            assert!(message.contains("non-text payload"), "{message}");
        }
        other => panic!("expected the bomber's panic, got {other:?}"),
    }
}

#[test]
fn a_panic_payload_whose_drop_panics_is_contained_in_a_callback() {
    let _watchdog = watchdog(
        "a_panic_payload_whose_drop_panics_is_contained_in_a_callback",
        20,
    );
    let (mut event_loop, _clock) = virtual_loop();
    event_loop.call_soon(|| panic::panic_any(Bomb));
    assert_eq!(
        event_loop.run_until_complete(|| sleep(ms(1)).unwrap()),
        Ok(())
    );
}

#[test]
fn a_detached_tasks_result_whose_drop_panics_is_contained() {
    let _watchdog = watchdog("a_detached_tasks_result_whose_drop_panics_is_contained", 20);
    let (mut event_loop, _clock) = virtual_loop();
    let result = event_loop.run_until_complete(|| {
        drop(spawn("detached", || Bomb));
        sleep(ms(1)).unwrap();
        7
    });
    assert_eq!(result, Ok(7));
    assert_eq!(event_loop.task_count(), 0);
}

// ---------------------------------------------------------------------------
// Finding 4 ("already borrowed"): no borrow is held while user code runs
// ---------------------------------------------------------------------------

#[test]
fn a_done_callback_may_use_its_own_future() {
    let future: Future<u32, WaitError> = Future::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (inner, record) = (future.clone(), seen.clone());
    future.add_done_callback(move |result| {
        record.borrow_mut().push(format!("{result:?}"));
        record
            .borrow_mut()
            .push(format!("done {}", inner.is_done()));
        record.borrow_mut().push(format!("wait {:?}", inner.wait()));
        let again = record.clone();
        inner.add_done_callback(move |r| again.borrow_mut().push(format!("nested {r:?}")));
    });
    future.set_result(3).unwrap();
    // A callback added after completion runs at once, also borrow-free.
    let (inner, record) = (future.clone(), seen.clone());
    future.add_done_callback(move |_| {
        record
            .borrow_mut()
            .push(format!("late {}", inner.is_done()))
    });
    assert_eq!(
        *seen.borrow(),
        vec![
            "Ok(3)",
            "done true",
            "wait Err(AlreadyTaken)",
            "nested Ok(3)",
            "late true"
        ]
    );
    assert_eq!(
        future.wait(),
        Ok(3),
        "the result went back after the callbacks"
    );
}

/// Calls back into the loop when dropped, and counts the drops that got to
/// their end.
struct Reschedules(Handle, Rc<Cell<u32>>);

impl Drop for Reschedules {
    fn drop(&mut self) {
        self.0.call_soon(|| {});
        let _ = self.0.call_later(ms(5), || {});
        self.1.set(self.1.get() + 1);
    }
}

#[test]
fn dropping_the_loop_drops_callbacks_with_nothing_borrowed() {
    let _watchdog = watchdog(
        "dropping_the_loop_drops_callbacks_with_nothing_borrowed",
        20,
    );
    let (event_loop, _clock) = virtual_loop();
    let finished = Rc::new(Cell::new(0));
    let guard = Reschedules(event_loop.handle(), finished.clone());
    event_loop.call_soon(move || drop(guard));
    let guard = Reschedules(event_loop.handle(), finished.clone());
    event_loop.call_later(ms(10), move || drop(guard));
    let bomb = Bomb;
    event_loop.call_soon(move || drop(bomb));
    drop(event_loop); // used to panic: "already borrowed"
    assert_eq!(
        finished.get(),
        2,
        "both drops could call back into the loop"
    );
}

// ---------------------------------------------------------------------------
// Finding 3: shutdown never aborts the process
// ---------------------------------------------------------------------------

fn shutdown_done_callback_gets_cancelled() {
    let (mut event_loop, _clock) = virtual_loop();
    let handle = event_loop.spawn("sleeper", || sleep(Duration::from_secs(3600)).unwrap());
    handle.future().add_done_callback(|result| {
        let _: &() = result.as_ref().expect("the sleeper's result");
    });
    event_loop
        .run_until_complete(|| sleep(ms(1)).unwrap())
        .unwrap();
    drop(event_loop);
    assert!(matches!(handle.join(), Err(TaskError::Cancelled { .. })));
}

#[test]
fn a_done_callback_that_panics_on_the_shutdowns_cancelled_is_contained() {
    let output = child("shutdown_done_callback_gets_cancelled");
    assert_ok("shutdown_done_callback_gets_cancelled", &output);
}

/// Sleeps and yields in its cleanup, unwrapping the results.
struct SleepsInCleanup(Rc<Cell<u32>>);

impl Drop for SleepsInCleanup {
    fn drop(&mut self) {
        sleep(ms(100)).expect("a cleanup sleep at shutdown returns at once");
        yield_now().expect("so does a cleanup yield");
        self.0.set(self.0.get() + 1);
    }
}

fn shutdown_guard_sleeps() {
    let (mut event_loop, _clock) = virtual_loop();
    let cleaned = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let guard = SleepsInCleanup(cleaned.clone());
        drop(event_loop.spawn("guarded", move || {
            let _guard = guard;
            sleep(Duration::from_secs(3600)).unwrap();
        }));
    }
    event_loop
        .run_until_complete(|| sleep(ms(1)).unwrap())
        .unwrap();
    drop(event_loop);
    assert_eq!(cleaned.get(), 3, "every guard finished its cleanup");
    // And the thread is clean afterwards: no task is current.
    assert!(now().is_err());
}

#[test]
fn a_guard_that_sleeps_in_its_cleanup_at_shutdown_is_contained() {
    let output = child("shutdown_guard_sleeps");
    assert_ok("shutdown_guard_sleeps", &output);
}

fn shutdown_guard_panics() {
    let (mut event_loop, _clock) = virtual_loop();
    drop(event_loop.spawn("bomb carrier", || {
        let _bomb = Bomb;
        sleep(Duration::from_secs(3600)).unwrap();
    }));
    event_loop
        .run_until_complete(|| sleep(ms(1)).unwrap())
        .unwrap();
    drop(event_loop);
}

/// The documented limit: a panic leaving a `Drop` during unwinding aborts
/// (Rust's rule, not ours). What we promise is a clear message naming the
/// task, not a bare "panic in a destructor during cleanup".
#[test]
fn a_guard_that_panics_during_shutdown_unwinding_is_named_before_rust_aborts() {
    let output = child("shutdown_guard_panics");
    let (_stdout, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("task \"bomb carrier\" panicked in a Drop guard while the loop's shutdown"),
        "stderr:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Finding 5: shutdown never hangs
// ---------------------------------------------------------------------------

fn shutdown_supervisor() {
    let (mut event_loop, _clock) = virtual_loop();
    let restarts = Rc::new(Cell::new(0u32));
    let count = restarts.clone();
    let handle = event_loop.spawn("supervisor", move || loop {
        // Restart whatever panicked: this also catches the shutdown's unwinding.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            sleep(Duration::from_secs(3600)).unwrap();
        }));
        count.set(count.get() + 1);
    });
    event_loop
        .run_until_complete(|| sleep(ms(1)).unwrap())
        .unwrap();
    drop(event_loop);
    assert!(
        matches!(handle.join(), Err(TaskError::Cancelled { .. })),
        "an abandoned task's handle says it was cancelled"
    );
    assert_eq!(
        restarts.get(),
        1,
        "stopped at its first wait after the unwinding"
    );
}

#[test]
fn a_supervisor_that_catches_the_shutdown_is_stopped_not_spun() {
    let output = child_with("shutdown_supervisor", 15, &[("RUST_LOG", "error")]);
    assert_ok("shutdown_supervisor", &output);
}

#[test]
fn a_nested_loops_callback_cannot_suspend_the_outer_task() {
    let _watchdog = watchdog("a_nested_loops_callback_cannot_suspend_the_outer_task", 20);
    let (mut outer, _clock) = virtual_loop();
    let results = outer
        .run_until_complete(|| {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let (mut inner, _clock) = virtual_loop();
            let record = seen.clone();
            inner.call_soon(move || {
                record.borrow_mut().push(sleep(ms(1)).is_err());
                record.borrow_mut().push(yield_now().is_err());
            });
            inner.run_until_complete(|| sleep(ms(2)).unwrap()).unwrap();
            let seen = seen.borrow().clone();
            seen
        })
        .unwrap();
    assert_eq!(
        results,
        vec![true, true],
        "waits in a callback are NotInTask"
    );
}

// ---------------------------------------------------------------------------
// Finding 6: the virtual clock never spins
// ---------------------------------------------------------------------------

#[test]
fn sleep_duration_max_on_the_virtual_clock_ends_at_the_end_of_time() {
    let _watchdog = watchdog(
        "sleep_duration_max_on_the_virtual_clock_ends_at_the_end_of_time",
        20,
    );
    let (mut event_loop, clock) = virtual_loop();
    event_loop
        .run_until_complete(|| sleep(Duration::MAX).unwrap())
        .unwrap();
    assert_eq!(clock.now(), Clock::END);
}

#[test]
fn call_later_beyond_two_to_the_64_nanoseconds_fires() {
    let _watchdog = watchdog("call_later_beyond_two_to_the_64_nanoseconds_fires", 20);
    let (mut event_loop, clock) = virtual_loop();
    let fired = Rc::new(Cell::new(false));
    let flag = fired.clone();
    let timer = event_loop.call_later(Duration::from_secs(u64::MAX / 1_000), move || {
        flag.set(true)
    });
    assert_eq!(timer.when(), Clock::END);
    // And `call_at` a time past the clock's end: clamped to it too.
    let at_fired = Rc::new(Cell::new(false));
    let flag = at_fired.clone();
    let timer = event_loop.call_at(Duration::MAX, move || flag.set(true));
    assert_eq!(timer.when(), Clock::END);
    event_loop.run_forever().unwrap();
    assert!(fired.get() && at_fired.get());
    assert_eq!(clock.now(), Clock::END);
}

/// What "virtual" means with I/O: while a task waits on I/O, the loop gives
/// the I/O `VIRTUAL_IO_GRACE` of real time before each jump. So a periodic
/// timer beside a task waiting for a connection ticks a few times per real
/// second of waiting, not as fast as the CPU allows (it used to spin: 100 %
/// CPU, hundreds of thousands of virtual seconds before the client came).
#[test]
fn a_virtual_clock_with_a_task_on_io_and_a_periodic_timer_does_not_spin() {
    let _watchdog = watchdog(
        "a_virtual_clock_with_a_task_on_io_and_a_periodic_timer_does_not_spin",
        30,
    );
    let (mut event_loop, _clock) = virtual_loop();
    let listener = TcpListener::bind("127.0.0.1", 0).unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = event_loop.spawn("acceptor", move || listener.accept().map(|_| ()));
    let ticks = Rc::new(Cell::new(0u64));
    let count = ticks.clone();
    drop(event_loop.spawn("ticker", move || loop {
        sleep(Duration::from_secs(1)).unwrap();
        count.set(count.get() + 1);
    }));
    // The client comes after 200 ms of real time.
    let client = std::thread::spawn(move || {
        std::thread::sleep(ms(200));
        std::net::TcpStream::connect(address).unwrap()
    });
    event_loop
        .run_until_complete(move || acceptor.join())
        .unwrap()
        .unwrap()
        .unwrap();
    drop(client.join().unwrap());
    let ticks = ticks.get();
    let grace = yieldloop::reactor::event_loop::VIRTUAL_IO_GRACE;
    assert!(
        (1..1000).contains(&ticks),
        "{ticks} ticks in 200 ms of waiting for I/O (grace {grace:?}): the loop spun"
    );
}

// ---------------------------------------------------------------------------
// Finding 7: a stack overflow names its task (or generator)
// ---------------------------------------------------------------------------

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth; 64];
    std::hint::black_box(&frame);
    if depth == 0 {
        0
    } else {
        recurse(depth - 1) + std::hint::black_box(frame[3])
    }
}

fn task_overflow() {
    let mut event_loop = Builder::new().stack_size(64 * 1024).build().unwrap();
    // Which allocator made the stack (`YIELDLOOP_STACKS` may choose).
    eprintln!("allocator: {:?}", event_loop.stack_allocator());
    let _ = event_loop.run_until_complete(|| spawn("deep diver", || recurse(u64::MAX)).join());
}

/// Runs an overflow scenario (with `env` added) and checks it died with
/// `message`, not with a bare SIGSEGV; returns its standard error.
fn assert_overflow_named(scenario: &str, env: &[(&str, &str)], message: &str) -> String {
    let output = child_with(scenario, 30, env);
    let (_stdout, stderr) = text(&output);
    assert!(stderr.contains(message), "stderr:\n{stderr}");
    assert!(!output.status.success());
    assert_ne!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "not a bare segfault"
    );
    stderr
}

const TASK_OVERFLOW_MESSAGE: &str =
    "task 'deep diver' overflowed its 64 KiB stack (raise it with Builder::stack_size)";

#[test]
fn a_task_that_overflows_its_stack_is_named() {
    assert_overflow_named("task_overflow", &[], TASK_OVERFLOW_MESSAGE);
}

/// Catches: the SIGSEGV handler not recognising a fault in the guard page
/// of a stack carved from a region (issue 15): a bare "Segmentation fault".
#[test]
fn a_task_that_overflows_a_carved_stack_is_named() {
    if !yieldloop::reactor::carved_stacks::guard_pages_supported() {
        eprintln!("skipped: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+)");
        return;
    }
    let env = [("YIELDLOOP_STACKS", "guard")];
    let stderr = assert_overflow_named("task_overflow", &env, TASK_OVERFLOW_MESSAGE);
    assert!(stderr.contains("allocator: GuardPages"), "{stderr}");
}

/// The forced fallback, one mapping per stack, keeps the same message.
#[test]
fn a_task_that_overflows_a_mapped_stack_is_named() {
    let env = [("YIELDLOOP_STACKS", "mmap")];
    let stderr = assert_overflow_named("task_overflow", &env, TASK_OVERFLOW_MESSAGE);
    assert!(stderr.contains("allocator: Mappings"), "{stderr}");
}

fn generator_overflow() {
    let mut generator: Generator<(), u64, u64> =
        Generator::with_stack_size(128 * 1024, |_co, ()| Ok(recurse(u64::MAX))).unwrap();
    let _ = generator.send(());
}

#[test]
fn a_generator_that_overflows_its_stack_is_named() {
    assert_overflow_named(
        "generator_overflow",
        &[],
        "generator overflowed its 128 KiB stack (raise it with Generator::with_stack_size)",
    );
}

fn panic_with_backtrace_on_min_stack() {
    let mut event_loop = Builder::new().stack_size(0).build().unwrap();
    let result = event_loop.run_until_complete(|| {
        spawn("small", || -> u32 { panic!("a panic with a backtrace") }).join()
    });
    assert!(
        matches!(result, Ok(Err(TaskError::Panicked { .. }))),
        "{result:?}"
    );
}

#[test]
fn a_panic_with_rust_backtrace_fits_the_minimum_stack() {
    let output = child_with(
        "panic_with_backtrace_on_min_stack",
        60,
        &[("RUST_BACKTRACE", "1")],
    );
    assert_ok("panic_with_backtrace_on_min_stack", &output);
}

fn other_segfault() {
    let _event_loop = EventLoop::new().unwrap(); // installs the handler
                                                 // SAFETY: none: this deliberately writes to an unmapped address, to
                                                 // check that a fault that is not a stack overflow still crashes.
    unsafe { std::ptr::write_volatile(std::ptr::dangling_mut::<u64>().wrapping_add(8), 1) };
}

#[test]
fn a_fault_that_is_not_an_overflow_still_crashes() {
    let output = child("other_segfault");
    let (_stdout, stderr) = text(&output);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("overflowed"), "stderr:\n{stderr}");
}

/// Carves a stack, writes at its top and just above its guard page (both
/// must work), then into the guard page, which must fault.
fn write_into_a_guard_page() {
    let mut carver = yieldloop::reactor::carved_stacks::Carver::new(64 * 1024).unwrap();
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
    if !yieldloop::reactor::carved_stacks::guard_pages_supported() {
        eprintln!("skipped: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+)");
        return;
    }
    let output = child("write_into_a_guard_page");
    let (_stdout, stderr) = text(&output);
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
// Finding 9: the smaller ones
// ---------------------------------------------------------------------------

fn non_text_payload() {
    // A subscriber of the whole (child) process: `tracing` caches which
    // call sites are enabled process-wide, so a thread-scoped one beside
    // other tests' threads would miss events now and then.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let (mut event_loop, _clock) = virtual_loop();
    event_loop.call_soon(|| panic::panic_any(42u32));
    event_loop
        .run_until_complete(|| sleep(ms(1)).unwrap())
        .unwrap();
}

#[test]
fn a_callback_panic_with_a_non_text_payload_is_logged_meaningfully() {
    let output = child("non_text_payload");
    assert_ok("non_text_payload", &output);
    let (_stdout, stderr) = text(&output);
    assert!(
        stderr.contains("a callback panicked: (a panic with a non-text payload)"),
        "{stderr}"
    );
}

#[test]
fn join_outside_a_task_names_join_handle_join() {
    let (event_loop, _clock) = virtual_loop();
    let handle = event_loop.spawn("never run", || ());
    match handle.join() {
        Err(TaskError::NotInTask(error)) => assert_eq!(error.what, "JoinHandle::join"),
        other => panic!("expected NotInTask, got {other:?}"),
    }
}

#[test]
fn an_absurd_stack_size_is_a_no_stack_error() {
    let mut event_loop = Builder::new().stack_size(usize::MAX).build().unwrap();
    match event_loop.run_until_complete(|| ()) {
        Err(TaskError::NoStack { reason, .. }) => {
            assert!(reason.to_string().contains("a stack may have"), "{reason}")
        }
        other => panic!("expected NoStack, got {other:?}"),
    }
}

#[test]
fn generator_stacks_count_against_the_mapping_limit() {
    // Other tests map stacks in parallel, so look for our own +1 several times.
    let generator: Generator<(), u32> = Generator::new(|co, ()| {
        co.yield_(1)?;
        Ok(())
    });
    let with = yieldloop::stack_guard::live_generator_stacks();
    assert!(with >= 1 && live_stacks() >= with);
    drop(generator);
}

// ---------------------------------------------------------------------------
// The whole shutdown: 10,000 suspended tasks with awkward guards
// ---------------------------------------------------------------------------

fn count_lines(path: &str) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

fn count_entries(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, |entries| entries.count())
}

/// Every awkward thing a guard can do at shutdown, except panicking (Rust
/// aborts on that; see above) and catching the unwinding (the task is then
/// abandoned and its stack leaked, by design; see the supervisor test).
struct Awkward {
    handle: Handle,
    cleaned: Rc<Cell<u32>>,
}

impl Drop for Awkward {
    fn drop(&mut self) {
        let _ = sleep(ms(5));
        let _ = yield_now();
        let _ = now();
        self.handle.call_soon(|| {});
        let _ = self.handle.call_later(ms(1), || {});
        // Nothing would ever run it: refused at once, as cancelled.
        let late = self.handle.spawn("spawned at shutdown", || ());
        assert!(matches!(late.join(), Err(TaskError::Cancelled { .. })));
        self.cleaned.set(self.cleaned.get() + 1);
    }
}

fn shutdown_10000() {
    const TASKS: u32 = 10_000;
    // 10,000 done callbacks panic below; keep the report short.
    panic::set_hook(Box::new(|_| {}));
    // Build and drop one loop first, so that one-time set-up (the signal
    // handler, the alternate stack, tracing's statics) is not counted.
    drop(EventLoop::new().unwrap());
    let fds = count_entries("/proc/self/fd");
    let maps = count_lines("/proc/self/maps");
    let threads = count_entries("/proc/self/task");
    let stacks = live_stacks();

    let mut event_loop = Builder::new().stack_size(64 * 1024).build().unwrap();
    let cleaned = Rc::new(Cell::new(0));
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let guard = Awkward {
            handle: event_loop.handle(),
            cleaned: cleaned.clone(),
        };
        // Some hold a socket, so descriptors must close too.
        let socket = (i % 100 == 0).then(|| TcpListener::bind("127.0.0.1", 0).unwrap());
        let handle = event_loop.spawn(format!("awkward {i}"), move || {
            let _guard = guard;
            match socket {
                Some(listener) => drop(listener.accept()),
                None => sleep(Duration::from_secs(3600)).unwrap(),
            }
        });
        // Done callbacks that panic on the shutdown's `Cancelled`.
        handle
            .future()
            .add_done_callback(|result| assert!(result.is_ok(), "cancelled"));
        handles.push(handle);
    }
    event_loop
        .run_until_complete(|| sleep(ms(1)).unwrap())
        .unwrap();
    assert_eq!(event_loop.task_count(), TASKS as usize);
    drop(event_loop);

    assert_eq!(cleaned.get(), TASKS, "every guard ran");
    let cancelled = handles
        .into_iter()
        .map(|handle| handle.join())
        .filter(|result| matches!(result, Err(TaskError::Cancelled { .. })))
        .count();
    assert_eq!(cancelled, TASKS as usize, "every handle says cancelled");
    assert_eq!(live_stacks(), stacks, "no stack left mapped");
    assert_eq!(
        count_entries("/proc/self/fd"),
        fds,
        "no descriptor left open"
    );
    assert_eq!(count_entries("/proc/self/task"), threads, "no thread left");
    let maps_after = count_lines("/proc/self/maps");
    // The allocator may keep an arena or two; stacks alone would be 20,000.
    assert!(
        maps_after <= maps + 8,
        "mappings: {maps} before, {maps_after} after"
    );
}

#[test]
fn a_shutdown_of_10000_awkward_tasks_finishes_and_leaves_nothing_behind() {
    let output = child_with("shutdown_10000", 120, &[("RUST_LOG", "off")]);
    assert_ok("shutdown_10000", &output);
}
