//! Check for the `select_loop` exercise: a ping-pong and a bulk transfer
//! over socket pairs, which only finish if parked tasks are woken.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use yieldloop::{Generator, Request};

use super::report::{guarded, wrong, Log, Outcome};

type Task = Generator<(), Request>;

const BULK: usize = 1 << 20;

fn pair() -> Result<(UnixStream, UnixStream), super::report::Failure> {
    let made = UnixStream::pair().and_then(|(a, b)| {
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((a, b))
    });
    made.map_err(|error| wrong(format!("could not make a socket pair: {error}")))
}

/// Reads what is there, parking on `Read` while the socket would block.
fn read_some(co: &yieldloop::Co<(), Request>, sock: &mut UnixStream, buf: &mut [u8]) -> usize {
    loop {
        match sock.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = co.yield_(Request::Read(sock.as_raw_fd()));
            }
            Err(_) => return 0,
        }
    }
}

fn write_all(co: &yieldloop::Co<(), Request>, sock: &mut UnixStream, mut data: &[u8]) {
    while !data.is_empty() {
        match sock.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = co.yield_(Request::Write(sock.as_raw_fd()));
            }
            Err(_) => return,
        }
    }
}

/// Runs the learner's loop over four tasks and reads what each noted.
pub fn check(run: fn(Vec<Task>) -> io::Result<()>) -> Outcome {
    let log = Log::default();
    let (mut ping_end, mut pong_end) = pair()?;
    let (mut sender_end, mut receiver_end) = pair()?;
    let ping: Task = Generator::new({
        let log = log.clone();
        move |co, ()| {
            write_all(co, &mut ping_end, b"ping");
            let mut buf = [0; 16];
            let n = read_some(co, &mut ping_end, &mut buf);
            log.at(
                Default::default(),
                &format!("ping got {}", String::from_utf8_lossy(&buf[..n])),
            );
            Ok(())
        }
    });
    let pong: Task = Generator::new({
        let log = log.clone();
        move |co, ()| {
            let mut buf = [0; 16];
            let n = read_some(co, &mut pong_end, &mut buf);
            log.at(
                Default::default(),
                &format!("pong got {}", String::from_utf8_lossy(&buf[..n])),
            );
            write_all(co, &mut pong_end, b"pong");
            Ok(())
        }
    });
    // 1 MiB does not fit in a socket buffer: the sender must park on
    // `Write` and be woken when the receiver has drained some.
    let sender: Task = Generator::new(move |co, ()| {
        write_all(co, &mut sender_end, &vec![7; BULK]);
        drop(sender_end); // the receiver then reads 0: end of data
        Ok(())
    });
    let receiver: Task = Generator::new({
        let log = log.clone();
        move |co, ()| {
            let mut total = 0;
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = read_some(co, &mut receiver_end, &mut buf);
                if n == 0 {
                    break;
                }
                total += n;
            }
            log.at(Default::default(), &format!("receiver got {total} bytes"));
            Ok(())
        }
    });
    let result = guarded("your run()", || run(vec![ping, pong, sender, receiver]))?;
    if let Err(error) = result {
        return Err(wrong(format!("your run() returned an error: {error}")));
    }
    let mut lines: Vec<String> = log
        .lines()
        .into_iter()
        .map(|l| {
            l.split_once(' ')
                .map_or(l.clone(), |(_, what)| what.to_string())
        })
        .collect();
    lines.sort();
    let expected = [
        "ping got pong",
        "pong got ping",
        &format!("receiver got {BULK} bytes"),
    ];
    for wanted in expected {
        if !lines.iter().any(|l| l == wanted) {
            return Err(wrong(format!(
                "your run() returned, but no task noted `{wanted}` (they noted: {}).\n\
                 Did run() return while tasks were still parked in to_read or to_write? \
                 It may stop only when all three (ready, to_read, to_write) are empty.",
                if lines.is_empty() {
                    "nothing".to_string()
                } else {
                    lines.join("; ")
                }
            )));
        }
    }
    Ok(())
}
