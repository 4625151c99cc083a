//! The lesson ladder: the one list every table of lessons is made from.
//!
//! `cargo run` prints it, the README and the book show it, and a test checks
//! that it names exactly the lesson binaries in `Cargo.toml`. Adding a lesson
//! means adding one entry here; nothing else keeps a copy.

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lesson {
    /// The binary's name, as given to `cargo run --bin`.
    pub bin: &'static str,
    /// A few words.
    pub title: &'static str,
    /// One line: the idea the lesson adds.
    pub summary: &'static str,
    /// The lesson's source file, from the repository root.
    pub source: &'static str,
    /// The book chapter, from `docs/src`.
    pub chapter: &'static str,
}

impl Lesson {
    /// The command that runs the lesson.
    pub fn command(&self) -> String {
        format!("cargo run --bin {}", self.bin)
    }

    /// The lesson's number, read from its binary name (`03-run-loop` → 3).
    pub fn number(&self) -> u32 {
        let digits: String = self.bin.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or(0)
    }
}

/// Every lesson, in the order to take them.
pub const LESSONS: &[Lesson] = &[
    Lesson {
        bin: "01-blocking",
        title: "Blocking calls",
        summary: "two functions that sleep run one after the other: 2 s for 1 s of waiting each",
        source: "lessons/01_blocking.rs",
        chapter: "lesson-01-blocking.md",
    },
    Lesson {
        bin: "02-generators",
        title: "Generators",
        summary: "send, throw, close and delegation on a stackful coroutine",
        source: "lessons/02_generators.rs",
        chapter: "lesson-02-generators.md",
    },
    Lesson {
        bin: "03-run-loop",
        title: "The run loop",
        summary: "coroutines yield sleep requests; a min-wakeup loop overlaps their waits",
        source: "lessons/03_run_loop.rs",
        chapter: "lesson-03-run-loop.md",
    },
    Lesson {
        bin: "04-sleep",
        title: "sleep() as a function",
        summary: "the request hidden in a helper; a panic's backtrace shows every frame",
        source: "lessons/04_sleep.rs",
        chapter: "lesson-04-sleep.md",
    },
    Lesson {
        bin: "05-select-echo",
        title: "select(2): one thread, many clients",
        summary: "tasks wait to read or write sockets; one loop runs timers and select(2)",
        source: "lessons/05_select_echo.rs",
        chapter: "lesson-05-select-echo.md",
    },
    Lesson {
        bin: "06-reactor",
        title: "The reactor",
        summary: "asyncio's run_once: ready queue, timers, epoll; sockets that look blocking, and what that costs",
        source: "lessons/06_reactor.rs",
        chapter: "lesson-06-reactor.md",
    },
    Lesson {
        bin: "07-tasks",
        title: "Tasks and futures",
        summary: "join, gather, a panicking task, a callback API as a future, update_index",
        source: "lessons/07_tasks.rs",
        chapter: "lesson-07-tasks.md",
    },
    Lesson {
        bin: "08-cancel",
        title: "Cancellation and scopes",
        summary: "cancel at the suspension point, wait_for, shield, scope (trio's nursery), grandfather → father → son",
        source: "lessons/08_cancel.rs",
        chapter: "lesson-08-cancel.md",
    },
    Lesson {
        bin: "09-sync",
        title: "Synchronisation between tasks",
        summary: "the transfer race and its Lock, a bounded Queue with join, a Semaphore bounding jobs",
        source: "lessons/09_sync.rs",
        chapter: "lesson-09-sync.md",
    },
    Lesson {
        bin: "10-executor",
        title: "Blocking code and other threads",
        summary: "run_in_executor on a thread pool, call_soon_threadsafe, DNS, child processes, files",
        source: "lessons/10_executor.rs",
        chapter: "lesson-10-executor.md",
    },
    Lesson {
        bin: "11-debug",
        title: "Seeing the loop",
        summary: "debug mode names a blocking call and a task never joined; dump_tasks() shows suspended stacks; the a/b timeline",
        source: "lessons/11_debug.rs",
        chapter: "lesson-11-debug.md",
    },
    Lesson {
        bin: "12-async-await",
        title: "async/await: the same loop, stackless",
        summary:
            "the slides' a/b as async fns on a small executor over the reactor: Waker, poll, Pin",
        source: "lessons/12_async_await.rs",
        chapter: "lesson-12-async-await.md",
    },
];

/// The ladder as a Markdown table. Chapter links start with `link_prefix`:
/// `"docs/src/"` from the README, `""` from inside the book.
pub fn markdown(link_prefix: &str) -> String {
    let mut out = String::from("| # | lesson | what it adds | run it |\n|---|---|---|---|\n");
    for lesson in LESSONS {
        out.push_str(&format!(
            "| {:02} | [{}]({link_prefix}{}) | {} | `{}` |\n",
            lesson.number(),
            lesson.title,
            lesson.chapter,
            lesson.summary,
            lesson.command()
        ));
    }
    out
}

/// The ladder as a person reads it in a terminal.
pub fn plain() -> String {
    let mut out = String::new();
    for lesson in LESSONS {
        out.push_str(&format!(
            "  {:02}  {}\n      {}\n      $ {}\n\n",
            lesson.number(),
            lesson.title,
            lesson.summary,
            lesson.command()
        ));
    }
    out
}
