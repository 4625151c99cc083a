//! The skip after a short read (issue 15, section 3), tried where it could
//! break. On the own epoll selector a stream that read fewer bytes than it
//! asked for waits for the next edge instead of reading again; these tests
//! make that bet lose if it is unsound: the FIN arriving in the same edge
//! as the last bytes, and data arriving later, or while the reader is busy
//! elsewhere. Each runs on every backend (on `polling` and select(2) the
//! skip is off, and the answers must be the same), beside a watchdog task,
//! so a lost wake-up fails in seconds instead of hanging. The last test
//! checks `YIELDLOOP_SELECTOR`, which picks the backend from outside.

mod common;

use common::reactor::loopback_pair;
use yieldloop::reactor::selector::SelectorKind;
use yieldloop::{secs, sleep, spawn, wait, yield_now, Builder, JoinHandle, TcpStream, WaitMode};

/// Runs `work` in a loop on `kind` next to a watchdog task; a hang fails the
/// test after 5 s (the work needs milliseconds) instead of hanging it.
fn with_watchdog<T: 'static>(kind: SelectorKind, work: impl FnOnce() -> T + 'static) -> T {
    let mut event_loop = Builder::new().selector(kind).build().unwrap();
    let answer = event_loop
        .run_until_complete(move || {
            let work = spawn("work", move || Some(work()));
            let watchdog = spawn("watchdog", || {
                sleep(secs(5.0)).unwrap();
                None
            });
            let (done, _) = wait(vec![work, watchdog], WaitMode::FirstCompleted).unwrap();
            done.into_iter().next().unwrap().join().unwrap()
        })
        .unwrap();
    answer.unwrap_or_else(|| panic!("{kind:?}: watchdog fired: the reader hung (a lost wake-up)"))
}

/// A task waiting to read a socket of its own until the returned stream is
/// dropped. While it waits, the loop asks the selector in every iteration,
/// so edges for a reader that is busy elsewhere are collected *then*, and
/// find no reader waiting (without it, a loop whose only task sleeps would
/// not look at the selector at all, and the edge would wait in the kernel).
fn bystander() -> (TcpStream, JoinHandle<usize>) {
    let (waiting, release) = loopback_pair();
    let handle = spawn("bystander", move || {
        let mut buf = [0u8; 1];
        waiting.read(&mut buf).unwrap()
    });
    (release, handle)
}

/// Every backend, each under its own watchdog.
fn on_every_backend<T: std::fmt::Debug + PartialEq + 'static>(expected: T, work: fn() -> T) {
    for kind in SelectorKind::ALL {
        assert_eq!(with_watchdog(kind, work), expected, "{kind:?}");
    }
}

/// The reader first makes a short read (so, on epoll, it is "drained" and
/// will wait before reading again), then the peer sends its last bytes and
/// closes in one go: one edge, carrying `EPOLLRDHUP`. The reader must get
/// the bytes, then end of file.
#[test]
fn last_bytes_and_fin_in_one_edge_after_a_short_read_give_the_bytes_then_eof() {
    on_every_backend((b"first".to_vec(), b"last".to_vec(), 0), || {
        let (ours, peer) = loopback_pair();
        let reader = spawn("reader", move || {
            let mut buf = [0u8; 64];
            let n = ours.read(&mut buf).unwrap(); // short: drained
            let first = buf[..n].to_vec();
            let n = ours.read(&mut buf).unwrap(); // waits for the edge
            let last = buf[..n].to_vec();
            let eof = ours.read(&mut buf).unwrap(); // must not wait
            (first, last, eof)
        });
        peer.write_all(b"first").unwrap();
        sleep(secs(0.02)).unwrap(); // the reader reads it and waits
        peer.write_all(b"last").unwrap();
        drop(peer); // the FIN, in the same step: one edge with the bytes
        reader.join().unwrap()
    });
}

