//! Check for the `countdown` exercise: two countdowns under lesson 03's `run`.

use yieldloop::generators::run::{run, Coroutine, Yield};
use yieldloop::{Clock, Generator};

use super::report::{compare_traces, guarded, millis_of, trace, Log, Outcome};

type Countdown = fn(&Yield, u32, &dyn Fn(&str));

fn counter(
    name: &'static str,
    from: u32,
    countdown: Countdown,
    clock: Clock,
    log: Log,
) -> Coroutine {
    Generator::new(move |co, ()| {
        countdown(co, from, &|word| {
            log.at(clock.now(), &format!("{name} {word}"))
        });
        Ok(())
    })
}

/// `a` counts down from 3 and `b` from 2, at the same time.
pub fn check(countdown: Countdown) -> Outcome {
    let clock = Clock::new_virtual();
    let log = Log::default();
    let coroutines = vec![
        counter("a", 3, countdown, clock.clone(), log.clone()),
        counter("b", 2, countdown, clock.clone(), log.clone()),
    ];
    guarded("countdown under run()", || run(&clock, coroutines))?;
    let expected = trace(&[
        (0, "a 3"),
        (0, "b 2"),
        (1000, "a 2"),
        (1000, "b 1"),
        (2000, "a 1"),
        (2000, "b liftoff"),
        (3000, "a liftoff"),
    ]);
    compare_traces(&expected, &log.lines(), |want, got| {
        match (want.and_then(millis_of), got.and_then(millis_of)) {
            (Some(w), Some(g)) if w != g => {
                "the times are off: does each number come one second after the last, \
                 with your sleep yielding Request::Sleep(delay)?"
                    .into()
            }
            _ => "the words are off: from `from` down to 1, then `liftoff`".into(),
        }
    })
}
