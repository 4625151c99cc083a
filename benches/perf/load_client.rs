//! The load client: thousands of TCP connections playing ping-pong with an
//! upper-casing echo server, every byte of every reply checked.
//!
//! It is the same client for every server we measure (lesson 06 and the tokio
//! baseline), so the servers are compared under identical load. It is written
//! to cost as little CPU as it can, because on a 2-core machine the client and
//! the server share the cores:
//!
//! * one thread, one `polling::Poller` (epoll), **level-triggered**: a
//!   connection waiting for its echo stays registered for "readable" and needs
//!   no re-arming syscall per message (oneshot mode would cost one `epoll_ctl`
//!   per round trip);
//! * a round trip is one `write` of 64 bytes and usually one `read`.
//!
//! A run has two phases, so the timed part measures only ping-pong:
//!
//! ```text
//!   LoadClient::connect_all          LoadClient::ping_pong(duration)
//!   ───────────────────────          ───────────────────────────────
//!   open N sockets, at most          every connection: send 64 bytes, wait for
//!   `max_connecting` at a time,      the upper-cased echo, check it, send the
//!   each does one round trip         next … until `duration` is over, then
//!   and then idles (held open)       wait for the replies still on the way
//! ```
//!
//! Pacing the connects matters: a listening socket queues at most its backlog
//! of not-yet-accepted connections (1,024 in this course); connecting 10,000
//! at once would overflow it and the kernel would drop SYNs, to be retried a
//! second later. Limiting how many connections may be "between `connect` and
//! their first echo" keeps the queue short whatever the server's speed.
//!
//! Nothing here can hang: every wait has a timeout, and a connection with no
//! reply for `stall_timeout` is counted as an error and closed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};
use socket2::{Domain, Protocol, Socket, Type};

/// Bytes in one ping (and in its pong).
pub const MESSAGE_LEN: usize = 64;

/// How many error messages are kept word for word; the rest are only counted.
const KEPT_ERRORS: usize = 8;

/// How a load run is shaped.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections to open and hold.
    pub connections: usize,
    /// At most this many connections may be connecting or waiting for their
    /// first echo at once (see the module docs: keeps the backlog short).
    pub max_connecting: usize,
    /// A connection waiting longer than this for a reply, while nothing else
    /// makes progress either, is an error.
    pub stall_timeout: Duration,
}

/// What the timed ping-pong phase achieved.
#[derive(Debug, Clone)]
pub struct PingPongReport {
    /// Round trips completed and checked, over all connections.
    pub round_trips: u64,
    /// From the first ping to the last pong.
    pub elapsed: Duration,
    /// The fewest round trips any live connection completed: shows that every
    /// connection took part, not just a lucky few.
    pub fewest_per_connection: u64,
}

