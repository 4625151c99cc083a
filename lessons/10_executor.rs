//! # Lesson 10 — Blocking code and other threads
//!
//! Everything so far ran on one thread, and that thread must never block:
//! while one task sits in a blocking call, no other task runs, no timer
//! fires, no socket is served. But the world is full of blocking calls:
//! `std::thread::sleep`, `getaddrinfo`, reading a file, a library that
//! knows nothing of our loop. The answer, here as in asyncio, is to run
//! them on *other threads* and let the task wait for the result the way it
//! waits for a socket: `run_in_executor`. Read `src/executor/` beside this:
//! `run.rs` (the round trip), `pool.rs` (the threads), `threadsafe.rs`
//! (the one `Send` door into the loop), `blocking.rs` and `process.rs`.
//!
//! Run it (real time only: threads and child processes do not run on the
//! virtual clock; about 4 s):
//!
//! ```text
//! cargo run --bin 10-executor
//! ```
//!
//! Look for, part by part: `b enter` only at 1.000, after `a` blocked the
//! loop for a whole second, and the step timer naming `a` (part 1); the
//! same pair with the sleep in the executor, interleaved, done in 1 s
//! (part 2, then both drawn on timelines); a ticker ticking while a slow
//! lookup runs on a thread (part 3); a child process upper-casing what we
//! send it (part 4); ten files written at once while the ticker ticks and
//! no loop step takes long (part 5).
//!
//! Next: a debug mode (asyncio's `PYTHONASYNCIODEBUG`) that uses the step
//! timer to name the task whose step blocked the loop.

use std::error::Error;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use tracing::info;
use yieldloop::course::cli::ObserveArgs;
use yieldloop::course::timeline::{side_by_side, Timeline};
use yieldloop::course::trace;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{
    gather, now, read_file, resolve, run_in_executor, secs, sleep, spawn, write_file, Builder,
    Clock, Command, Handle, JoinHandle, Stdio, SuspendError,
};

/// What the lesson's functions return.
type Result<T = (), E = Box<dyn Error>> = std::result::Result<T, E>;

/// The slides' `b`: two half-second sleeps on the loop.
fn b() -> Result {
    info!("b enter");
    sleep(secs(0.5))?;
    info!("b middle");
    sleep(secs(0.5))?;
    info!("b exit");
    Ok(())
}

/// `asyncio.gather(a(), b())`: waits for both, fails if either failed.
fn both(a: JoinHandle<Result>, b: JoinHandle<Result>) -> Result {
    for result in gather(vec![a, b]) {
        result??;
    }
    Ok(())
}

/// The longest loop step measured since the last reset, for the trace.
fn longest_step(handle: &Handle) -> String {
    let times = handle.step_times();
    match times.longest_task {
        Some(task) if times.longest >= Duration::from_millis(100) => format!(
            "the longest loop step: {:.1} s, in task {task}: the loop was blocked",
            times.longest.as_secs_f64()
        ),
        _ => "no loop step took 0.1 s or more".to_string(),
    }
}

/// Parts 1 and 2: the slide's `gather(a(), b())`; says what the step timer
/// saw, and returns the part drawn as a timeline.
fn a_and_b(title: &str, a: fn() -> Result, handle: &Handle, timeline: &Timeline) -> Result<String> {
    info!("{title}");
    timeline.restart(now()?);
    handle.reset_step_times();
    both(spawn("a", a), spawn("b", b))?;
    let picture = timeline.render(Duration::from_millis(100));
    info!("{}", longest_step(handle));
    Ok(picture)
}

// ANCHOR: blocked
/// Part 1, the slide's `time.sleep(1)` inside a coroutine: `a` blocks the
/// loop's only thread, so `b` cannot even start until `a` is done.
fn a_blocking() -> Result {
    info!("a enter");
    thread::sleep(Duration::from_secs(1)); // blocks the thread: the whole loop
    info!("a exit");
    Ok(())
}
// ANCHOR_END: blocked

// ANCHOR: executor
/// Part 2, `await loop.run_in_executor(None, time.sleep, 1)`: the same
/// sleep on a pool thread; only `a` waits for it.
fn a_in_executor() -> Result {
    info!("a enter");
    run_in_executor(|| thread::sleep(Duration::from_secs(1)))?;
    info!("a exit");
    Ok(())
}
// ANCHOR_END: executor

