//! The workshop's exercises in ladder order: name, the lesson each follows,
//! three hints, and how the runner calls its check. The one list: the
//! runner, its tests and `tests/exercises.rs` all read it.

/// One exercise.
pub struct Exercise {
    /// What the learner types: `check grep`. Also the file's name, `grep.rs`.
    pub name: &'static str,
    /// The lesson it follows, as the ladder numbers it.
    pub lesson: &'static str,
    /// The book page of its group (docs/src/).
    pub page: &'static str,
    /// One line: what the learner writes.
    pub summary: &'static str,
    /// A nudge, then the idea, then the shape of the code.
    pub hints: [&'static str; 3],
    /// The Rust expression that checks `exercise` (the learner's file, as a
    /// module) with `checks::NAME`; it evaluates to a `report::Outcome`.
    pub check_call: &'static str,
}

/// Every exercise, in the order to do them.
pub const EXERCISES: &[Exercise] = &[
    Exercise {
        name: "grep",
        lesson: "02",
        page: "workshop-generators.md",
        summary: "a generator that consumes lines with send",
        hints: [
            "The first line is not sent through co.yield_: it is the closure's second argument.",
            "Hold the current line in a variable. Loop: decide Some(line) or None, yield it, and \
             the value co.yield_ returns is the next line.",
            "let mut line = first_line;\nloop {\n    let verdict = /* Some(line) if it contains \
             the pattern, else None */;\n    line = co.yield_(verdict)?;\n}",
        ],
        check_call: "checks::grep::check(exercise::grep)",
    },
    Exercise {
        name: "averager",
        lesson: "02",
        page: "workshop-generators.md",
        summary: "a generator that remembers: the running average",
        hints: [
            "Where can a generator keep a running total between two sends?",
            "In local variables of its body: they live on the coroutine's own stack while it is \
             suspended. Count the first number (the argument) too.",
            "let (mut total, mut count) = (0.0, 0.0);\nlet mut number = first;\nloop {\n    \
             total += number; count += 1.0;\n    number = co.yield_(total / count)?;\n}",
        ],
        check_call: "checks::averager::check(exercise::averager)",
    },
    Exercise {
        name: "run",
        lesson: "03",
        page: "workshop-generators.md",
        summary: "the min-wakeup scheduler, from memory",
        hints: [
            "Every coroutine starts wanting to wake at clock.now(). What does the loop pick each time?",
            "Keep a Vec of (wake-up time, coroutine). Pick the smallest time (the first one on a \
             tie), sleep_until it, send(()); on Yielded(Sleep(d)) its new time is now + d, on \
             Returned remove it.",
            "let mut wakes: Vec<(Duration, Coroutine)> = ...;\nwhile let Some(i) = \
             (0..wakes.len()).min_by_key(|&i| wakes[i].0) {\n    clock.sleep_until(wakes[i].0);\n    \
             match wakes[i].1.send(()) { /* Sleep(d) => new time; otherwise remove(i) */ }\n}",
        ],
        check_call: "checks::run::check(exercise::run)",
    },
    Exercise {
        name: "countdown",
        lesson: "04",
        page: "workshop-generators.md",
        summary: "sleep as a helper, used from another helper",
        hints: [
            "sleep is one line: what does a coroutine yield to be woken later?",
            "sleep yields Request::Sleep(delay) through co. countdown is a plain loop that calls \
             say and then your sleep: no yield in sight.",
            "pub fn sleep(co: &Yield, delay: Duration) {\n    let Ok(()) = \
             co.yield_(Request::Sleep(delay));\n}\n// countdown: for n in (1..=from).rev() { \
             say(..); sleep(co, 1 s) }; say(\"liftoff\")",
        ],
        check_call: "checks::countdown::check(exercise::countdown)",
    },
    Exercise {
        name: "backtrace",
        lesson: "04",
        page: "workshop-generators.md",
        summary: "the question: what a panic inside a coroutine shows",
        hints: [
            "Run it: RUST_BACKTRACE=1 cargo run --bin 04-sleep, and read from the top.",
            "A stackful coroutine's frames are real frames, and corosensei tells the unwinder how \
             to step from the coroutine's stack to the stack that resumed it.",
            "Innermost first: the function that panicked, its callers up to the coroutine's body, \
             then what resumed the coroutine, up to main.",
        ],
        check_call: "checks::backtrace::check(exercise::frames)",
    },
    Exercise {
        name: "select_loop",
        lesson: "05",
        page: "workshop-io.md",
        summary: "Beazley's loop: ready, to_read, to_write",
        hints: [
            "Three places a task can be: ready to go on, parked until its socket is readable, \
             parked until it is writable.",
            "Resume each ready task; park it in to_read or to_write under the descriptor it \
             names. When ready is empty, ask wait_ready about the parked descriptors and move \
             their tasks back. Stop when all three are empty.",
            "loop {\n    while let Some(mut task) = ready.pop_front() { match task.send(()) { \
             Read(fd) => to_read.insert(fd, task), .. } }\n    if to_read.is_empty() && \
             to_write.is_empty() { return Ok(()) }\n    let (r, w) = wait_ready(&keys_r, &keys_w, \
             None)?;\n    // remove those from to_read / to_write into ready\n}",
        ],
        check_call: "checks::select_loop::check(exercise::run)",
    },
    Exercise {
        name: "call_later",
        lesson: "06",
        page: "workshop-reactor.md",
        summary: "sleep made of a timer and a future",
        hints: [
            "A task waits on a Future. Who completes it, and when?",
            "Create a Future<()>, give a clone to a call_later callback that calls set_result, and \
             wait on the original.",
            "let handle = Handle::current()?;\nlet woken: Future<()> = Future::new();\nlet wake = \
             woken.clone();\nhandle.call_later(delay, move || { let _ = wake.set_result(()); \
             });\nwoken.wait()",
        ],
        check_call: "checks::call_later::check(exercise::nap)",
    },
    Exercise {
        name: "run_once",
        lesson: "06",
        page: "workshop-reactor.md",
        summary: "one turn of a reactor, with the due-timers part missing",
        hints: [
            "Step 1 may have slept until the earliest deadline. Which timers are due now?",
            "Every timer with deadline <= clock.now(). Take them out of `timers` and append their \
             callbacks to `ready`, sorted by (deadline, order scheduled).",
            "let now = self.clock.now();\nlet mut due = /* timers with deadline <= now, removed */;\n\
             due.sort_by_key(|&(deadline, order, _)| (deadline, order));\n\
             self.ready.extend(due.into_iter().map(|(_, _, callback)| callback));",
        ],
        check_call: "{ crate::impl_mini_loop!(exercise::MiniLoop); \
                     checks::run_once::check::<exercise::MiniLoop>() }",
    },
    Exercise {
        name: "starved_socket",
        lesson: "06",
        page: "workshop-break-it.md",
        summary: "break-it: a loop whose sockets starve behind a busy callback",
        hints: [
            "When does run_once ask about the sockets? What if something is always ready?",
            "Ask every turn. When callbacks are waiting, do not block: a zero timeout only \
             collects what is already readable.",
            "if !self.readers.is_empty() {\n    let timeout = if self.ready.is_empty() { None } \
             else { Some(Duration::ZERO) };\n    self.poll_readers(timeout)?;\n}",
        ],
        check_call: "{ crate::impl_io_loop!(exercise::IoLoop); \
                     checks::starved_socket::check::<exercise::IoLoop>() }",
    },
    Exercise {
        name: "gather",
        lesson: "07",
        page: "workshop-reactor.md",
        summary: "gather by hand from JoinHandles",
        hints: [
            "The tasks are already running. What does joining them one by one cost?",
            "Join each handle in order: while you wait for the first, the others run too, so the \
             whole takes the longest task's time. Stop at the first error.",
            "handles.into_iter().map(JoinHandle::join).collect()\n// collect() into \
             Result<Vec<T>, TaskError> stops at the first Err",
        ],
        check_call: "checks::gather::check(exercise::gather_by_hand)",
    },
    Exercise {
        name: "callback_future",
        lesson: "07",
        page: "workshop-reactor.md",
        summary: "a callback API as something a task can wait on",
        hints: [
            "A task cannot wait on a callback. What can it wait on, that a callback can complete?",
            "A Future: create it, pass a clone into the callback, which completes it with what \
             it was given; wait on the future.",
            "let page: Future<String> = Future::new();\nlet arrived = page.clone();\n\
             fetch_with_callback(url, move |outcome| { let _ = \
             arrived.complete(outcome.map_err(Into::into)); });\npage.wait().map_err(|e| \
             e.to_string())",
        ],
        check_call: "checks::callback_future::check(exercise::fetch)",
    },
    Exercise {
        name: "lost_wakeup",
        lesson: "07",
        page: "workshop-break-it.md",
        summary: "break-it: a flag that forgets it was set",
        hints: [
            "What happens if set() runs while nobody is waiting yet?",
            "set() wakes only the tasks already waiting, and leaves nothing behind. A waiter \
             that comes later waits forever: remember that the flag is set.",
            "is_set: Cell<bool> in Flag;\nset(): self.is_set.set(true); then wake the waiters;\n\
             wait(): if self.is_set.get() { return Ok(()) } before registering.",
        ],
        check_call: "{ crate::impl_flag!(exercise::Flag); \
                     checks::lost_wakeup::check::<exercise::Flag>() }",
    },
    Exercise {
        name: "wait_for",
        lesson: "08",
        page: "workshop-cancel.md",
        summary: "a time limit from scope and cancel",
        hints: [
            "Something must cancel the work at the deadline. Something else must wait for the \
             work. And one of them must be tidied up when the other wins.",
            "In a scope, spawn the work as a child (in an Rc, so a timer can reach it too). \
             call_later(timeout) cancels the child. Wait on child.future(); then cancel the timer.",
            "scope(|s| {\n    let child = Rc::new(s.spawn(\"work\", work));\n    let deadline = \
             handle.call_later(timeout, { let child = child.clone(); move || { child.cancel(); } \
             });\n    let result = child.future().wait();\n    if let Some(d) = deadline { d.cancel(); }\n    \
             result.ok()\n}).ok().flatten()",
        ],
        check_call: "checks::wait_for::check(|timeout, work| exercise::my_wait_for(timeout, work))",
    },
    Exercise {
        name: "forgotten_cancel",
        lesson: "08",
        page: "workshop-break-it.md",
        summary: "break-it: a heartbeat task that outlives its job",
        hints: [
            "What stops the heartbeat task? Does dropping its JoinHandle?",
            "Nothing stops it: a dropped handle only means nobody will join. Cancel it when the \
             download returns, on every path out (including `?`): a guard whose Drop cancels, \
             or a scope.",
            "struct CancelOnDrop<T: 'static>(JoinHandle<T>);\nimpl<T: 'static> Drop for CancelOnDrop<T> { fn \
             drop(&mut self) { self.0.cancel(); } }\nlet _stop = CancelOnDrop(heartbeat);",
        ],
        check_call: "checks::forgotten_cancel::check(exercise::download)",
    },
    Exercise {
        name: "transfer",
        lesson: "09",
        page: "workshop-break-it.md",
        summary: "break-it: two transfers race past the balance check",
        hints: [
            "Where can another task run between `payer.get() < amount` and `payer.set(..)`?",
            "At yield_now (the log write). Nothing stops a second transfer from passing the \
             check there. The lock you are given exists for that: hold it across the whole \
             check-then-withdraw.",
            "let _held = lock.acquire()?; // first line of transfer; dropped when it returns",
        ],
        check_call: "checks::transfer::check(exercise::transfer)",
    },
    Exercise {
        name: "bounded_fetch",
        lesson: "09",
        page: "workshop-fetcher.md",
        summary: "the fetcher, part 1: at most N requests in flight",
        hints: [
            "What lets at most N tasks through a door at once, and makes the others wait?",
            "A Semaphore of `limit` permits. Take a permit *before* spawning each URL's task \
             (so there are never more tasks than permits), move it into the task, drop it when \
             the fetch is done. Then join every task.",
            "let permits = Semaphore::new(limit);\nfor url in urls {\n    let permit = \
             permits.acquire()?;\n    tasks.push(spawn(\"fetch\", move || { let n = fetch(&url); \
             drop(permit); n.map(|n| (url, n)) }));\n}\n// then: for task in tasks { task.join() }",
        ],
        check_call: "checks::bounded_fetch::check(exercise::fetch_all)",
    },
    Exercise {
        name: "async_write",
        lesson: "10",
        page: "workshop-fetcher.md",
        summary: "the fetcher, part 2: write to disk without blocking the loop",
        hints: [
            "Which thread runs `write()` as the stub stands? What else could run on it meanwhile?",
            "The loop's own thread: nothing else runs until the disk answers. Lesson 10's \
             run_in_executor runs a blocking closure on a pool thread while only this task waits.",
            "run_in_executor(write)? // the outer ? is the executor's error, what remains is \
             the write's io::Result",
        ],
        check_call: "checks::async_write::check(exercise::save)",
    },
    Exercise {
        name: "find_the_blocker",
        lesson: "11",
        page: "workshop-timelines.md",
        summary: "read a timeline, find the task that holds the loop, fix it",
        hints: [
            "Look at the timeline the check prints, not at the code: which row has a long █ bar?",
            "resize_images crunches all four images in one step: cpu() never suspends, so \
             nobody else runs until the loop is handed back. The ticker's ─ ends on time, but \
             its tick waits for that bar to end.",
            "for _ in 0..4 {\n    cpu(secs(0.1));\n    yield_now()?; // a turn for the others\n}\n\
             (import yield_now from yieldloop)",
        ],
        check_call: "checks::find_the_blocker::check(exercise::dashboard)",
    },
];

/// The exercise called `name`.
pub fn find(name: &str) -> Option<&'static Exercise> {
    EXERCISES.iter().find(|exercise| exercise.name == name)
}

/// The exercise name closest to `typed`, if one is close enough to be a typo.
pub fn nearest(typed: &str) -> Option<&'static str> {
    let typed = typed.to_lowercase();
    EXERCISES
        .iter()
        .map(|exercise| (edit_distance(&typed, exercise.name), exercise.name))
        .filter(|&(distance, name)| {
            distance <= 3 || name.contains(typed.as_str()) || typed.contains(name)
        })
        .min()
        .map(|(_, name)| name)
}

/// Levenshtein distance: how many one-letter edits turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_exercise() {
        assert_eq!(nearest("gerp"), Some("grep"));
        assert_eq!(nearest("waitfor"), Some("wait_for"));
        assert_eq!(nearest("select"), Some("select_loop"));
        assert_eq!(nearest("xyzzy-quux"), None);
    }

    #[test]
    fn names_are_unique_and_in_ladder_order() {
        for (i, exercise) in EXERCISES.iter().enumerate() {
            assert_eq!(find(exercise.name).map(|e| e.lesson), Some(exercise.lesson));
            if let Some(next) = EXERCISES.get(i + 1) {
                assert!(
                    exercise.lesson <= next.lesson,
                    "{} before {}",
                    exercise.name,
                    next.name
                );
            }
        }
    }
}