impl PingPongReport {
    /// Messages (round trips) per second.
    pub fn per_second(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Where one connection is in its ping-pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Non-blocking `connect` issued; waiting for the socket to be writable.
    Connecting,
    /// Part of the ping is written; waiting to be able to write the rest.
    Sending,
    /// The ping is written; reading the pong.
    AwaitingEcho,
    /// Between round trips: connected, nothing outstanding.
    Idle,
    /// Closed after an error (counted in [`LoadClient::errors`]).
    Failed,
}

/// One client connection. Its index in `LoadClient::connections` is also
/// its key in the poller.
struct Connection {
    /// `None` once the connection failed and was closed.
    stream: Option<TcpStream>,
    state: State,
    /// What the poller watches for now, so we only call `modify` on a change.
    wants_write: bool,
    /// Number of the current message: with the index it decides the bytes,
    /// so every reply can be checked without storing what was sent.
    seq: u64,
    /// Bytes of the current ping already written (writes may be partial).
    sent: usize,
    /// The pong so far (reads may be partial too).
    reply: [u8; MESSAGE_LEN],
    received: usize,
    /// Round trips completed in the current ping-pong phase.
    round_trips: u64,
}

/// Many connections to one echo server, driven by one poller.
pub struct LoadClient {
    plan: LoadPlan,
    poller: Poller,
    connections: Vec<Connection>,
    /// Connections with a ping outstanding (connecting, sending or awaiting echo).
    busy: usize,
    /// While true, a completed round trip starts the next one.
    keep_going: bool,
    /// Last time any round trip completed: the basis of the stall timeout.
    last_progress: Instant,
    errors: usize,
    first_errors: Vec<String>,
}

impl LoadClient {
    /// Opens `plan.connections` connections, paced, each making one checked
    /// round trip; returns when all are established or have failed.
    pub fn connect_all(plan: LoadPlan) -> io::Result<LoadClient> {
        let mut client = LoadClient {
            poller: Poller::new()?,
            connections: Vec::with_capacity(plan.connections),
            busy: 0,
            keep_going: false,
            last_progress: Instant::now(),
            errors: 0,
            first_errors: Vec::new(),
            plan,
        };
        let mut events = event_buffer();
        while client.connections.len() < client.plan.connections || client.busy > 0 {
            while client.connections.len() < client.plan.connections
                && client.busy < client.plan.max_connecting
            {
                client.open_one();
            }
            client.turn(&mut events, Duration::from_millis(100))?;
        }
        Ok(client)
    }

    /// Connections that are open and idle (established, not failed).
    pub fn established(&self) -> usize {
        self.connections
            .iter()
            .filter(|c| c.state == State::Idle)
            .count()
    }

    /// Errors so far: failed connects, wrong bytes, early closes, timeouts.
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// The first few errors, word for word.
    pub fn first_errors(&self) -> &[String] {
        &self.first_errors
    }

    /// Every established connection plays ping-pong for `duration`; then the
    /// replies still in flight are awaited (and counted).
    pub fn ping_pong(&mut self, duration: Duration) -> io::Result<PingPongReport> {
        let mut events = event_buffer();
        let start = Instant::now();
        self.last_progress = start;
        self.keep_going = true;
        for index in 0..self.connections.len() {
            if self.connections[index].state == State::Idle {
                self.connections[index].round_trips = 0;
                self.start_ping(index);
            }
        }
        let deadline = start + duration;
        while self.busy > 0 {
            let now = Instant::now();
            if now >= deadline {
                // Time is up: finish the round trips in flight, start no more.
                self.keep_going = false;
            }
            let wait = deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(50));
            self.turn(&mut events, wait.max(Duration::from_millis(1)))?;
        }
        self.keep_going = false;
        let live = self.connections.iter().filter(|c| c.state == State::Idle);
        Ok(PingPongReport {
            round_trips: self.connections.iter().map(|c| c.round_trips).sum(),
            elapsed: start.elapsed(),
            fewest_per_connection: live.map(|c| c.round_trips).min().unwrap_or(0),
        })
    }

    /// One turn of the client's own little event loop: wait for readiness
    /// (at most `timeout`), handle every event, and time out stalled pings.
    fn turn(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        events.clear();
        self.poller.wait(events, Some(timeout))?;
        for event in events.iter() {
            self.on_ready(event.key);
        }
        if self.busy > 0 && self.last_progress.elapsed() > self.plan.stall_timeout {
            self.fail_stalled();
        }
        Ok(())
    }

    /// Starts one non-blocking connect and registers the socket.
    fn open_one(&mut self) {
        let index = self.connections.len();
        self.connections.push(Connection {
            stream: None,
            state: State::Failed,
            wants_write: true,
            seq: 0,
            sent: 0,
            reply: [0; MESSAGE_LEN],
            received: 0,
            round_trips: 0,
        });
        match connect_nonblocking(self.plan.addr) {
            Ok(stream) => {
                // SAFETY: polling's contract is that a source is deleted from
                // the poller before it is closed; `close` and `Drop for
                // LoadClient` delete every stream before dropping it.
                let added = unsafe {
                    self.poller
                        .add_with_mode(&stream, Event::writable(index), PollMode::Level)
                };
                match added {
                    Ok(()) => {
                        let conn = &mut self.connections[index];
                        conn.stream = Some(stream);
                        conn.state = State::Connecting;
                        self.busy += 1;
                        self.last_progress = Instant::now();
                    }
                    Err(e) => self.record_error(format!("connection {index}: register: {e}")),
                }
            }
            Err(e) => self.record_error(format!("connection {index}: connect: {e}")),
        }
    }

