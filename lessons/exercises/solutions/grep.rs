//! Reference solution to the `grep` exercise.

use yieldloop::Generator;

/// Sent lines; yields `Some(line)` for lines containing `pattern`, else `None`.
pub fn grep(pattern: &str) -> Generator<String, Option<String>> {
    let pattern = pattern.to_string();
    Generator::new(move |co, first_line: String| {
        let mut line = first_line;
        loop {
            let verdict = line.contains(&pattern).then_some(line);
            line = co.yield_(verdict)?;
        }
    })
}
