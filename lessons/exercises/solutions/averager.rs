//! Reference solution to the `averager` exercise.

use yieldloop::Generator;

/// Sent numbers; after each, yields the average of all sent so far.
pub fn averager() -> Generator<f64, f64> {
    Generator::new(|co, first: f64| {
        let (mut total, mut count) = (0.0, 0.0);
        let mut number = first;
        loop {
            total += number;
            count += 1.0;
            number = co.yield_(total / count)?;
        }
    })
}
