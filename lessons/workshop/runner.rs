//! What the workshop runner does, apart from parsing its command line:
//! where the exercises are, what state a learner's copy is in, and how one
//! is checked. Introduced by the workshop (docs/src/workshop.md).
//!
//! A check compiles a small program around the learner's file: the file as
//! the module `exercise`, the checks of `lessons/exercises/checks/`, and a
//! `main` that calls this exercise's check and prints what it found. It is
//! compiled with `rustc` against the `yieldloop` library that cargo built
//! beside the runner, so a check takes a second, one exercise that does not
//! compile does not stop the others, and the runner can print the check's
//! explanation as it is, without a test harness's noise around it.

use std::collections::BTreeMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::catalog::{Exercise, EXERCISES};

/// The line that marks a file as "not attempted yet".
pub const MARKER: &str = "// I AM NOT DONE";

/// How long a check may run before the runner stops it, unless
/// `WORKSHOP_CHECK_SECONDS` says otherwise (the runner's tests shorten it).
const CHECK_TIME_LIMIT: Duration = Duration::from_secs(20);

fn check_time_limit() -> Duration {
    std::env::var("WORKSHOP_CHECK_SECONDS")
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .unwrap_or(CHECK_TIME_LIMIT)
}

/// Where everything is.
pub struct Workshop {
    /// The learner's copies (`exercises/` by default).
    pub dir: PathBuf,
    /// The pristine stubs, with `solutions/` and `checks/` beside them.
    pub stubs: PathBuf,
    /// Where check programs are built.
    pub build: PathBuf,
    /// The `yieldloop` library and its dependencies, as cargo built them.
    pub library: PathBuf,
    /// Print a backtrace when the learner's code panics.
    pub backtrace: bool,
}

/// Where one exercise stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its check passed on the file as it is now, and the marker is gone.
    Done,
    /// Anything else.
    Pending,
}

/// What one check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed, and the marker is gone: done.
    Passed,
    /// Passed, but the `// I AM NOT DONE` line is still there.
    PassedWithMarker,
    /// The learner's code is still a `todo!()`; the check's words.
    NotAttempted(String),
    /// Wrong; the check's explanation.
    Failed(String),
    /// Does not compile; rustc's errors.
    DoesNotCompile(String),
    /// Ran longer than the time limit.
    TooSlow,
}

impl Workshop {
    /// The learner's file for `exercise`.
    pub fn file(&self, exercise: &Exercise) -> PathBuf {
        self.dir.join(format!("{}.rs", exercise.name))
    }

    fn stub(&self, exercise: &Exercise) -> PathBuf {
        self.stubs.join(format!("{}.rs", exercise.name))
    }

