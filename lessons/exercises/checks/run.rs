//! Check for the `run` exercise: traces on the virtual clock against a model.

use std::time::Duration;

use yieldloop::generators::run::Coroutine;
use yieldloop::{Clock, Generator, Request};

use super::report::{compare_traces, guarded, line, millis_of, Dice, Log, Outcome};

/// A coroutine named `name` that sleeps each of `sleeps` in turn, noting
/// `enter`, a `middle` after each sleep but the last, and `exit`.
fn sleeper(name: char, sleeps: Vec<Duration>, clock: Clock, log: Log) -> Coroutine {
    Generator::new(move |co, ()| {
        log.at(clock.now(), &format!("{name} enter"));
        let count = sleeps.len();
        for (i, delay) in sleeps.into_iter().enumerate() {
            co.yield_(Request::Sleep(delay))?;
            let word = if i + 1 == count { "exit" } else { "middle" };
            log.at(clock.now(), &format!("{name} {word}"));
        }
        if count == 0 {
            log.at(clock.now(), &format!("{name} exit"));
        }
        Ok(())
    })
}

/// The trace a correct `run` prints, worked out without coroutines: each
/// one is just a list of wake-up times.
fn model(all_sleeps: &[Vec<Duration>]) -> Vec<String> {
    let mut trace = Vec::new();
    // (next wake-up, name, sleeps done)
    let mut waiting: Vec<(Duration, char, usize)> = (0..all_sleeps.len())
        .map(|i| (Duration::ZERO, name_of(i), 0))
        .collect();
    while let Some(i) = (0..waiting.len()).min_by_key(|&i| waiting[i].0) {
        let (now, name, done) = waiting[i];
        let sleeps = &all_sleeps[(name as u8 - b'a') as usize];
        let word = match done {
            0 => "enter",
            d if d == sleeps.len() => "exit",
            _ => "middle",
        };
        trace.push(line(now, &format!("{name} {word}")));
        if done == 0 && sleeps.is_empty() {
            trace.push(line(now, &format!("{name} exit")));
        }
        if done < sleeps.len() {
            waiting[i] = (now + sleeps[done], name, done + 1);
        } else {
            waiting.remove(i);
        }
    }
    trace
}

fn name_of(i: usize) -> char {
    (b'a' + i as u8) as char
}

fn question(want: Option<&str>, got: Option<&str>) -> String {
    match (want.and_then(millis_of), got.and_then(millis_of)) {
        (Some(w), Some(g)) if g > w => "did `run` pick the earliest wake-up?".into(),
        (Some(w), Some(g)) if g < w => {
            "a coroutine woke too early: is its wake-up `clock.now() + delay`, \
             noted right after it yielded?"
                .into()
        }
        (Some(_), Some(_)) => {
            "two coroutines wake at the same time: the first one listed must go first".into()
        }
        (Some(_), None) => "did `run` stop before every coroutine had returned?".into(),
        _ => "a coroutine was resumed after it had returned".into(),
    }
}

fn one_case(run: fn(&Clock, Vec<Coroutine>), all_sleeps: &[Vec<Duration>]) -> Outcome {
    let clock = Clock::new_virtual();
    let log = Log::default();
    let coroutines = all_sleeps
        .iter()
        .enumerate()
        .map(|(i, sleeps)| sleeper(name_of(i), sleeps.clone(), clock.clone(), log.clone()))
        .collect();
    guarded("your run()", || run(&clock, coroutines))?;
    compare_traces(&model(all_sleeps), &log.lines(), question)
}

/// The slides' a and b, then 200 random sets of coroutines (the same ones
/// every time).
pub fn check(run: fn(&Clock, Vec<Coroutine>)) -> Outcome {
    let ms = Duration::from_millis;
    one_case(run, &[vec![ms(1000)], vec![ms(500), ms(500)]])?;
    let mut dice = Dice::new(14);
    for _ in 0..200 {
        let coroutines = 1 + dice.roll(4) as usize;
        let all_sleeps: Vec<Vec<Duration>> = (0..coroutines)
            .map(|_| (0..dice.roll(4)).map(|_| ms(dice.roll(4) * 250)).collect())
            .collect();
        one_case(run, &all_sleeps)?;
    }
    Ok(())
}