    /// The poller says connection `index` is ready: advance its state.
    fn on_ready(&mut self, index: usize) {
        let Some(conn) = self.connections.get(index) else {
            return;
        };
        match conn.state {
            State::Connecting => self.on_connected(index),
            State::Sending => self.continue_ping(index),
            State::AwaitingEcho => self.read_echo(index),
            State::Idle => self.check_idle(index),
            State::Failed => {}
        }
    }

    /// Writable after a non-blocking connect: it either worked or failed;
    /// `take_error` (SO_ERROR) tells which.
    fn on_connected(&mut self, index: usize) {
        let status = match &self.connections[index].stream {
            Some(stream) => stream.take_error(),
            None => return,
        };
        match status {
            Ok(None) => self.start_ping(index),
            Ok(Some(e)) | Err(e) => self.fail(index, format!("connect: {e}")),
        }
    }

    /// Begins round trip number `seq` on an idle or just-connected connection.
    fn start_ping(&mut self, index: usize) {
        let conn = &mut self.connections[index];
        if conn.state != State::Connecting {
            conn.seq += 1;
            self.busy += 1;
        }
        conn.sent = 0;
        conn.received = 0;
        conn.state = State::Sending;
        self.continue_ping(index);
    }

    /// Writes what is left of the ping; partial writes and `WouldBlock` are
    /// normal for a non-blocking socket, so we wait for "writable" and resume.
    fn continue_ping(&mut self, index: usize) {
        let conn = &mut self.connections[index];
        let ping = message(index, conn.seq);
        let Some(stream) = conn.stream.as_ref() else {
            return;
        };
        let mut writer = stream;
        while conn.sent < MESSAGE_LEN {
            match writer.write(&ping[conn.sent..]) {
                Ok(0) => return self.fail(index, "write returned 0".into()),
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.set_interest(index, true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(index, format!("write: {e}")),
            }
        }
        conn.state = State::AwaitingEcho;
        self.set_interest(index, false);
    }

    // ANCHOR: read_echo
    /// Reads the pong; when all 64 bytes are in, checks them and goes on.
    fn read_echo(&mut self, index: usize) {
        let conn = &mut self.connections[index];
        let Some(stream) = conn.stream.as_ref() else {
            return;
        };
        let mut reader = stream;
        while conn.received < MESSAGE_LEN {
            match reader.read(&mut conn.reply[conn.received..]) {
                Ok(0) => return self.fail(index, "server closed the connection mid-reply".into()),
                Ok(n) => conn.received += n,
                // Level-triggered: if more arrives later we hear about it again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(index, format!("read: {e}")),
            }
        }
        let expected = message(index, conn.seq).to_ascii_uppercase();
        if let Some(at) = (0..MESSAGE_LEN).find(|&i| conn.reply[i] != expected[i]) {
            let (got, want) = (conn.reply[at], expected[at]);
            let seq = conn.seq;
            return self.fail(
                index,
                format!("message {seq}, byte {at}: got {got:#04x}, want {want:#04x}"),
            );
        }
        self.complete_round_trip(index);
    }
    // ANCHOR_END: read_echo

    /// A checked pong: count it, then ping again or go idle.
    fn complete_round_trip(&mut self, index: usize) {
        let conn = &mut self.connections[index];
        // Message 0 is the connect phase's handshake check, not timed work.
        if conn.seq > 0 {
            conn.round_trips += 1;
        }
        conn.state = State::Idle;
        self.busy -= 1;
        self.last_progress = Instant::now();
        if self.keep_going {
            self.start_ping(index);
        }
    }

    /// An idle connection turned readable: the server sent bytes nobody asked
    /// for, or closed the connection. Either is an error.
    fn check_idle(&mut self, index: usize) {
        let Some(stream) = self.connections[index].stream.as_ref() else {
            return;
        };
        let mut byte = [0u8; 1];
        match (&*stream).read(&mut byte) {
            Ok(0) => self.fail(index, "server closed an idle connection".into()),
            Ok(_) => self.fail(index, "server sent bytes nobody asked for".into()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {} // spurious wake-up
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.fail(index, format!("read while idle: {e}")),
        }
    }

    /// Switches what the poller watches this connection for: write or read.
    fn set_interest(&mut self, index: usize, write: bool) {
        let conn = &mut self.connections[index];
        if conn.wants_write == write {
            return;
        }
        let Some(stream) = conn.stream.as_ref() else {
            return;
        };
        let event = if write {
            Event::writable(index)
        } else {
            Event::readable(index)
        };
        match self.poller.modify_with_mode(stream, event, PollMode::Level) {
            Ok(()) => conn.wants_write = write,
            Err(e) => self.fail(index, format!("poller modify: {e}")),
        }
    }

    /// Every connection still waiting for a reply has waited too long.
    fn fail_stalled(&mut self) {
        let timeout = self.plan.stall_timeout;
        for index in 0..self.connections.len() {
            let state = self.connections[index].state;
            if matches!(
                state,
                State::Connecting | State::Sending | State::AwaitingEcho
            ) {
                self.fail(index, format!("no progress for {timeout:?} ({state:?})"));
            }
        }
    }

    /// Counts an error on connection `index` and closes it.
    fn fail(&mut self, index: usize, why: String) {
        let conn = &mut self.connections[index];
        if matches!(
            conn.state,
            State::Connecting | State::Sending | State::AwaitingEcho
        ) {
            self.busy -= 1;
        }
        conn.state = State::Failed;
        self.close(index);
        self.record_error(format!("connection {index}: {why}"));
    }

    fn record_error(&mut self, message: String) {
        self.errors += 1;
        if self.first_errors.len() < KEPT_ERRORS {
            self.first_errors.push(message);
        }
    }

    /// Deletes the socket from the poller, then closes it (in that order: see
    /// the SAFETY note in `open_one`).
    fn close(&mut self, index: usize) {
        if let Some(stream) = self.connections[index].stream.take() {
            // A failed delete cannot be acted on; the fd is closed right after,
            // which removes it from the epoll set anyway.
            let _ = self.poller.delete(&stream);
        }
    }
}

impl Drop for LoadClient {
    fn drop(&mut self) {
        for index in 0..self.connections.len() {
            self.close(index);
        }
    }
}

/// Room for 1,024 events per `wait`: at 10,000 connections a wait returns
/// many at once, and each one costs no extra system call to take.
fn event_buffer() -> Events {
    Events::with_capacity(NonZeroUsize::new(1024).expect("1024 is not zero"))
}

/// The ping for message `seq` on connection `index`: lower-case letters that
/// differ between connections and messages (so a reply sent to the wrong
/// connection, or an old reply, is caught), ending in a newline (so a server
/// that works line by line is served too).
pub fn message(index: usize, seq: u64) -> [u8; MESSAGE_LEN] {
    let mut ping = [0u8; MESSAGE_LEN];
    let start = (index as u64).wrapping_mul(7).wrapping_add(seq);
    for (i, byte) in ping.iter_mut().enumerate() {
        *byte = b'a' + ((start + i as u64) % 26) as u8;
    }
    ping[MESSAGE_LEN - 1] = b'\n';
    ping
}

/// A non-blocking `connect`: returns at once, usually before the handshake is
/// done ("in progress"); the socket turns writable when it completes.
fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    // Each ping is one small write: never let Nagle's algorithm hold it back.
    socket.set_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}
