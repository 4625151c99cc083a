//! Check for the `gather` exercise: results in order, in the longest time.

use std::time::Duration;

use yieldloop::{secs, sleep, spawn, JoinHandle, TaskError};

use super::report::{guarded, task_failed, virtual_loop, wrong, Outcome};

type Gather = fn(Vec<JoinHandle<&'static str>>) -> Result<Vec<&'static str>, TaskError>;

fn napper(seconds: f64, word: &'static str) -> impl FnOnce() -> &'static str {
    move || {
        let _ = sleep(secs(seconds));
        word
    }
}

/// Three tasks of 0.3, 0.1 and 0.2 s; then one that panics.
pub fn check(gather: Gather) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let ran = guarded("your gather_by_hand()", || {
        event_loop.run_until_complete(move || {
            let handles = vec![
                spawn("slow", napper(0.3, "slow")),
                spawn("fast", napper(0.1, "fast")),
                spawn("middle", napper(0.2, "middle")),
            ];
            let results = gather(handles);
            (results, yieldloop::now().unwrap_or_default())
        })
    })?;
    let (results, took) = ran.map_err(task_failed)?;
    match results {
        Ok(words) if words == ["slow", "fast", "middle"] => {}
        Ok(words) => {
            return Err(wrong(format!(
                "gather_by_hand returned [{}], expected [slow, fast, middle]: \
                 the results go in the order of the handles, not the order the tasks finished.",
                words.join(", ")
            )))
        }
        Err(error) => return Err(wrong(format!("gather_by_hand returned an error: {error}"))),
    }
    if took != Duration::from_millis(300) {
        return Err(wrong(format!(
            "gather_by_hand returned at {:.3} s; expected 0.300 s, the slowest task's time.",
            took.as_secs_f64()
        )));
    }
    let failing = guarded("your gather_by_hand()", || {
        event_loop.run_until_complete(move || {
            let handles = vec![
                spawn("fine", napper(0.1, "fine")),
                spawn("broken", || -> &'static str { panic!("broken on purpose") }),
            ];
            gather(handles)
        })
    })?;
    match failing {
        Ok(Err(TaskError::Panicked { task, .. })) if task == "broken" => Ok(()),
        Ok(Err(other)) => Err(wrong(format!(
            "with a task that panics, expected its error, got another one: {other}"
        ))),
        Ok(Ok(words)) => Err(wrong(format!(
            "a task panicked, but gather_by_hand returned results ({}): \
             the first error must come out instead.",
            words.join(", ")
        ))),
        Err(error) => Err(task_failed(error)),
    }
}
