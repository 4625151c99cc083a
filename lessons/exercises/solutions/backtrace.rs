//! Reference solution to the `backtrace` exercise.

/// The functions in the backtrace, innermost (the one that panicked) first.
///
/// All of them: corosensei marks its stack switch with unwinding
/// information, so the unwinder walks from the coroutine's stack back onto
/// the main one, through the `send` that resumed it, the loop, and `main`.
pub fn frames() -> Vec<&'static str> {
    vec![
        "check_length",
        "read_header",
        "handle_request",
        "handler",
        "Generator::send",
        "run",
        "main",
    ]
}
