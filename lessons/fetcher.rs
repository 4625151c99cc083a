//! `fetcher`: the seminar's homework, downloading a list of URLs with at most
//! N requests in flight, on the reactor (docs/src/workshop-fetcher.md).
//!
//! ```text
//! cargo run --release --bin fetcher -- -c 10 urls.txt [--out DIR] [--timeout S]
//! ```
//!
//! HTTP/1.1 GET over the runtime's `TcpStream`, read through a buffered
//! `StreamReader` (lines, exact lengths, chunks); `http://` only. stdout gets
//! one line per URL as it completes (`200 12345 B 0.201 s URL` or
//! `ERR <reason> URL`); stderr a progress bar (only when stdout is a
//! terminal) and a summary. The exit code is 0 only when every URL succeeded.
//!
//! The two homework parts: at most `-c` requests at once (a `Semaphore`; or,
//! with `--workers`, N worker tasks on a `Queue`), and `--out DIR` writing
//! bodies through the executor so the loop never waits for the disk
//! (`--sync-writes` writes in the loop instead, to compare).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use yieldloop::course::cli::{parse_concurrency, parse_seconds, parse_timeout, ObserveArgs};
use yieldloop::course::trace;
use yieldloop::println; // like std's, but `| head` ends the program quietly
use yieldloop::{
    resolve, run_in_executor, sleep, spawn, wait_for, write_file, Builder, Clock, Queue, Semaphore,
    StreamReader, StreamWriter, TcpStream,
};

/// Downloads every URL of a file, at most N at a time.
#[derive(Parser)]
#[command(name = "fetcher")]
struct Args {
    /// A file of URLs, one a line (`#` comments and empty lines are skipped).
    urls: PathBuf,
    /// At most this many requests in flight, from 1 to 10000.
    #[arg(short = 'c', long = "concurrency", default_value = "10",
          value_parser = parse_concurrency, allow_negative_numbers = true)]
    concurrency: usize,
    /// Write each body to a file in this folder (named from its URL).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Give up on one request (redirects included) after this many seconds.
    #[arg(long, default_value = "10", value_parser = parse_timeout, allow_negative_numbers = true)]
    timeout: Duration,
    /// With --out: write files in the loop (blocking it) instead of on the executor.
    #[arg(long, requires = "out")]
    sync_writes: bool,
    /// With --out: pretend each write waits this long for the disk (a slow
    /// disk or a network share), to see what --sync-writes costs the loop.
    #[arg(long, default_value = "0", value_parser = parse_seconds, allow_negative_numbers = true,
          requires = "out")]
    disk_delay: Duration,
    /// Use N worker tasks on a Queue instead of a task per URL under a Semaphore.
    #[arg(long)]
    workers: bool,
    #[command(flatten)]
    observe: ObserveArgs,
}

/// How many redirects one URL may follow.
const MAX_REDIRECTS: usize = 5;
/// A response head larger than this is refused.
const HEAD_LIMIT: usize = 64 * 1024;
/// A body larger than this is refused (we keep bodies in memory).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// An `http://host[:port]/path` URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

// ANCHOR: parse_url
/// Parses a line of the file; the error is the `ERR` line's reason.
fn parse_url(text: &str) -> Result<Url, String> {
    if text.starts_with("https://") {
        return Err("https:// is not supported (http:// only: no TLS here)".into());
    }
    let rest = text
        .strip_prefix("http://")
        .ok_or_else(|| "not a URL (expected http://host[:port]/path)".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) if port > 0 => (host, port),
            _ => return Err(format!("not a URL: bad port {port:?}")),
        },
        None => (authority, 80),
    };
    let bad_host = |c: char| c.is_whitespace() || c == '@' || c == '?' || c == '#';
    if host.is_empty() || host.contains(bad_host) {
        return Err(format!("not a URL: bad host {host:?}"));
    }
    if path.contains(char::is_whitespace) {
        return Err("not a URL: spaces in the path".into());
    }
    Ok(Url {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}
// ANCHOR_END: parse_url

/// What one GET brought back.
struct Response {
    status: u16,
    reason: String,
    location: Option<String>,
    body: Vec<u8>,
}

/// The header `name`'s value, if there is one (names ignore case).
fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

// ANCHOR: failure
/// Why a URL failed: the `ERR` line's reason, and the `io::Error` behind it
/// if there is one. Keeping the error itself, not only its text, matters:
/// when `wait_for`'s deadline cancels a request, the cancellation rides out
/// inside that error, and `wait_for` looks for it to say "timed out" (drop
/// it, and a timeout looks like an ordinary connection error).
struct Failure {
    reason: String,
    _source: Option<io::Error>,
}

impl Failure {
    fn io(context: &str) -> impl Fn(io::Error) -> Failure + Copy + '_ {
        move |error| Failure {
            reason: format!("{context}: {error}"),
            _source: Some(error),
        }
    }
}

