//! Lesson 10's runtime: `run_in_executor`, `call_soon_threadsafe`, the
//! blocking helpers and child processes, on the real clock (threads and
//! processes do not run on virtual time).

use std::cell::{Cell, RefCell};
use std::io;
use std::net;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use yieldloop::reactor::selector::SelectorKind;
use yieldloop::{
    executor_thread_count, gather, read_file, resolve, run_in_executor, secs, sleep, spawn,
    write_file, Builder, Cancelled, Command, EventLoop, ExecutorError, Stdio, TaskError,
    TcpListener, TcpStream,
};

/// Fails the test (aborting the process) if it runs longer than a minute:
/// a hang must not stall CI.
fn watchdog() {
    let (done, wait) = mpsc::channel::<()>();
    thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(60)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("tests/executor.rs: a test hung for 60 s");
            std::process::abort();
        }
    });
    thread_local!(static DONE: RefCell<Option<mpsc::Sender<()>>> = const { RefCell::new(None) });
    DONE.with(|slot| *slot.borrow_mut() = Some(done));
}

fn new_loop() -> EventLoop {
    watchdog();
    EventLoop::new().expect("a loop")
}

#[test]
fn a_thousand_tasks_each_get_their_own_result() {
    let mut event_loop = new_loop();
    let results = event_loop
        .run_until_complete(|| {
            let handles: Vec<_> = (0..1000u64)
                .map(|i| {
                    spawn(format!("task {i}"), move || {
                        run_in_executor(move || {
                            thread::sleep(Duration::from_micros(i % 7 * 100));
                            i * i
                        })
                    })
                })
                .collect();
            gather(handles)
        })
        .unwrap();
    let values: Vec<u64> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(values, (0..1000u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn the_loop_runs_other_tasks_while_a_call_blocks_a_thread() {
    let mut event_loop = new_loop();
    let ticks = Rc::new(Cell::new(0));
    let (value, elapsed) = event_loop
        .run_until_complete({
            let ticks = ticks.clone();
            move || {
                let ticker = spawn("ticker", move || {
                    for _ in 0..10 {
                        sleep(secs(0.05)).unwrap();
                        ticks.set(ticks.get() + 1);
                    }
                });
                let started = Instant::now();
                let value = run_in_executor(|| {
                    thread::sleep(Duration::from_millis(300));
                    "slept"
                });
                let elapsed = started.elapsed();
                ticker.join().unwrap();
                (value, elapsed)
            }
        })
        .unwrap();
    assert_eq!(value, Ok("slept"));
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert_eq!(ticks.get(), 10);
}

#[test]
fn a_panicking_closure_is_an_error_naming_the_task_and_the_loop_goes_on() {
    let mut event_loop = new_loop();
    let (failed, after) = event_loop
        .run_until_complete(|| {
            let failed = spawn("parser", || {
                run_in_executor(|| -> u32 { panic!("bad input on line 3") })
            })
            .join()
            .unwrap();
            (failed, run_in_executor(|| 7))
        })
        .unwrap();
    assert_eq!(
        failed,
        Err(ExecutorError::Panicked {
            task: "parser".into(),
            message: "bad input on line 3".into()
        })
    );
    let text = failed.unwrap_err().to_string();
    assert!(
        text.contains("\"parser\"") && text.contains("bad input"),
        "{text}"
    );
    assert_eq!(after, Ok(7), "the pool thread survived the panic");
}

/// Counts its drops: the result of a cancelled call must be dropped once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_task_cancelled_while_it_waits_is_released_at_once_and_the_result_dropped() {
    let mut event_loop = new_loop();
    let drops = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (joined, released_after) = event_loop
        .run_until_complete({
            let (drops, finished) = (drops.clone(), finished.clone());
            move || {
                let waiter = spawn("waiter", move || {
                    run_in_executor(move || {
                        thread::sleep(Duration::from_millis(400));
                        finished.fetch_add(1, Ordering::SeqCst);
                        Counted(drops)
                    })
                    .map(drop)
                });
                sleep(secs(0.05)).unwrap();
                let cancelled_at = Instant::now();
                waiter.cancel();
                let joined = waiter.join();
                (joined, cancelled_at.elapsed())
            }
        })
        .unwrap();
    match &joined {
        Err(error @ TaskError::Cancelled { .. }) => {
            assert_eq!(Cancelled::find(error).map(Cancelled::task), Some("waiter"))
        }
        other => panic!("expected a cancelled task, got {other:?}"),
    }
    assert!(
        released_after < Duration::from_millis(200),
        "the task waited for the thread: {released_after:?}"
    );
    assert_eq!(event_loop.task_count(), 0);
    assert_eq!(finished.load(Ordering::SeqCst), 0, "the thread runs on");
    // The loop lives on; the thread finishes and its result is dropped.
    event_loop
        .run_until_complete(|| sleep(secs(0.6)).unwrap())
        .unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
}

thread_local! {
    /// Per (thread, call): how many times the callback ran, on the loop's thread.
    static SEEN: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn call_soon_threadsafe_from_eight_threads_delivers_each_call_exactly_once() {
    const THREADS: usize = 8;
    const CALLS: usize = 10_000;
    let mut event_loop = new_loop();
    SEEN.with(|seen| *seen.borrow_mut() = vec![0; THREADS * CALLS]);
    let handle = event_loop.threadsafe_handle().unwrap();
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = handle.clone();
            thread::spawn(move || {
                for i in 0..CALLS {
                    let id = t * CALLS + i;
                    // SEEN is the *running* thread's: it is the loop's only
                    // if the callback runs there.
                    handle
                        .call_soon_threadsafe(move || SEEN.with(|seen| seen.borrow_mut()[id] += 1))
                        .unwrap();
                }
            })
        })
        .collect();
    drop(handle);
    // Not idle while a ThreadsafeHandle exists; idle once all are dropped
    // and the last callback has run.
    event_loop.run_forever().unwrap();
    for sender in senders {
        sender.join().unwrap();
    }
    event_loop.run_forever().unwrap(); // anything sent after the first run returned
    SEEN.with(|seen| {
        let seen = seen.borrow();
        let wrong: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] != 1).collect();
        assert!(
            wrong.is_empty(),
            "{} calls not run exactly once, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
    });
}

