//! Check for the `averager` exercise: sends numbers, compares the averages.

use yieldloop::{Generator, GeneratorState};

use super::report::{guarded, wrong, Outcome};

/// Sends 10, 20, 0, 30 and expects 10, 15, 10, 15.
pub fn check(averager: fn() -> Generator<f64, f64>) -> Outcome {
    let mut generator = guarded("averager()", averager)?;
    let mut sent = Vec::new();
    for (number, wanted) in [(10.0, 10.0), (20.0, 15.0), (0.0, 10.0), (30.0, 15.0)] {
        sent.push(number.to_string());
        let call = format!("send({number})");
        match guarded(&call, || generator.send(number))? {
            Ok(GeneratorState::Yielded(got)) if (got - wanted).abs() < 1e-9 => {}
            Ok(GeneratorState::Yielded(got)) => {
                return Err(wrong(format!(
                    "after sending {}, averager yielded {got}, expected {wanted} \
                     (their average).\nDoes the total include the first number, \
                     the closure's argument?",
                    sent.join(", ")
                )))
            }
            Ok(GeneratorState::Returned(())) | Err(_) => {
                return Err(wrong(format!(
                    "{call}: the generator had already finished. It should loop \
                     until the caller closes it."
                )))
            }
        }
    }
    Ok(())
}
