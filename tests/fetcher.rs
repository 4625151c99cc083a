//! The fetcher against the delay server and against small hand-made servers:
//! the concurrency limit (read back from the server's `/stats`), every kind
//! of bad line, the three kinds of body, redirects, `--out`, flags and exit
//! codes. Every child runs under a watchdog (`run_fetcher`'s deadline).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use common::server::EchoServer;

const FETCHER: &str = env!("CARGO_BIN_EXE_fetcher");
const SERVER: &str = env!("CARGO_BIN_EXE_delay-server");

/// The longest any fetcher run may take before the test fails.
const WATCHDOG: Duration = Duration::from_secs(60);

/// A fresh folder under the target directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fetcher-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// Writes `lines` to `dir/urls.txt` and runs the fetcher on it with `args`,
/// killing it if it outlives the watchdog.
fn run_fetcher(dir: &Path, lines: &[String], args: &[&str]) -> Output {
    let urls = dir.join("urls.txt");
    std::fs::write(&urls, lines.join("\n")).expect("write urls.txt");
    common::output_within(
        Command::new(FETCHER).args(args).arg(&urls),
        "the fetcher",
        WATCHDOG,
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stdout line that ends with `url`.
fn line_for(output: &Output, url: &str) -> String {
    let out = text(&output.stdout);
    out.lines()
        .find(|line| line.ends_with(&format!(" {url}")))
        .unwrap_or_else(|| panic!("no line for {url} in:\n{out}"))
        .to_string()
}

/// A local server that answers every connection with `respond` (in a thread).
fn fake_server(respond: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake server");
    let port = listener.local_addr().expect("its address").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || respond(stream));
        }
    });
    port
}

/// Reads a request head, then sends `answer` and closes.
fn answer(mut stream: TcpStream, answer: &[u8]) {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = stream.write_all(answer);
}

fn max_in_flight(server: &EchoServer) -> u64 {
    let mut client = server.connect();
    client
        .write_all(b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("ask for /stats");
    let mut answer = String::new();
    client.read_to_string(&mut answer).expect("read /stats");
    let after = answer
        .split("\"max_in_flight\": ")
        .nth(1)
        .unwrap_or_else(|| panic!("{answer}"));
    after
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| panic!("{answer}"))
}

#[test]
fn c5_over_20_slow_urls_keeps_exactly_5_in_flight() {
    let server = EchoServer::start(SERVER, &[]);
    let dir = scratch("c5");
    let urls: Vec<String> = (0..20)
        .map(|i| format!("http://{}/delay/200/n{i}", server.addr))
        .collect();
    let started = Instant::now();
    let output = run_fetcher(&dir, &urls, &["-c", "5"]);
    let took = started.elapsed();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        max_in_flight(&server),
        5,
        "the server saw exactly 5 at once"
    );
    // 20 requests of 0.2 s, 5 at a time: 4 rounds, about 0.8 s.
    assert!(
        took >= Duration::from_millis(780) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let out = text(&output.stdout);
    assert_eq!(out.lines().count(), 20, "{out}");
    for line in out.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words[0], "200", "{line}");
        assert_eq!(words[2], "B", "{line}");
        assert_eq!(words[4], "s", "{line}");
    }
    assert!(line_for(&output, &urls[7]).starts_with("200 3 B "));
    let err = text(&output.stderr);
    assert!(err.contains("20 ok, 0 failed in "), "{err}");
    assert!(err.contains("max 5 in flight"), "{err}");
}

