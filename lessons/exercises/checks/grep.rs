//! Check for the `grep` exercise: sends lines, compares what comes back.

use yieldloop::{Generator, GeneratorState};

use super::report::{guarded, wrong, Outcome};

fn show(answer: &Option<String>) -> String {
    match answer {
        Some(line) => format!("Some(\"{line}\") (a match)"),
        None => "None (no match)".to_string(),
    }
}

/// Sends lines to `grep("python")` and checks each answer.
pub fn check(grep: fn(&str) -> Generator<String, Option<String>>) -> Outcome {
    let mut generator = guarded("grep(\"python\")", || grep("python"))?;
    let lines = ["deep python", "data", "rust", "python again"];
    for (number, line) in lines.into_iter().enumerate() {
        let wanted = line.contains("python").then(|| line.to_string());
        let call = format!("grep(\"python\").send(\"{line}\")");
        let answer = guarded(&call, || generator.send(line.to_string()))?;
        match answer {
            Ok(GeneratorState::Yielded(got)) if got == wanted => {}
            Ok(GeneratorState::Yielded(got)) => {
                let why = if number == 0 {
                    "the first line is the closure's second argument, `first_line`: \
                     did you test it before the first co.yield_?"
                } else {
                    "every later line is what co.yield_ returns: \
                     did you test the new line, not the previous one?"
                };
                return Err(wrong(format!(
                    "{call} yielded {}, expected {}.\n{why}",
                    show(&got),
                    show(&wanted)
                )));
            }
            Ok(GeneratorState::Returned(())) => {
                return Err(wrong(format!(
                    "{call}: the generator returned. grep must keep going \
                     (a loop) until the caller closes it."
                )))
            }
            Err(error) => {
                return Err(wrong(format!(
                    "{call} failed: {error}. Was the generator finished already?"
                )))
            }
        }
    }
    Ok(())
}