#[test]
fn call_soon_threadsafe_wakes_a_sleeping_loop() {
    for kind in SelectorKind::ALL {
        watchdog();
        let mut event_loop = Builder::new().selector(kind).build().unwrap();
        let _far = event_loop.call_later(Duration::from_secs(20), || {});
        let handle = event_loop.threadsafe_handle().unwrap();
        let started = Instant::now();
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            handle.stop().unwrap();
        });
        event_loop.run_forever().unwrap();
        let elapsed = started.elapsed();
        sender.join().unwrap();
        assert!(
            elapsed < Duration::from_secs(10),
            "{kind:?}: the loop slept through the wake-up: {elapsed:?}"
        );
    }
}

#[test]
fn run_in_executor_wakes_the_select_backend_too() {
    watchdog();
    let mut event_loop = Builder::new()
        .selector(SelectorKind::Select)
        .build()
        .unwrap();
    let value = event_loop
        .run_until_complete(|| {
            run_in_executor(|| {
                thread::sleep(Duration::from_millis(50));
                42
            })
        })
        .unwrap();
    assert_eq!(value, Ok(42));
}

#[test]
fn a_closed_loop_refuses_threadsafe_calls() {
    let event_loop = new_loop();
    let handle = event_loop.threadsafe_handle().unwrap();
    drop(event_loop);
    let error = handle.call_soon_threadsafe(|| {}).unwrap_err();
    assert!(error.to_string().contains("dropped"), "{error}");
}

#[test]
fn run_in_executor_outside_a_task_says_so() {
    let error = run_in_executor(|| 1).unwrap_err();
    assert!(matches!(error, ExecutorError::NotInTask(_)), "{error}");
}