impl From<String> for Failure {
    fn from(reason: String) -> Failure {
        Failure {
            reason,
            _source: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Failure {
        Failure::from(reason.to_string())
    }
}
// ANCHOR_END: failure

/// Looks the host up and connects, with a clear reason when that fails.
fn connect(url: &Url) -> Result<TcpStream, Failure> {
    let addrs = resolve(&url.host, url.port)
        .map_err(Failure::io(&format!("cannot resolve {}", url.host)))?;
    let mut last = Failure::from("no address");
    for addr in addrs {
        last = match TcpStream::connect_addr(addr) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Failure {
                reason: format!("connection refused by {addr}"),
                _source: Some(e),
            },
            Err(e) => Failure::io(&format!("cannot connect to {addr}"))(e),
        };
    }
    Err(last)
}

// ANCHOR: get
/// One HTTP/1.1 GET: the request, the head (parsed by `httparse`), the body.
fn get(url: &Url) -> Result<Response, Failure> {
    let (read_half, write_half) = connect(url)?.into_split();
    let mut writer = StreamWriter::new(write_half);
    let mut reader = StreamReader::with_limit(read_half, HEAD_LIMIT);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: yieldloop-fetcher\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.path, url.host
    );
    let io_error = Failure::io("connection error");
    writer.write_all(request.as_bytes()).map_err(io_error)?;
    writer.flush().map_err(io_error)?;

