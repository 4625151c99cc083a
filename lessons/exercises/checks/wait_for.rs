//! Check for the `wait_for` exercise: in time, too late, and nothing left over.

use std::time::Duration;

use yieldloop::{secs, sleep, SuspendError};

use super::report::{compare_traces, guarded, task_failed, virtual_loop, wrong, Log, Outcome};

/// The work given to `wait_for`.
type Job = Box<dyn FnOnce() -> Result<u32, SuspendError>>;
type WaitFor = fn(Duration, Job) -> Option<u32>;

/// Notes when it is dropped: the work's cleanup.
struct Cleanup(Log);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.0.now("work cleaned up");
    }
}

/// Runs `work` under the learner's `wait_for` with a 1 s limit in a task
/// of its own, and notes what came back as `WHAT gave ANSWER`.
fn run_one(
    event_loop: &mut yieldloop::EventLoop,
    wait_for: WaitFor,
    log: &Log,
    what: &'static str,
    work: Job,
) -> Outcome {
    let log = log.clone();
    guarded("your my_wait_for()", || {
        event_loop.run_until_complete(move || {
            let answer = wait_for(secs(1.0), work);
            log.now(&format!("{what} gave {answer:?}"));
        })
    })?
    .map_err(task_failed)
}

/// Work of 0.5 s under a 1 s limit, then work of 5 s under a 1 s limit.
pub fn check(wait_for: WaitFor) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let log = Log::default();
    let job = |seconds: f64| -> Job {
        let log = log.clone();
        Box::new(move || {
            let _cleanup = Cleanup(log);
            sleep(secs(seconds))?;
            Ok(42)
        })
    };
    let (quick, slow) = (job(0.5), job(5.0));
    run_one(&mut event_loop, wait_for, &log, "quick work", quick)?;
    // Checked between the two: once the quick work is done, its deadline
    // must be gone, or it would fire later into whatever the caller does next.
    if event_loop.timer_count() != 0 {
        return Err(wrong(
            "the quick work finished, but its deadline timer is still pending: \
             cancel the timer once the work has finished",
        ));
    }
    run_one(&mut event_loop, wait_for, &log, "slow work", slow)?;
    let expected = vec![
        "0.500 work cleaned up".to_string(),
        "0.500 quick work gave Some(42)".to_string(),
        "1.500 work cleaned up".to_string(),
        "1.500 slow work gave None".to_string(),
    ];
    compare_traces(&expected, &log.lines(), |want, got| match (want, got) {
        (Some(w), Some(g)) if w.contains("quick") && g.starts_with("1.000") => {
            "the quick work finished at 0.500, but you returned at the deadline: \
             wait for the child, not for the timer"
                .into()
        }
        (Some(w), Some(g)) if w.contains("slow") && g.starts_with("5.") => {
            "the slow work ran to its end: did the timer cancel the child at the deadline?".into()
        }
        (Some(w), _) if w.contains("cleaned") => {
            "the work's cleanup should run before you return: a scope waits for its children".into()
        }
        _ => "Some(value) when the work finished in time, None when it was cancelled".into(),
    })?;
    if event_loop.timer_count() != 0 || event_loop.task_count() != 0 {
        return Err(wrong(format!(
            "the answers are right, but {} timer(s) and {} task(s) are left on the loop: \
             cancel the deadline timer once the work has finished",
            event_loop.timer_count(),
            event_loop.task_count()
        )));
    }
    Ok(())
}