#[test]
fn step_times_name_the_step_that_blocked_the_loop() {
    watchdog();
    let mut event_loop = Builder::new().measure_steps(true).build().unwrap();
    event_loop
        .run_until_complete(|| {
            spawn("blocker", || thread::sleep(Duration::from_millis(60)))
                .join()
                .unwrap();
            sleep(secs(0.01)).unwrap();
        })
        .unwrap();
    let times = event_loop.step_times();
    assert!(times.longest >= Duration::from_millis(60), "{times:?}");
    assert_eq!(times.longest_task.as_deref(), Some("blocker"));
    assert!(times.last < Duration::from_millis(60), "{times:?}");
    assert!(times.steps >= 3, "{times:?}");
    // Off by default: nothing measured.
    let mut plain = new_loop();
    plain.run_until_complete(|| ()).unwrap();
    assert_eq!(plain.step_times().steps, 0);
}

#[test]
fn resolve_and_connect_by_host_name() {
    let mut event_loop = new_loop();
    let listener = TcpListener::bind("127.0.0.1", 0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (addrs, greeting) = event_loop
        .run_until_complete(move || -> io::Result<_> {
            let addrs = resolve("localhost", port)?;
            let server = spawn("server", move || -> io::Result<()> {
                let (stream, _) = listener.accept()?;
                stream.write_all(b"hi")
            });
            let client = TcpStream::connect(("localhost", port)).or_else(|_| {
                // localhost may resolve to ::1 first on some hosts
                TcpStream::connect(format!("127.0.0.1:{port}"))
            })?;
            let mut buf = [0u8; 2];
            let n = client.read(&mut buf)?;
            server.join().map_err(io::Error::other)??;
            Ok((addrs, buf[..n].to_vec()))
        })
        .unwrap()
        .unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a.ip().is_loopback() && a.port() == port),
        "{addrs:?}"
    );
    assert_eq!(greeting, b"hi");
}

#[test]
fn a_bad_address_is_a_clear_error() {
    let mut event_loop = new_loop();
    let error = event_loop
        .run_until_complete(|| TcpStream::connect("no port here").map(drop))
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("host:port"), "{error}");
}

