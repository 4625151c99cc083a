//! Check for the `call_later` exercise: a and b with `nap`, on the reactor.

use std::error::Error;
use std::time::Duration;

use super::report::{
    compare_traces, guarded, millis_of, task_failed, trace, virtual_loop, wrong, Log, Outcome,
};

type Nap = fn(Duration) -> Result<(), Box<dyn Error>>;

/// The slides' trace: a sleeps 1 s; b sleeps 0.5 s twice.
pub fn check(nap: Nap) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let log = Log::default();
    let ms = Duration::from_millis;
    let a = {
        let log = log.clone();
        move || -> Result<(), Box<dyn Error>> {
            log.now("a enter");
            nap(ms(1000))?;
            log.now("a exit");
            Ok(())
        }
    };
    let b = {
        let log = log.clone();
        move || -> Result<(), Box<dyn Error>> {
            log.now("b enter");
            nap(ms(500))?;
            log.now("b middle");
            nap(ms(500))?;
            log.now("b exit");
            Ok(())
        }
    };
    let ran = guarded("a and b with your nap", || {
        event_loop.run_until_complete(move || {
            let a = yieldloop::spawn("a", a);
            let b = yieldloop::spawn("b", b);
            (a.join(), b.join())
        })
    })?;
    let problems: Vec<String> = match ran {
        Err(error) => vec![error.to_string()],
        Ok((a, b)) => [a, b]
            .into_iter()
            .filter_map(|joined| match joined {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(format!("nap returned an error: {error}")),
                Err(error) => Some(error.to_string()),
            })
            .collect(),
    };
    if let Some(problem) = problems.first() {
        return Err(task_failed(problem));
    }
    let expected = trace(&[
        (0, "a enter"),
        (0, "b enter"),
        (500, "b middle"),
        (1000, "a exit"),
        (1000, "b exit"),
    ]);
    compare_traces(&expected, &log.lines(), |want, got| {
        match (want.and_then(millis_of), got.and_then(millis_of)) {
            (Some(w), Some(g)) if g < w => {
                "a task went on too early: does nap wait on the future until the timer completes it?"
                    .into()
            }
            (Some(w), Some(g)) if g > w => "a task woke too late: is the timer set for `delay`?".into(),
            _ => "the order is off".into(),
        }
    })?;
    if event_loop.timer_count() != 0 {
        return Err(wrong(
            "the trace is right, but a timer is still pending after both tasks ended",
        ));
    }
    Ok(())
}