/// Ticks every `every` until it has ticked `times` times.
fn ticker(times: u32, every: Duration) -> Result<(), SuspendError> {
    for n in 1..=times {
        sleep(every)?;
        info!("tick {n}");
    }
    Ok(())
}

// ANCHOR: dns
/// Part 3, the slide's `run_in_executor(None, synchronous_dns, host, 80)`.
/// `resolve` does it for us; a real resolver can take seconds, ours answers
/// `localhost` at once, so the second lookup plays a slow DNS server.
fn dns() -> Result {
    info!("part 3: DNS in the executor, while a ticker ticks");
    let ticks = spawn("ticker", || ticker(4, secs(0.1)));
    let addrs = resolve("localhost", 8080)?;
    let first = addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .map_or_else(|| "nothing".to_string(), SocketAddr::to_string);
    info!("resolved localhost:8080 → {first}");
    let slow = run_in_executor(|| {
        thread::sleep(Duration::from_millis(350)); // a slow DNS server
        ("localhost", 8080)
            .to_socket_addrs()
            .map(|found| found.count())
    })??;
    info!("slow lookup done: {slow} address(es); the ticker never stopped");
    ticks.join()??;
    Ok(())
}
// ANCHOR_END: dns

// ANCHOR: process
/// Part 4, `create_subprocess_shell` and `communicate`: a child that
/// upper-cases its input; its pipes are waited on like sockets.
fn process() -> Result {
    info!("part 4: a child process");
    let mut child = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let output = child.communicate(b"hello from the loop")?;
    info!("tr said: {}", String::from_utf8_lossy(&output.stdout));
    info!("tr's return code: {:?}", child.returncode());
    let mut failing = Command::shell("exit 3").spawn()?;
    failing.wait()?;
    info!("`exit 3`'s return code: {:?}", failing.returncode());
    Ok(())
}
// ANCHOR_END: process

// ANCHOR: files
/// Part 5, homework 2: write files without blocking the loop. Ten tasks
/// each hand a whole-file write to the executor; the ticker keeps ticking.
fn files(handle: &Handle, dir: PathBuf) -> Result {
    info!("part 5: ten files at once, through the executor");
    handle.reset_step_times();
    let ticks = spawn("ticker", || ticker(3, secs(0.1)));
    let writers: Vec<_> = (0..10)
        .map(|i| {
            let path = dir.join(format!("file-{i}.txt"));
            spawn(format!("writer {i}"), move || -> std::io::Result<usize> {
                let line = format!("line of file {i}\n");
                let contents = line.repeat(64 * 1024); // about 1 MiB
                write_file(&path, contents.clone())?;
                let back = read_file(&path)?;
                Ok(usize::from(back == contents.as_bytes()))
            })
        })
        .collect();
    let mut intact = 0;
    for written in gather(writers) {
        intact += written??;
    }
    ticks.join()??;
    info!("{intact} of 10 files written and read back intact");
    info!("{}", longest_step(handle));
    Ok(())
}
// ANCHOR_END: files

/// Lesson 10: blocking calls in a task, run_in_executor, DNS, a child process, files.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    observe: ObserveArgs,
}

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    if let Err(error) = run(&args.observe) {
        eprintln!("10-executor: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run(observe: &ObserveArgs) -> Result {
    let clock = Clock::real();
    let observer = trace::init_observed(&clock, observe)?;
    let timeline = observer.timeline().clone();
    let dir = std::env::temp_dir().join(format!("yieldloop-lesson-10-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // The step timer is the hook for a debug mode (asyncio's
    // `slow_callback_duration`): it names a task whose step blocked.
    let mut event_loop = Builder::new().clock(clock).measure_steps(true).build()?;
    let handle = event_loop.handle();
    let outcome = event_loop.run_until_complete({
        let dir = dir.clone();
        move || -> Result {
            let part_1 = "part 1: a blocking sleep inside a task";
            let blocked = a_and_b(part_1, a_blocking, &handle, &timeline)?;
            let part_2 = "part 2: the same sleep in the executor";
            let unblocked = a_and_b(part_2, a_in_executor, &handle, &timeline)?;
            println!(
                "\n{}",
                side_by_side(
                    ("part 1: thread::sleep in a", &blocked),
                    ("part 2: run_in_executor", &unblocked),
                    6
                )
            );
            dns()?;
            process()?;
            files(&handle, dir)
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    outcome??;
    observer.finish()?; // --timeline and friends (lesson 11)
    Ok(())
}
// ANCHOR_END: main