#[test]
fn files_are_read_and_written_in_the_executor() {
    let mut event_loop = new_loop();
    let dir = std::env::temp_dir().join(format!("yieldloop-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("note.txt");
    let (read_back, missing) = event_loop
        .run_until_complete({
            let path = path.clone();
            let dir = dir.clone();
            move || {
                write_file(&path, "hello, executor").unwrap();
                (read_file(&path).unwrap(), read_file(dir.join("absent")))
            }
        })
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(read_back, b"hello, executor");
    assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
}

// ---- child processes ----

#[test]
fn communicate_moves_eight_mebibytes_each_way_without_deadlock() {
    let mut event_loop = new_loop();
    let input: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let output = event_loop
        .run_until_complete({
            let input = input.clone();
            move || {
                let mut child = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?;
                let output = child.communicate(&input)?;
                assert_eq!(child.returncode(), Some(0));
                io::Result::Ok(output)
            }
        })
        .unwrap()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout.len(), input.len());
    assert!(output.stdout == input, "cat gave back different bytes");
    assert!(output.stderr.is_empty());
}

#[test]
fn a_child_that_does_not_read_its_stdin_is_not_an_error() {
    let mut event_loop = new_loop();
    let output = event_loop
        .run_until_complete(|| {
            let mut child = Command::shell("echo done; exit 3")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            child.communicate(&vec![b'x'; 4 * 1024 * 1024]) // far more than a pipe holds
        })
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(output.stdout, b"done\n");
}

#[test]
fn a_child_killed_by_a_signal_has_a_negative_returncode() {
    let mut event_loop = new_loop();
    let (by_itself, by_us) = event_loop
        .run_until_complete(|| -> io::Result<_> {
            let mut child = Command::shell("kill -TERM $$").spawn()?;
            assert_eq!(child.returncode(), None);
            child.wait()?;
            let by_itself = child.returncode();
            let mut sleeper = Command::new("sleep").arg("30").spawn()?;
            sleeper.kill()?;
            sleeper.wait()?;
            Ok((by_itself, sleeper.returncode()))
        })
        .unwrap()
        .unwrap();
    assert_eq!(by_itself, Some(-15));
    assert_eq!(by_us, Some(-9));
}

/// Starts `sleep 30` in a task that runs `finish` on it, cancels the task
/// after 0.1 s, and checks that the task ended cancelled, at once, and that
/// the child was killed and reaped.
fn cancelling_kills_the_child(finish: fn(&mut yieldloop::Child) -> io::Result<()>) {
    let mut event_loop = new_loop();
    let pid = Rc::new(Cell::new(0u32));
    let started = Instant::now();
    let joined = event_loop
        .run_until_complete({
            let pid = pid.clone();
            move || {
                let waiter = spawn("waiter", move || -> io::Result<()> {
                    let mut child = Command::shell("exec sleep 30")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()?;
                    pid.set(child.id());
                    finish(&mut child)
                });
                sleep(secs(0.1)).unwrap();
                waiter.cancel();
                waiter.join()
            }
        })
        .unwrap();
    assert!(
        matches!(joined, Err(TaskError::Cancelled { .. })),
        "{joined:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let alive = unsafe { libc::kill(pid.get() as libc::pid_t, 0) == 0 };
    assert!(!alive, "the child {} still runs", pid.get());
}

#[test]
fn cancelling_a_wait_kills_the_child() {
    cancelling_kills_the_child(|child| child.wait().map(drop));
}

#[test]
fn cancelling_communicate_kills_the_child() {
    cancelling_kills_the_child(|child| child.communicate(b"never read").map(drop));
}

#[test]
fn a_child_that_cannot_start_names_the_program() {
    let mut event_loop = new_loop();
    let error = event_loop
        .run_until_complete(|| Command::new("/no/such/program").spawn().map(drop))
        .unwrap()
        .unwrap_err();
    assert!(error.to_string().contains("/no/such/program"), "{error}");
}

#[test]
fn child_pipes_are_read_and_written_by_hand() {
    let mut event_loop = new_loop();
    let line = event_loop
        .run_until_complete(|| -> io::Result<Vec<u8>> {
            let mut child = Command::new("tr")
                .args(["a-z", "A-Z"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let stdin = child.stdin.take().expect("piped");
            stdin.write_all(b"hello\n")?;
            drop(stdin);
            let out = child.stdout.take().expect("piped").read_to_end()?;
            child.wait()?;
            Ok(out)
        })
        .unwrap()
        .unwrap();
    assert_eq!(line, b"HELLO\n");
}

#[test]
fn child_processes_work_on_the_select_backend_too() {
    watchdog();
    let mut event_loop = Builder::new()
        .selector(SelectorKind::Select)
        .build()
        .unwrap();
    let output = event_loop
        .run_until_complete(|| {
            let mut child = Command::new("tr")
                .args(["a-z", "A-Z"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            child.communicate(b"select(2) too")
        })
        .unwrap()
        .unwrap();
    assert_eq!(output.stdout, b"SELECT(2) TOO");
    assert!(output.status.success());
}

#[test]
fn connect_looks_names_up_in_the_executor_and_numbers_on_the_spot() {
    let mut event_loop = new_loop();
    let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let threads = event_loop
        .run_until_complete(move || -> io::Result<_> {
            let _numeric = TcpStream::connect(format!("127.0.0.1:{port}"))?;
            let after_numeric = executor_thread_count()?;
            // A name: looked up on a pool thread, then every address tried
            // in turn (localhost may be ::1 first; the listener is IPv4).
            let by_name = TcpStream::connect(("localhost", port))?;
            let after_name = executor_thread_count()?;
            let peer_port = by_name.peer_addr()?.port();
            drop(listener);
            Ok((after_numeric, after_name, peer_port))
        })
        .unwrap()
        .unwrap();
    assert_eq!(threads.0, 0, "a numeric address needs no thread");
    assert_eq!(threads.1, 1, "a name is looked up on the executor");
    assert_eq!(threads.2, port);
}