    /// Copies the stub of every exercise that has no learner's copy yet;
    /// returns the names of those it copied.
    pub fn create_missing(&self) -> io::Result<Vec<&'static str>> {
        fs::create_dir_all(&self.dir).map_err(|e| named(e, "create", &self.dir))?;
        let mut created = Vec::new();
        for exercise in EXERCISES {
            let file = self.file(exercise);
            if !file.exists() {
                self.reset(exercise)?;
                created.push(exercise.name);
            }
        }
        Ok(created)
    }

    /// Puts the pristine stub back, and forgets hints and progress.
    pub fn reset(&self, exercise: &Exercise) -> io::Result<()> {
        let stub = self.stub(exercise);
        let file = self.file(exercise);
        fs::copy(&stub, &file).map_err(|e| named(e, "copy the stub", &stub))?;
        let mut state = self.load_state();
        state.remove(&format!("done {}", exercise.name));
        state.remove(&format!("hints {}", exercise.name));
        self.save_state(&state)
    }

    /// Done or pending, from the saved state and the file as it is.
    pub fn status(&self, exercise: &Exercise) -> Status {
        let state = self.load_state();
        let recorded = state.get(&format!("done {}", exercise.name));
        match fs::read_to_string(self.file(exercise)) {
            Ok(text) if recorded == Some(&fingerprint(&text)) && !text.contains(MARKER) => {
                Status::Done
            }
            _ => Status::Pending,
        }
    }

    /// The next hint for `exercise`, with those already shown before it;
    /// `None` once all three have been shown.
    pub fn next_hints(&self, exercise: &Exercise) -> io::Result<(usize, Vec<&'static str>)> {
        let mut state = self.load_state();
        let key = format!("hints {}", exercise.name);
        let shown: usize = state.get(&key).and_then(|n| n.parse().ok()).unwrap_or(0);
        let now = (shown + 1).min(exercise.hints.len());
        state.insert(key, now.to_string());
        self.save_state(&state)?;
        Ok((now, exercise.hints[..now].to_vec()))
    }

    /// Builds and runs the check of `exercise` on the learner's file, and
    /// remembers a pass.
    pub fn check(&self, exercise: &Exercise) -> io::Result<Verdict> {
        let file = self.file(exercise);
        let text = fs::read_to_string(&file).map_err(|e| named(e, "read", &file))?;
        let program = self.build_check(exercise, &file)?;
        let program = match program {
            Ok(program) => program,
            Err(errors) => return Ok(Verdict::DoesNotCompile(errors)),
        };
        let verdict = self.run_check(&program)?;
        if verdict == Verdict::Passed {
            let mut state = self.load_state();
            state.insert(format!("done {}", exercise.name), fingerprint(&text));
            self.save_state(&state)?;
            if text.contains(MARKER) {
                return Ok(Verdict::PassedWithMarker);
            }
        }
        Ok(verdict)
    }

    /// Compiles the check program around `file`: the executable, or rustc's errors.
    pub fn build_check(
        &self,
        exercise: &Exercise,
        file: &Path,
    ) -> io::Result<Result<PathBuf, String>> {
        // One folder per exercise and per folder of exercises, so that two
        // runners (or tests) checking different copies do not collide.
        let folder = file
            .parent()
            .map(|p| fingerprint(&p.to_string_lossy()))
            .unwrap_or_default();
        let out = self.build.join(folder).join(exercise.name);
        fs::create_dir_all(&out).map_err(|e| named(e, "create", &out))?;
        let file = absolute(file)?;
        let checks = absolute(&self.stubs.join("checks").join("mod.rs"))?;
        let main = out.join("main.rs");
        let source = format!(
            "// Generated by the workshop runner: checks {name} in {file:?}.\n\
             #[path = {file:?}]\nmod exercise;\n\
             #[path = {checks:?}]\nmod checks;\n\
             fn main() {{\n    \
             checks::report::install_hook(std::env::var_os(\"WORKSHOP_BACKTRACE\").is_some());\n    \
             let outcome = {call};\n    \
             std::process::exit(checks::report::finish(outcome));\n}}\n",
            name = exercise.name,
            call = exercise.check_call,
        );
        fs::write(&main, source).map_err(|e| named(e, "write", &main))?;
        let program = out.join("check");
        let rlib = self.library_rlib()?;
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let output = Command::new(rustc)
            .args([
                "--edition",
                "2021",
                "--crate-name",
                "workshop_check",
                "-A",
                "warnings",
            ])
            .arg("-L")
            .arg(format!(
                "dependency={}",
                self.library.join("deps").display()
            ))
            .arg("--extern")
            .arg(format!("yieldloop={}", rlib.display()))
            .arg("-o")
            .arg(&program)
            .arg(&main)
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("could not start rustc: {e}")))?;
        if output.status.success() {
            Ok(Ok(program))
        } else {
            Ok(Err(String::from_utf8_lossy(&output.stderr).into_owned()))
        }
    }

    /// The `yieldloop` library cargo built last: the newest
    /// `deps/libyieldloop-HASH.rlib`. (Cargo copies it up to
    /// `libyieldloop.rlib` only when the library itself is asked for, not
    /// when it is built for `cargo run --bin workshop`, so that copy may be
    /// stale.) Its dependencies are found in `deps/` by their hashes.
    fn library_rlib(&self) -> io::Result<PathBuf> {
        let deps = self.library.join("deps");
        let newest = fs::read_dir(&deps)
            .map_err(|e| named(e, "read", &deps))?
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.starts_with("libyieldloop-") && name.ends_with(".rlib")
            })
            .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
            .max();
        newest.map(|(_, path)| path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no yieldloop library in {}: start the runner with `cargo run --bin workshop`, \
                     which builds it",
                    deps.display()
                ),
            )
        })
    }

    /// Runs a built check program, stopping it after the time limit.
    pub fn run_check(&self, program: &Path) -> io::Result<Verdict> {
        let mut command = Command::new(program);
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("RUST_BACKTRACE");
        if self.backtrace {
            command.env("WORKSHOP_BACKTRACE", "1");
        }
        let mut child = command
            .spawn()
            .map_err(|e| named(e, "run the check", program))?;
        // Read what it prints while it runs: a learner's debugging output
        // could otherwise fill the pipe and stall the check.
        let reader = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || {
                let mut said = Vec::new();
                let _ = io::Read::read_to_end(&mut stdout, &mut said);
                String::from_utf8_lossy(&said).into_owned()
            })
        });
        let started = Instant::now();
        let limit = check_time_limit();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Verdict::TooSlow);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let said = reader
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default();
        let said = said.trim_end().to_string();
        Ok(match status.code() {
            Some(0) => Verdict::Passed,
            Some(2) => Verdict::NotAttempted(said),
            Some(1) => Verdict::Failed(said),
            _ => Verdict::Failed(format!(
                "the check program stopped abnormally ({status}); a stack overflow or an \
                 abort in your code?{}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!("\n{said}")
                }
            )),
        })
    }

    fn state_file(&self) -> PathBuf {
        self.dir.join(".workshop-state")
    }

    /// `key value` lines: `hints grep 2`, `done grep 1a2b…`.
    fn load_state(&self) -> BTreeMap<String, String> {
        let text = fs::read_to_string(self.state_file()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                Some((key.to_string(), value.to_string()))
            })
            .collect()
    }

    fn save_state(&self, state: &BTreeMap<String, String>) -> io::Result<()> {
        let text: String = state
            .iter()
            .map(|(key, value)| format!("{key} {value}\n"))
            .collect();
        let file = self.state_file();
        fs::write(&file, text).map_err(|e| named(e, "write", &file))
    }
}

/// A fingerprint of a file's text: a pass counts only for the text it
/// passed on. The marker line is left out, so deleting it after a pass (as
/// the runner asks) does not undo the pass.
fn fingerprint(text: &str) -> String {
    let mut hasher = DefaultHasher::new();
    for line in text.lines().filter(|line| line.trim() != MARKER) {
        line.hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    std::path::absolute(path).map_err(|e| named(e, "find", path))
}

/// An I/O error that says what was being done to which file.
fn named(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("could not {doing} {}: {error}", path.display()),
    )
}
