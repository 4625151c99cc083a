//! Small pieces the reactor's in-process tests share: a virtual-clock loop,
//! a connected loopback pair, and the check that a hopeless wait is `Stuck`.

use yieldloop::{Builder, Clock, EventLoop, Future, TaskError, TcpStream};

/// A loop on a virtual clock, and the clock: timers fire at exact times, at once.
pub fn virtual_loop() -> (EventLoop, Clock) {
    let clock = Clock::new_virtual();
    let event_loop = Builder::new().clock(clock.clone()).build().unwrap();
    (event_loop, clock)
}

/// A connected pair on loopback: (the loop's end, the peer's end).
pub fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    (
        TcpStream::from_std(ours).unwrap(),
        TcpStream::from_std(peer).unwrap(),
    )
}

/// A `main` waiting on a future nobody will complete, with nothing else left
/// in the loop, is reported [`TaskError::Stuck`] instead of waiting for ever.
pub fn assert_a_hopeless_wait_is_stuck(event_loop: &mut EventLoop) {
    let result = event_loop.run_until_complete(|| {
        let never: Future<(), TaskError> = Future::new();
        never.wait()
    });
    assert_eq!(
        result,
        Err(TaskError::Stuck {
            task: "main".into()
        })
    );
}