/// The same edge arrives while the reader is busy elsewhere (sleeping, not
/// waiting on the socket): the loop must still note the FIN, so that the
/// short read of the last bytes does not make the reader wait for an edge
/// that already passed.
#[test]
fn last_bytes_and_fin_arriving_while_the_reader_is_busy_give_the_bytes_then_eof() {
    on_every_backend((b"last".to_vec(), 0), || {
        let (ours, peer) = loopback_pair();
        let (release, bystander) = bystander();
        let reader = spawn("reader", move || {
            let mut buf = [0u8; 64];
            // Registers the socket with the selector (a first wait), then
            // does something else while the bytes and the FIN come.
            let n = ours.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"hello");
            sleep(secs(0.05)).unwrap();
            let n = ours.read(&mut buf).unwrap(); // short: "last"
            let last = buf[..n].to_vec();
            let eof = ours.read(&mut buf).unwrap();
            (last, eof)
        });
        yield_now().unwrap(); // the reader waits in its first read
        peer.write_all(b"hello").unwrap();
        sleep(secs(0.02)).unwrap(); // it reads "hello" and starts sleeping
        peer.write_all(b"last").unwrap();
        drop(peer);
        let answer = reader.join().unwrap();
        drop(release);
        assert_eq!(bystander.join().unwrap(), 0);
        answer
    });
}

/// A short read, then more data later: the reader waits (on epoll without
/// asking the kernel first) and the new data's edge must wake it, both when
/// it arrives while the reader waits and while the reader is busy.
#[test]
fn a_short_read_then_more_data_later_wakes_the_reader() {
    on_every_backend(
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
        || {
            let (ours, peer) = loopback_pair();
            let (release, bystander) = bystander();
            let reader = spawn("reader", move || {
                let mut buf = [0u8; 64];
                let mut got = Vec::new();
                let n = ours.read(&mut buf).unwrap(); // short: drained
                got.push(buf[..n].to_vec());
                let n = ours.read(&mut buf).unwrap(); // waits; "two" comes
                got.push(buf[..n].to_vec());
                // Busy while "three" comes: the edge finds no waiter and
                // must still be remembered.
                sleep(secs(0.05)).unwrap();
                let n = ours.read(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
                got
            });
            peer.write_all(b"one").unwrap();
            sleep(secs(0.02)).unwrap();
            peer.write_all(b"two").unwrap();
            sleep(secs(0.01)).unwrap();
            peer.write_all(b"three").unwrap();
            let got = reader.join().unwrap();
            drop((peer, release));
            assert_eq!(bystander.join().unwrap(), 0);
            got
        },
    );
}

/// A read that fills the buffer is *not* short: more may be waiting, so
/// the next read asks the kernel at once (and gets the rest without any
/// new edge coming: the peer sends nothing more and stays open).
#[test]
fn a_full_read_is_not_a_drained_buffer() {
    on_every_backend((b"1234".to_vec(), b"5678".to_vec()), || {
        let (ours, peer) = loopback_pair();
        let reader = spawn("reader", move || {
            // Waits first (nothing sent yet), so the socket is registered
            // with the selector before the data comes.
            let mut buf = [0u8; 4];
            let n = ours.read(&mut buf).unwrap();
            let first = buf[..n].to_vec();
            let n = ours.read(&mut buf).unwrap();
            (first, buf[..n].to_vec())
        });
        yield_now().unwrap(); // the reader waits
        peer.write_all(b"12345678").unwrap(); // one segment on loopback
        let answer = reader.join().unwrap();
        drop(peer);
        answer
    });
}

/// `YIELDLOOP_SELECTOR` picks the backend of any lesson's loop; a name it
/// does not know stops the program with an error that lists the names
/// (the process-wide variable is set only in a child, never in this one).
#[test]
fn yieldloop_selector_picks_a_backend_and_a_wrong_name_is_a_clear_error() {
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_06-reactor"))
            .args(["ab", "--virtual"])
            .env("YIELDLOOP_SELECTOR", name)
            .output()
            .unwrap()
    };
    let wrong = run("kqueue");
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(
        message.contains("YIELDLOOP_SELECTOR: unknown selector \"kqueue\"")
            && message.contains("polling"),
        "{message}"
    );
    for name in ["epoll", "polling", "select"] {
        let ok = run(name);
        assert!(
            ok.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(
            String::from_utf8_lossy(&ok.stdout).contains("b middle"),
            "{name}"
        );
    }
}