#[test]
fn queue_workers_keep_the_same_limit() {
    let server = EchoServer::start(SERVER, &[]);
    let dir = scratch("workers");
    let urls: Vec<String> = (0..9)
        .map(|i| format!("http://{}/delay/100/w{i}", server.addr))
        .collect();
    let output = run_fetcher(&dir, &urls, &["-c", "3", "--workers"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(max_in_flight(&server), 3);
    assert_eq!(text(&output.stdout).lines().count(), 9);
}

#[test]
fn every_bad_line_gets_its_own_err_and_the_rest_go_on() {
    let server = EchoServer::start(SERVER, &[]);
    let dir = scratch("bad");
    // A server that accepts and never answers: only the timeout ends it.
    let silent = fake_server(|stream| {
        thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    let garbage = fake_server(|stream| answer(stream, b"SSH-2.0-OpenSSH\r\n\r\n"));
    // A port nobody listens on: bind one, note it, close it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let good = format!("http://{}/delay/10/good", server.addr);
    let lines = vec![
        "# a comment".to_string(),
        String::new(),
        "not a url".to_string(),
        "https://example.com/".to_string(),
        "http://no.such.host.invalid/".to_string(),
        format!("http://127.0.0.1:{closed}/"),
        format!("http://{}/status/404", server.addr),
        format!("http://{}/status/500", server.addr),
        format!("http://127.0.0.1:{garbage}/"),
        format!("http://127.0.0.1:{silent}/"),
        good.clone(),
    ];
    let output = run_fetcher(&dir, &lines, &["-c", "4", "--timeout", "1"]);
    assert_eq!(output.status.code(), Some(1), "some failed: exit code 1");
    let out = text(&output.stdout);
    assert_eq!(
        out.lines().count(),
        9,
        "comments and blanks skipped:\n{out}"
    );
    let expect = [
        ("not a url", "ERR not a URL"),
        ("https://example.com/", "ERR https:// is not supported"),
        (
            "http://no.such.host.invalid/",
            "ERR cannot resolve no.such.host.invalid",
        ),
        (&lines[5], "ERR connection refused"),
        (&lines[6], "ERR HTTP 404 Not Found"),
        (&lines[7], "ERR HTTP 500"),
        (&lines[8], "ERR garbage response"),
        (&lines[9], "ERR timeout after 1 s"),
        (&good, "200 5 B"),
    ];
    for (url, start) in expect {
        let line = line_for(&output, url);
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}"
        );
    }
    let err = text(&output.stderr);
    assert!(err.contains("1 ok, 8 failed in "), "{err}");
}

#[test]
fn chunked_read_to_close_and_redirected_bodies_arrive_whole() {
    let chunked = fake_server(|s| {
        answer(
            s,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
        )
    });
    let to_close = fake_server(|s| answer(s, b"HTTP/1.0 200 OK\r\n\r\nuntil the end"));
    let redirect = fake_server(|s| {
        answer(
            s,
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        )
    });
    let dir = scratch("bodies");
    let out_dir = dir.join("out");
    let lines = vec![
        format!("http://127.0.0.1:{chunked}/c"),
        format!("http://127.0.0.1:{to_close}/r"),
        format!("http://127.0.0.1:{redirect}/loop"),
    ];
    let output = run_fetcher(
        &dir,
        &lines,
        &["--out", out_dir.to_str().expect("UTF-8 path")],
    );
    assert!(line_for(&output, &lines[0]).starts_with("200 12 B "));
    assert!(line_for(&output, &lines[1]).starts_with("200 13 B "));
    // The fake redirects to itself forever: the fetcher stops after 5.
    assert!(line_for(&output, &lines[2]).starts_with("ERR more than 5 redirects"));
    let read = |name: &str| std::fs::read(out_dir.join(name)).expect("a written body");
    assert_eq!(read(&format!("127.0.0.1_{chunked}_c")), b"hello, world");
    assert_eq!(read(&format!("127.0.0.1_{to_close}_r")), b"until the end");
}

#[test]
fn out_writes_each_body_with_collisions_resolved() {
    let server = EchoServer::start(SERVER, &[]);
    for sync in [false, true] {
        let dir = scratch(if sync { "out-sync" } else { "out-async" });
        let out_dir = dir.join("bodies");
        let url = format!("http://{}/delay/10/alpha", server.addr);
        let lines = vec![url.clone(), url.clone()];
        let mut args = vec!["--out", out_dir.to_str().expect("UTF-8 path")];
        if sync {
            args.push("--sync-writes");
        }
        let output = run_fetcher(&dir, &lines, &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let base = format!("127.0.0.1_{}_delay_10_alpha", server.addr.port());
        for name in [base.clone(), format!("{base}-2")] {
            let body = std::fs::read(out_dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(body, b"alpha\n");
        }
        let how = if sync {
            "in the loop"
        } else {
            "on the executor"
        };
        assert!(text(&output.stderr).contains(how));
    }
}

#[test]
fn flags_are_validated_with_clear_errors() {
    let dir = scratch("flags");
    for (args, says) in [
        (&["-c", "0"][..], "from 1 to 10000"),
        (&["-c", "-1"][..], "must not be negative"),
        (&["-c", "99999999999999"][..], "from 1 to 10000"),
        (&["--timeout", "inf"][..], "not a finite number"),
        (&["--timeout", "nan"][..], "NaN"),
        (&["--timeout", "-1"][..], "must not be negative"),
        (&["--timeout", "0"][..], "could never be met"),
        (&["--sync-writes"][..], "--out"),
    ] {
        let output = run_fetcher(&dir, &[], args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = text(&output.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A missing file is a clear error too, not a panic.
    let output = Command::new(FETCHER)
        .arg(dir.join("no-such-file.txt"))
        .output()
        .expect("run the fetcher");
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("cannot read"));
}

#[test]
fn ten_thousand_lines_with_c100_do_not_run_out_of_descriptors() {
    let dir = scratch("many");
    // Each line is refused at once (no server): what matters is that no
    // more than 100 sockets are ever open, whatever the descriptor limit.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let lines: Vec<String> = (0..10_000)
        .map(|i| format!("http://127.0.0.1:{closed}/{i}"))
        .collect();
    let output = run_fetcher(&dir, &lines, &["-c", "100"]);
    let out = text(&output.stdout);
    assert_eq!(out.lines().count(), 10_000);
    assert!(out.lines().all(|l| l.starts_with("ERR connection refused")));
    let err = text(&output.stderr);
    assert!(err.contains("0 ok, 10000 failed"), "{err}");
    assert!(!err.contains("Too many open files"), "{err}");
}