    // The head: lines up to an empty one.
    let mut head = Vec::new();
    loop {
        let line = reader.read_line().map_err(io_error)?;
        if line.is_empty() {
            return Err(if head.is_empty() {
                "empty response: the server closed the connection".into()
            } else {
                "garbage response: the head never ended".into()
            });
        }
        head.extend_from_slice(&line);
        if head.len() > HEAD_LIMIT {
            return Err("garbage response: the head is too long".into());
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("garbage response: incomplete head".into()),
        Err(e) => return Err(format!("garbage response: {e}").into()),
    }
    let status = parsed.code.unwrap_or(0);
    let reason = parsed.reason.unwrap_or("").to_string();
    let location = header(parsed.headers, "Location").map(str::to_string);
    let chunked = header(parsed.headers, "Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = header(parsed.headers, "Content-Length");

    let body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(length) = length {
        let length: usize = length
            .parse()
            .map_err(|_| format!("garbage response: Content-Length {length:?}"))?;
        if length > BODY_LIMIT {
            return Err(format!("body of {length} B is over the limit of {BODY_LIMIT} B").into());
        }
        reader.read_exact(length).map_err(io_error)?
    } else {
        // No length: the body ends when the server closes (HTTP/1.0 style).
        reader.read_to_end(BODY_LIMIT).map_err(io_error)?
    };
    Ok(Response {
        status,
        reason,
        location,
        body,
    })
}
// ANCHOR_END: get

// ANCHOR: chunked
/// A chunked body: `<hex size>\r\n<bytes>\r\n` until a chunk of size 0,
/// then trailer lines up to an empty one.
fn read_chunked<R: Read>(reader: &mut StreamReader<R>) -> Result<Vec<u8>, Failure> {
    let io_error = Failure::io("connection error in a chunked body");
    let mut body = Vec::new();
    loop {
        let line = reader.read_line().map_err(io_error)?;
        let text = String::from_utf8_lossy(&line);
        let size = text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("garbage response: chunk size {:?}", text.trim()))?;
        if size == 0 {
            break;
        }
        if body.len() + size > BODY_LIMIT {
            return Err(format!("body is over the limit of {BODY_LIMIT} B").into());
        }
        body.extend_from_slice(&reader.read_exact(size).map_err(io_error)?);
        if reader.read_line().map_err(io_error)?.trim_ascii() != b"" {
            return Err("garbage response: a chunk did not end with CRLF".into());
        }
    }
    // Trailers (rarely any) end with an empty line, or the connection closes.
    loop {
        let line = reader.read_line().map_err(io_error)?;
        if line.trim_ascii().is_empty() {
            return Ok(body);
        }
    }
}
// ANCHOR_END: chunked

// ANCHOR: fetch
/// GET `url`, following up to [`MAX_REDIRECTS`] redirects; a non-2xx
/// status is an error. Returns (status, body).
fn fetch(mut url: Url) -> Result<(u16, Vec<u8>), Failure> {
    for _ in 0..=MAX_REDIRECTS {
        let response = get(&url)?;
        match (response.status, response.location) {
            (301 | 302 | 303 | 307 | 308, Some(location)) => {
                url = if location.starts_with('/') {
                    Url {
                        path: location,
                        ..url
                    }
                } else {
                    parse_url(&location).map_err(|e| format!("redirect to {location}: {e}"))?
                };
            }
            (200..=299, _) => return Ok((response.status, response.body)),
            (status, _) => return Err(format!("HTTP {status} {}", response.reason).into()),
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects").into())
}
// ANCHOR_END: fetch

/// Counts for the progress bar and the summary.
#[derive(Default)]
struct Tally {
    ok: Cell<usize>,
    failed: Cell<usize>,
    in_flight: Cell<usize>,
    max_in_flight: Cell<usize>,
    /// The longest the loop was late for a 10 ms heartbeat: how long
    /// something blocked it (a synchronous disk write, say).
    worst_stall: Cell<Duration>,
}

/// Everything the tasks share.
struct Fetcher {
    args: Args,
    tally: Tally,
    bar: ProgressBar,
    started: Instant,
    names: RefCell<HashSet<String>>,
}

impl Fetcher {
    fn update_bar(&self) {
        let t = &self.tally;
        let done = t.ok.get() + t.failed.get();
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_position(done as u64);
        self.bar.set_message(format!(
            "{} ok, {} failed, {} in flight, {rate:.0}/s",
            t.ok.get(),
            t.failed.get(),
            t.in_flight.get()
        ));
    }

    /// A file name for `url`'s body, unique in this run.
    fn file_name(&self, url: &Url) -> String {
        let mut base: String = format!("{}_{}{}", url.host, url.port, url.path)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        base.truncate(200);
        let base = base.trim_end_matches('_').to_string();
        let mut names = self.names.borrow_mut();
        let mut name = base.clone();
        let mut n = 1;
        while !names.insert(name.clone()) {
            n += 1;
            name = format!("{base}-{n}");
        }
        name
    }

    // ANCHOR: save
    /// Writes a body under `--out`: on the executor (the loop goes on), or
    /// with `--sync-writes` right here (the loop waits for the disk).
    fn save(&self, dir: &Path, url: &Url, body: Vec<u8>) -> Result<(), String> {
        let path = dir.join(self.file_name(url));
        let disk_delay = self.args.disk_delay;
        let write = move |path: &Path, body: Vec<u8>| {
            std::thread::sleep(disk_delay); // a slow disk, on whichever thread writes
            std::fs::write(path, body)
        };
        let written = if self.args.sync_writes {
            write(&path, body)
        } else if disk_delay.is_zero() {
            write_file(&path, body)
        } else {
            let target = path.clone();
            run_in_executor(move || write(&target, body)).unwrap_or_else(|e| Err(e.into()))
        };
        written.map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
    // ANCHOR_END: save

    /// One line of the file, start to end: fetch, save, print, count.
    fn process(&self, line: &str) {
        let t = &self.tally;
        t.in_flight.set(t.in_flight.get() + 1);
        t.max_in_flight
            .set(t.max_in_flight.get().max(t.in_flight.get()));
        self.update_bar();
        let started = Instant::now();
        let result = parse_url(line).and_then(|url| {
            let (status, body) = match wait_for(self.args.timeout, || fetch(url.clone())) {
                Ok(result) => result.map_err(|failure| failure.reason)?,
                Err(timed_out) => {
                    return Err(format!("timeout after {} s", timed_out.after.as_secs_f64()))
                }
            };
            let size = body.len();
            if let Some(dir) = &self.args.out {
                self.save(dir, &url, body)?;
            }
            Ok((status, size))
        });
        t.in_flight.set(t.in_flight.get() - 1);
        let text = match result {
            Ok((status, size)) => {
                t.ok.set(t.ok.get() + 1);
                let seconds = started.elapsed().as_secs_f64();
                format!("{status} {size} B {seconds:.3} s {line}")
            }
            Err(reason) => {
                t.failed.set(t.failed.get() + 1);
                format!("ERR {reason} {line}")
            }
        };
        self.bar.suspend(|| println!("{text}"));
        self.update_bar();
    }
}

/// The lines worth fetching: not empty, not a `#` comment.
fn url_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

// ANCHOR: semaphore
/// A task per URL, at most `-c` alive at once: the permit is taken *before*
/// spawning, so 10,000 lines never make 10,000 tasks (or sockets).
fn with_semaphore(fetcher: Rc<Fetcher>, lines: Vec<String>) -> Result<(), Box<dyn Error>> {
    let limit = Semaphore::new(fetcher.args.concurrency);
    for line in lines {
        let permit = limit.acquire()?; // waits while -c requests are in flight
        let fetcher = fetcher.clone();
        drop(spawn("fetch", move || {
            fetcher.process(&line);
            drop(permit); // the next line may start
        }));
    }
    // Every permit back means every request has finished.
    let _all: Vec<_> = (0..fetcher.args.concurrency)
        .map(|_| limit.acquire())
        .collect::<Result<_, _>>()?;
    Ok(())
}
// ANCHOR_END: semaphore

// ANCHOR: workers
/// N workers on a bounded queue: each takes the next line when it is free,
/// so at most N requests are in flight; `None` tells a worker to stop.
fn with_workers(fetcher: Rc<Fetcher>, lines: Vec<String>) -> Result<(), Box<dyn Error>> {
    let n = fetcher.args.concurrency;
    let queue: Queue<Option<String>> = Queue::new(n);
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (queue, fetcher) = (queue.clone(), fetcher.clone());
            spawn("worker", move || {
                while let Ok(Some(line)) = queue.get() {
                    fetcher.process(&line);
                }
            })
        })
        .collect();
    for line in lines {
        queue.put(Some(line))?; // waits while the queue is full
    }
    for _ in 0..n {
        queue.put(None)?;
    }
    for worker in workers {
        worker.join()?;
    }
    Ok(())
}
// ANCHOR_END: workers

/// Notes how late a 10 ms heartbeat wakes up: how long the loop was blocked.
fn heartbeat(fetcher: Rc<Fetcher>) {
    let tick = Duration::from_millis(10);
    loop {
        let before = Instant::now();
        if sleep(tick).is_err() {
            return;
        }
        let late = before.elapsed().saturating_sub(tick);
        let worst = &fetcher.tally.worst_stall;
        worst.set(worst.get().max(late));
    }
}

fn progress_bar(total: usize) -> ProgressBar {
    // Only for a person watching: piped or redirected output gets no bar.
    if !io::stdout().is_terminal() || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn run(args: Args) -> Result<bool, Box<dyn Error>> {
    let text = std::fs::read_to_string(&args.urls)
        .map_err(|e| format!("cannot read {}: {e}", args.urls.display()))?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let lines = url_lines(&text);
    let fetcher = Rc::new(Fetcher {
        bar: progress_bar(lines.len()),
        args,
        tally: Tally::default(),
        started: Instant::now(),
        names: RefCell::new(HashSet::new()),
    });
    // `--timeline` and friends (lesson 11): the recorder must read the
    // loop's own clock. Without them, no subscriber: stdout is for results.
    let clock = Clock::real();
    let observer = match fetcher.args.observe.any() {
        true => Some(trace::init_observed(&clock, &fetcher.args.observe)?),
        false => None,
    };
    let mut event_loop = Builder::new().clock(clock).build()?;
    let beat = event_loop.spawn("heartbeat", {
        let fetcher = fetcher.clone();
        move || heartbeat(fetcher)
    });
    let main = fetcher.clone();
    event_loop.run_until_complete(move || {
        if main.args.workers {
            with_workers(main, lines)
        } else {
            with_semaphore(main, lines)
        }
    })??;
    drop(beat); // the loop's drop ends the heartbeat
    fetcher.bar.finish_and_clear();
    let t = &fetcher.tally;
    let mut summary = format!(
        "{} ok, {} failed in {:.2} s, max {} in flight",
        t.ok.get(),
        t.failed.get(),
        fetcher.started.elapsed().as_secs_f64(),
        t.max_in_flight.get()
    );
    if fetcher.args.out.is_some() {
        let how = if fetcher.args.sync_writes {
            "in the loop"
        } else {
            "on the executor"
        };
        let _ = write!(
            summary,
            "; files written {how}, the loop stalled at most {:.1} ms",
            t.worst_stall.get().as_secs_f64() * 1000.0
        );
    }
    eprintln!("{summary}");
    io::stderr().flush()?;
    if let Some(observer) = observer {
        observer.finish()?;
    }
    Ok(t.failed.get() == 0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.observe.install_stepper(); // lesson 11's `--step`
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("fetcher: {error}");
            ExitCode::from(2)
        }
    }
}
