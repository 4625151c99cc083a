//! The workshop runner, `cargo run --bin workshop`, on a scratch copy of the
//! exercises (`--dir`): list, check, hint, reset, the errors it gives for bad
//! names, and `verify`, which CI runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNNER: &str = env!("CARGO_BIN_EXE_workshop");
const STUBS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/exercises");

/// What one run of the runner did.
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs the runner on `dir`; kills it after two minutes so a hang fails.
fn workshop(dir: &Path, args: &[&str]) -> Ran {
    workshop_with(dir, args, &[])
}

/// [`workshop`] with extra environment variables.
fn workshop_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut child = Command::new(RUNNER)
        .envs(env.iter().copied())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("WORKSHOP_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the runner starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("workshop {args:?} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    Ran {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A fresh, empty folder for one test's copies, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn scratch(test: &str) -> Scratch {
    let dir =
        std::env::temp_dir().join(format!("yieldloop-workshop-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn solution(name: &str) -> String {
    fs::read_to_string(format!("{STUBS}/solutions/{name}.rs")).unwrap()
}

#[test]
fn list_creates_the_copies_and_shows_every_exercise_pending_in_ladder_order() {
    let dir = scratch("list");
    let ran = workshop(&dir, &["list"]);
    assert!(ran.success, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("Created your copies of 18 exercise(s)"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("0/18 done"), "{}", ran.stdout);
    let names: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|line| line.contains("pending"))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(names.len(), 18, "{}", ran.stdout);
    assert_eq!(&names[..3], ["grep", "averager", "run"]);
    assert_eq!(names.last(), Some(&"find_the_blocker"));
    assert!(
        ran.stdout.contains("les. 08"),
        "the lesson each follows: {}",
        ran.stdout
    );
    assert_eq!(
        fs::read_to_string(dir.join("grep.rs")).unwrap(),
        fs::read_to_string(format!("{STUBS}/grep.rs")).unwrap()
    );
}

#[test]
fn a_stub_is_told_kindly_that_it_is_not_attempted_yet() {
    let dir = scratch("stub");
    let ran = workshop(&dir, &["check", "grep"]);
    assert!(!ran.success);
    assert!(
        ran.stdout
            .contains("grep is not attempted yet, and that is fine"),
        "{}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("panicked at") && !ran.stderr.contains("RUST_BACKTRACE"),
        "{}{}",
        ran.stdout,
        ran.stderr
    );
}

#[test]
fn a_solved_exercise_is_done_and_check_moves_on_to_the_next() {
    let dir = scratch("solved");
    workshop(&dir, &["list"]);
    // With the marker still there: passes, but not done yet.
    let marked = format!("// I AM NOT DONE\n{}", solution("grep"));
    fs::write(dir.join("grep.rs"), marked).unwrap();
    let ran = workshop(&dir, &["check", "grep"]);
    assert!(ran.success, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("Delete the `// I AM NOT DONE` line"),
        "{}",
        ran.stdout
    );
    assert!(workshop(&dir, &["list"]).stdout.contains("0/18 done"));

    // Deleting the marker, as asked, makes it done without another check.
    fs::write(dir.join("grep.rs"), solution("grep")).unwrap();
    let list = workshop(&dir, &["list"]).stdout;
    assert!(list.contains("1/18 done"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("  grep") && l.contains("done")),
        "{list}"
    );
    // `check` with no name now takes the next pending one.
    let next = workshop(&dir, &["check"]);
    assert!(next.stdout.contains("Checking averager"), "{}", next.stdout);
    // A solution without the marker passes and is done at once.
    fs::write(dir.join("averager.rs"), solution("averager")).unwrap();
    let ran = workshop(&dir, &["check", "averager"]);
    assert!(ran.success, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("✓ averager passes. Done!"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("Next: run (after lesson 03)"),
        "{}",
        ran.stdout
    );
    assert!(workshop(&dir, &["list"]).stdout.contains("2/18 done"));
    // Editing a done exercise makes it pending again until it passes again.
    fs::write(dir.join("grep.rs"), solution("grep") + "\n// changed\n").unwrap();
    assert!(workshop(&dir, &["list"]).stdout.contains("1/18 done"));
}

#[test]
fn a_wrong_scheduler_gets_both_traces_and_a_question() {
    let dir = scratch("wrong");
    workshop(&dir, &["list"]);
    // The solution with "earliest" made "latest".
    let broken = solution("run").replace("*wake < best", "*wake > best");
    fs::write(dir.join("run.rs"), broken).unwrap();
    let ran = workshop(&dir, &["check", "run"]);
    assert!(!ran.success);
    assert!(
        ran.stdout.contains("✗ run is not right yet"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("<-- first difference"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("did `run` pick the earliest wake-up?"),
        "{}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("Duration"),
        "no Debug dumps: {}",
        ran.stdout
    );
}

#[test]
fn code_that_does_not_compile_gets_rustcs_errors() {
    let dir = scratch("compile");
    workshop(&dir, &["list"]);
    fs::write(
        dir.join("averager.rs"),
        "pub fn averager() -> u32 { \"not a generator\" }\n",
    )
    .unwrap();
    let ran = workshop(&dir, &["check", "averager"]);
    assert!(!ran.success);
    assert!(
        ran.stdout.contains("averager does not compile yet"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("mismatched types"), "{}", ran.stdout);
}

#[test]
fn hints_come_one_more_at_a_time_and_reset_starts_them_again() {
    let dir = scratch("hints");
    let first = workshop(&dir, &["hint", "grep"]).stdout;
    assert!(
        first.contains("Hint 1 of 3 (a nudge)") && !first.contains("Hint 2"),
        "{first}"
    );
    let second = workshop(&dir, &["hint", "grep"]).stdout;
    assert!(
        second.contains("Hint 2 of 3 (the idea)") && !second.contains("Hint 3"),
        "{second}"
    );
    let third = workshop(&dir, &["hint", "grep"]).stdout;
    assert!(
        third.contains("Hint 3 of 3 (the shape of the code)"),
        "{third}"
    );
    assert!(third.contains("That was the last hint"), "{third}");
    // Another exercise's hints are counted apart.
    assert!(!workshop(&dir, &["hint", "run"]).stdout.contains("Hint 2"));

    fs::write(dir.join("grep.rs"), "my attempt").unwrap();
    let reset = workshop(&dir, &["reset", "grep"]);
    assert!(reset.success, "{}", reset.stderr);
    assert_eq!(
        fs::read_to_string(dir.join("grep.rs")).unwrap(),
        fs::read_to_string(format!("{STUBS}/grep.rs")).unwrap()
    );
    assert!(
        !workshop(&dir, &["hint", "grep"]).stdout.contains("Hint 2"),
        "hints start again"
    );
}

#[test]
fn unknown_names_get_the_nearest_suggested_and_nothing_panics() {
    let dir = scratch("names");
    for args in [["check", "gerp"], ["hint", "gerp"], ["reset", "gerp"]] {
        let ran = workshop(&dir, &args);
        assert!(!ran.success, "{args:?}");
        assert!(
            ran.stderr
                .contains("there is no exercise `gerp`. Did you mean `grep`?"),
            "{}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
    let far = workshop(&dir, &["hint", "zzzzzzzzzzzz"]);
    assert!(
        far.stderr.contains("`list` shows them all"),
        "{}",
        far.stderr
    );
    let bad = workshop(&dir, &["frobnicate"]);
    assert!(
        !bad.success && !bad.stderr.contains("panicked"),
        "{}",
        bad.stderr
    );
}

#[test]
fn every_command_has_help() {
    let dir = scratch("help");
    for command in ["list", "check", "hint", "watch", "reset", "verify"] {
        let ran = workshop(&dir, &[command, "--help"]);
        assert!(ran.success, "{command} --help: {}", ran.stderr);
        assert!(
            ran.stdout.contains("Usage: workshop"),
            "{command}: {}",
            ran.stdout
        );
    }
}

#[test]
fn verify_proves_every_stub_fails_and_every_solution_passes() {
    let dir = scratch("verify");
    let ran = workshop(&dir, &["verify"]);
    assert!(ran.success, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        36,
        "{}",
        ran.stdout
    );
}

#[test]
fn watch_rechecks_when_an_exercise_is_saved() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    let dir = scratch("watch");
    let mut child = Command::new(RUNNER)
        .arg("--dir")
        .arg(&*dir)
        .arg("watch")
        .env_remove("WORKSHOP_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the runner starts");
    let (lines, seen) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut all = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = seen.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(needle);
                all.push(line);
                if found {
                    return all;
                }
            }
        }
        panic!("no line with {needle:?} in:\n{}", all.join("\n"));
    };
    wait_for("Watching");
    fs::write(dir.join("grep.rs"), solution("grep")).unwrap();
    wait_for("✓ grep passes. Done!");
    wait_for("Watching");
    // The pass wrote the runner's state file: that is no save of an
    // exercise, so nothing more is checked until one is saved.
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<String> = seen.try_iter().collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!after.iter().any(|l| l.contains("Checking")), "{after:?}");
}

#[test]
fn a_panic_says_where_and_a_backtrace_comes_only_when_asked() {
    let dir = scratch("backtrace");
    workshop(&dir, &["list"]);
    let panicking = solution("grep").replace(
        "let mut line = first_line;",
        "let mut line = first_line;\n        assert!(line.is_empty(), \"boom\");",
    );
    fs::write(dir.join("grep.rs"), panicking).unwrap();
    let quiet = workshop(&dir, &["check", "grep"]);
    assert!(!quiet.success);
    assert!(quiet.stdout.contains("panicked at"), "{}", quiet.stdout);
    assert!(quiet.stdout.contains("grep.rs:"), "where: {}", quiet.stdout);
    assert!(quiet.stdout.contains("boom"), "{}", quiet.stdout);
    assert!(
        !quiet.stderr.contains("exercise::grep"),
        "no backtrace: {}",
        quiet.stderr
    );
    let loud = workshop(&dir, &["--backtrace", "check", "grep"]);
    assert!(
        loud.stderr.contains("exercise::grep"),
        "a backtrace: {}",
        loud.stderr
    );
}

#[test]
fn a_check_that_hangs_is_stopped_with_a_question() {
    let dir = scratch("hang");
    workshop(&dir, &["list"]);
    // A loop that parks tasks and never asks which descriptors are ready.
    let hanging = solution("select_loop").replace(
        "let (readable, writable) = wait_ready(&reading, &writing, None)?;",
        "let (readable, writable): (Vec<RawFd>, Vec<RawFd>) = loop { let _ = (&reading, &writing, wait_ready); std::thread::sleep(std::time::Duration::from_millis(10)); };",
    );
    fs::write(dir.join("select_loop.rs"), hanging).unwrap();
    let started = Instant::now();
    let ran = workshop_with(
        &dir,
        &["check", "select_loop"],
        &[("WORKSHOP_CHECK_SECONDS", "3")],
    );
    assert!(!ran.success);
    assert!(
        ran.stdout.contains("did not finish in time"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("a task that is never woken?"),
        "{}",
        ran.stdout
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
