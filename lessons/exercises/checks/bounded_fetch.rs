//! Check for the `bounded_fetch` exercise: exactly `limit` fetches in
//! flight, every URL fetched once, and the time that takes.

use std::cell::Cell;
use std::rc::Rc;

use yieldloop::{secs, sleep, SuspendError};

use super::report::{guarded, task_failed, virtual_loop, wrong, Outcome};

type Fetch = Rc<dyn Fn(&str) -> Result<usize, SuspendError>>;
type FetchAll =
    fn(Vec<String>, usize, Fetch) -> Result<Vec<(String, usize)>, Box<dyn std::error::Error>>;

/// Runs the learner's `fetch_all` over `count` URLs of 1 s each with
/// `limit`; checks the most in flight, the answers and the finishing time.
fn scenario(fetch_all: FetchAll, count: usize, limit: usize) -> Outcome {
    let mut event_loop = virtual_loop()?;
    let in_flight = Rc::new(Cell::new(0usize));
    let most = Rc::new(Cell::new(0usize));
    let fetch: Fetch = {
        let (in_flight, most) = (in_flight.clone(), most.clone());
        Rc::new(move |url: &str| {
            in_flight.set(in_flight.get() + 1);
            most.set(most.get().max(in_flight.get()));
            let slept = sleep(secs(1.0));
            in_flight.set(in_flight.get() - 1);
            slept?;
            Ok(url.len() * 100)
        })
    };
    let urls: Vec<String> = (0..count).map(|i| format!("http://site/{i}")).collect();
    let given = urls.clone();
    let (answer, took) = guarded("your fetch_all()", || {
        event_loop.run_until_complete(move || {
            let answer = fetch_all(given, limit, fetch);
            (
                answer.map_err(|e| e.to_string()),
                yieldloop::now().unwrap_or_default(),
            )
        })
    })?
    .map_err(task_failed)?;
    let mut answer = answer.map_err(|error| wrong(format!("fetch_all failed: {error}")))?;
    let most = most.get();
    if most > limit {
        return Err(wrong(format!(
            "{most} fetches were in flight at once, but the limit is {limit}: does every \
             fetch hold a permit until it is done (and take it before it starts)?"
        )));
    }
    if most < limit {
        return Err(wrong(format!(
            "at most {most} fetch(es) ran at once, though {limit} were allowed: are you \
             waiting for each fetch before starting the next? Start each in a task of its own."
        )));
    }
    answer.sort();
    let mut expected: Vec<(String, usize)> = urls
        .iter()
        .map(|url| (url.clone(), url.len() * 100))
        .collect();
    expected.sort();
    if answer != expected {
        return Err(wrong(format!(
            "expected every URL once with its size, {} in all; got {} answer(s), first {:?}",
            expected.len(),
            answer.len(),
            answer.first()
        )));
    }
    let rounds = count.div_ceil(limit) as f64;
    if (took.as_secs_f64() - rounds).abs() > 1e-6 {
        return Err(wrong(format!(
            "{count} fetches of 1 s, {limit} at a time, should take {rounds:.3} s; yours \
             returned at {:.3} s: did you wait for every fetch to finish (and only that)?",
            took.as_secs_f64()
        )));
    }
    Ok(())
}

/// Seven URLs three at a time (3 s), then four one at a time (4 s).
pub fn check(fetch_all: FetchAll) -> Outcome {
    scenario(fetch_all, 7, 3)?;
    scenario(fetch_all, 4, 1)
}
