//! Lesson 11's `--step` debugger, driven as a learner drives it: lesson 03
//! on the virtual clock in a real terminal (a `tmux` pane: keys sent, the
//! screen read back), and a reactor lesson through a script on standard
//! input. Every wait has a deadline, so a debugger that hangs fails fast.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one screen may take to appear (a debug build on a busy machine).
const SCREEN_DEADLINE: Duration = Duration::from_secs(20);

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` in a wide detached pane, followed by its exit status
    /// and whether the terminal is back in canonical mode (raw mode undone).
    fn start(name: &str, command: &str) -> Tmux {
        let socket = format!("yieldloop-{name}-{}", std::process::id());
        let tmux = Tmux { socket };
        let script = format!(
            "{command}; echo \"[exit status $?]\"; \
             echo \"[tty $(stty -a | grep -o -- '-\\?icanon' | head -n 1)]\"; sleep 600"
        );
        let status = tmux
            .command()
            .args([
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "60",
                "sh",
                "-c",
                &script,
            ])
            .status()
            .unwrap_or_else(|error| {
                panic!("tmux does not start ({error}): install it (apt-get install tmux)")
            });
        assert!(status.success(), "tmux new-session failed: {status}");
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    /// Presses `key` (a tmux key name: `Enter`, `t`, …).
    fn send(&self, key: &str) {
        let status = self
            .command()
            .args(["send-keys", "-t", "0", key])
            .status()
            .expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys {key} failed");
    }

    /// The whole pane, its scrollback included, wrapped lines joined.
    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "0"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen contains `text`; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                started.elapsed() < SCREEN_DEADLINE,
                "{text:?} did not appear within {SCREEN_DEADLINE:?}; the screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

fn lesson_03() -> String {
    format!("{} --virtual --step", env!("CARGO_BIN_EXE_03-run-loop"))
}

/// The screen `--step` shows before iteration `n` of lesson 03, exactly.
fn iteration_03(n: u64, at: &str, ready: &str, timers: &str, timeout: &str) -> String {
    format!(
        "[step] iteration {n}\n── run at {at} ──\nready:    {ready}\ntimers:   {timers}\n\
         selector: (nothing watched)\ntimeout:  {timeout}\n"
    )
}

#[test]
fn lesson_03_stepped_in_a_terminal_shows_each_iteration_and_runs_to_the_end() {
    let tmux = Tmux::start("step-03", &lesson_03());
    let first = iteration_03(
        1,
        "0.000",
        "coroutine \"a\", coroutine \"b\"",
        "(none)",
        "0.000 s (a coroutine is due: do not wait)",
    );
    // The whole screen, exactly (waiting for all of it: it is written in parts).
    let screen = tmux.wait_for(&first);
    assert!(
        !screen.contains("a enter"),
        "nothing may run before the first key:\n{screen}"
    );

    tmux.send("Enter");
    let second = iteration_03(
        2,
        "0.000",
        "coroutine \"b\"",
        "1.000 coroutine \"a\"",
        "0.000 s (a coroutine is due: do not wait)",
    );
    // The whole screen, exactly (waiting for all of it: it is written in parts).
    let screen = tmux.wait_for(&second);
    assert!(screen.contains("0.000 a enter"), "{screen}");
    assert!(!screen.contains("b enter"), "b ran too early:\n{screen}");

    tmux.send("Enter");
    let third = iteration_03(
        3,
        "0.000",
        "(empty)",
        "0.500 coroutine \"b\"\n          1.000 coroutine \"a\"",
        "0.500 s (until the earliest wake-up)",
    );
    // The whole screen, exactly (waiting for all of it: it is written in parts).
    tmux.wait_for(&third);

    // `t`: the next pause is before the task step, naming the task, and the
    // step has not run yet.
    tmux.send("t");
    let screen = tmux.wait_for("[step] next: coroutine \"b\" runs one step");
    assert!(
        !screen.contains("b middle"),
        "the step ran before its pause:\n{screen}"
    );
    tmux.send("Enter");
    let fourth = iteration_03(
        4,
        "0.500",
        "(empty)",
        "1.000 coroutine \"a\"\n          1.000 coroutine \"b\"",
        "0.500 s (until the earliest wake-up)",
    );
    // The whole screen, exactly (waiting for all of it: it is written in parts).
    let screen = tmux.wait_for(&fourth);
    assert!(screen.contains("0.500 b middle"), "{screen}");

    // `p`: the task tree, with the frame each coroutine is suspended in.
    tmux.send("p");
    let screen = tmux.wait_for("at _03_run_loop::b::{{closure}}");
    assert!(
        screen.contains("task 0 \"a\" (parent none): timer at 1.000"),
        "{screen}"
    );
    assert!(
        screen.contains("task 1 \"b\" (parent none): timer at 1.000 since 0.500"),
        "{screen}"
    );
    assert!(
        screen.contains("at _03_run_loop::a::{{closure}}"),
        "{screen}"
    );
    assert!(
        screen.contains("at _03_run_loop::b::{{closure}}"),
        "{screen}"
    );

    // `c`: the rest of lesson 03's trace, without another pause.
    tmux.send("c");
    let screen = tmux.wait_for("[exit status 0]");
    for line in [
        "1.000 a exit",
        "1.000 b exit",
        "[step] continuing to the end",
    ] {
        assert!(screen.contains(line), "{line:?} missing:\n{screen}");
    }
    assert!(
        !screen.contains("[step] iteration 5"),
        "paused after c:\n{screen}"
    );
    let screen = tmux.wait_for("[tty ");
    assert!(
        screen.contains("[tty icanon]"),
        "raw mode left on:\n{screen}"
    );
}

#[test]
fn q_quits_at_once_with_status_0_and_restores_the_terminal() {
    let tmux = Tmux::start("step-q", &lesson_03());
    tmux.wait_for("[step] iteration 1");
    tmux.send("Enter");
    tmux.wait_for("[step] iteration 2");
    tmux.send("q");
    let screen = tmux.wait_for("[exit status");
    assert!(screen.contains("[step] quit (q)"), "{screen}");
    assert!(screen.contains("[exit status 0]"), "{screen}");
    assert!(!screen.contains("b enter"), "it ran on after q:\n{screen}");
    let screen = tmux.wait_for("[tty ");
    assert!(
        screen.contains("[tty icanon]"),
        "raw mode left on:\n{screen}"
    );
}

/// Runs `08-cancel --virtual --step` with `keys` as its standard input
/// (one command a line) and returns its standard error.
fn scripted_08(keys: &str) -> (String, String) {
    let bin = env!("CARGO_BIN_EXE_08-cancel");
    let mut command = Command::new(bin);
    command
        .args(["--virtual", "--step"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = common::spawn_within(
        &mut command,
        "`08-cancel --virtual --step`",
        common::BIN_DEADLINE,
    );
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(keys.as_bytes()).expect("writing the keys");
    drop(stdin); // the end of input means `c`
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).map(|_| text)
    });
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut err, &mut errors).expect("reading stderr");
    let status = child.wait();
    assert!(status.success(), "{status}\n{errors}");
    (reader.join().unwrap().expect("reading stdout"), errors)
}

#[test]
fn a_script_steps_the_reactor_and_sees_its_ready_queue_and_timers() {
    let (out, err) = scripted_08("\n\nt\n\np\nc\n");
    let expected = [
        "[step] iteration 1\n── reactor at 0.000 ──\nready:    task 1 \"main\"\ntimers:   (none)\n\
         selector: (nothing watched)\ntimeout:  0.000 s (tasks are ready: do not wait)\n",
        "[step] iteration 2\n── reactor at 0.000 ──\nready:    task 2 \"flush\"\n\
         timers:   0.100 task 1 \"main\"\nselector: (nothing watched)\n\
         timeout:  0.000 s (tasks are ready: do not wait)\n",
        "[step] iteration 3\n── reactor at 0.000 ──\nready:    (empty)\n\
         timers:   0.100 task 1 \"main\"\n          0.500 task 2 \"flush\"\n\
         selector: (nothing watched)\ntimeout:  0.100 s (until the next timer)\n",
        "[step] next: task 1 \"main\" runs one step\n",
        "[step] iteration 4\n── reactor at 0.100 ──\nready:    (empty)\n\
         timers:   0.500 task 2 \"flush\"\n          0.600 task 1 \"main\"\n\
         selector: (nothing watched)\ntimeout:  0.400 s (until the next timer)\n",
    ];
    let mut rest = err.as_str();
    for screen in expected {
        let at = rest
            .find(screen)
            .unwrap_or_else(|| panic!("missing, or out of order:\n{screen}\nin:\n{err}"));
        rest = &rest[at + screen.len()..];
    }
    // `p` after iteration 5: main's suspended stack, function by function.
    assert!(
        rest.contains("task 1 \"main\" (parent none): timer at 0.600 since 0.100\n    at yieldloop::reactor::task::sleep\n    at _08_cancel::forgotten"),
        "{err}"
    );
    assert!(rest.contains("[step] continuing to the end"), "{err}");
    assert!(
        !rest.contains("[step] iteration 6"),
        "paused after c:\n{err}"
    );
    // The lesson's own trace is whole: it ran to the end.
    assert!(
        out.contains("2.500 save finished: the file is complete"),
        "{out}"
    );
}

/// `--step 2>&1 | head -2`: once the reader has gone, the debugger's next
/// screen must end the run quietly (status 0), not panic on the closed pipe.
#[test]
fn a_stepped_run_piped_into_head_ends_quietly() {
    use std::io::{BufRead, BufReader};

    let bin = env!("CARGO_BIN_EXE_08-cancel");
    // Standard error into the same pipe as standard output, as `2>&1` does.
    let mut command = Command::new("sh");
    command
        .args(["-c", "exec \"$0\" \"$@\" 2>&1", bin, "--virtual", "--step"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = common::spawn_within(
        &mut command,
        "`08-cancel --virtual --step 2>&1 | head -2`",
        common::BIN_DEADLINE,
    );
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"\n\n\n\n\nc\n").expect("writing the keys");
    drop(stdin);
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    for _ in 0..2 {
        reader.read_line(&mut String::new()).expect("a line");
    }
    drop(reader); // `head` has read its two lines and left
    let status = child.wait();
    assert!(status.success(), "{status} after the reader left");
}

#[test]
fn without_step_nothing_pauses_and_nothing_is_shown() {
    let output = common::run_bin(env!("CARGO_BIN_EXE_08-cancel"), &["--virtual"]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("[step]"), "{err}");
}

#[test]
fn lesson_11_says_how_to_step() {
    let output = common::run_bin(env!("CARGO_BIN_EXE_11-debug"), &["--virtual"]);
    let out = common::stdout(&output);
    assert!(
        out.contains("cargo run --bin 03-run-loop -- --virtual --step"),
        "{out}"
    );
}

#[test]
fn lesson_05s_select_loop_steps_too_naming_its_tasks_by_function() {
    let bin = env!("CARGO_BIN_EXE_05-select-echo");
    let mut command = Command::new(bin);
    command
        .args(["--port", "0", "--seconds", "0.5", "--step"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let what = "`05-select-echo --port 0 --seconds 0.5 --step`";
    let mut child = common::spawn_within(&mut command, what, common::BIN_DEADLINE);
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"\n\n\n\nc\n").expect("writing the keys");
    drop(stdin);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(child.wait().success(), "{err}");
    let first = "ready:    task \"stop_on_ctrl_c\", task \"server\", task \"ticker\", \
                 task \"stop_after\"\ntimers:   (none)\nselector: (nothing watched)\n\
                 timeout:  0.000 s (tasks are ready: do not wait)\n";
    assert!(err.contains(first), "{err}");
    // After four steps: each task waits on what it asked for.
    let fifth = err
        .split("[step] iteration 5")
        .nth(1)
        .expect("a fifth screen");
    for line in [
        "ready:    (empty)\n",
        " task \"ticker\"\n",
        " task \"stop_after\"\n",
        " read  task \"stop_on_ctrl_c\"\n",
        " read  task \"server\"\n",
        "(until the earliest sleeper is due)",
    ] {
        assert!(fifth.contains(line), "{line:?} missing:\n{fifth}");
    }
}
