//! Buffered streams, asyncio's `StreamReader` / `StreamWriter`: read a line,
//! up to a delimiter, exactly `n` bytes, or everything up to a limit. Used by
//! the workshop's fetcher (see the "Fetcher" page of the book, after lesson 10).
//!
//! A socket hands out bytes in whatever pieces the network delivered them:
//! one `read` may return half a line, or three lines and a half. Protocols
//! like HTTP are written in lines and lengths, so something must keep the
//! bytes that arrived *after* what the caller asked for, for the next call.
//! [`StreamReader`] is that buffer, over anything that implements
//! [`std::io::Read`]: a [`Stream`](crate::reactor::stream::Stream) (TCP or
//! Unix), one of its read halves, or a byte slice in a test. Its reads
//! suspend the task exactly when the stream's do.
//!
//! Every way of reading that could grow the buffer without end has a limit:
//! a peer that sends a gigabyte without a newline gets a clear
//! [`TooLong`] error, not all of our memory (asyncio: `LimitOverrunError`).
//!
//! ```
//! use yieldloop::StreamReader;
//!
//! let mut reader = StreamReader::new(&b"HTTP/1.1 200 OK\r\nbody bytes"[..]);
//! assert_eq!(reader.read_line().unwrap(), b"HTTP/1.1 200 OK\r\n");
//! assert_eq!(reader.read_exact(4).unwrap(), b"body");
//! assert_eq!(reader.read_to_end(100).unwrap(), b" bytes");
//! ```
//!
//! [`StreamWriter`] collects small writes and sends them in one system call
//! on [`flush`](StreamWriter::flush) (asyncio: `write` then `drain`).

use std::fmt;
use std::io::{self, Read, Write};

/// How long a line (or anything read up to a delimiter) may be before
/// [`StreamReader`] gives up: 64 KiB, asyncio's default `limit`.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// How much a [`StreamReader`] asks the stream for at a time.
const CHUNK: usize = 8 * 1024;

/// The error inside the `io::Error` (kind `InvalidData`) when a read would
/// pass its limit: what was being read and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    /// What was being read: `"a line"`, `"the data up to the delimiter"`, `"the whole stream"`.
    pub what: &'static str,
    /// The limit in bytes.
    pub limit: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is longer than the limit of {} bytes",
            self.what, self.limit
        )
    }
}

impl std::error::Error for TooLong {}

impl TooLong {
    fn error(what: &'static str, limit: usize) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, TooLong { what, limit })
    }
}

// ANCHOR: reader
/// A read buffer over a stream (asyncio: `StreamReader`). Bytes that arrived
/// past what a call asked for stay in `buffer` for the next call.
pub struct StreamReader<R> {
    inner: R,
    buffer: Vec<u8>,
    /// Where the unread bytes of `buffer` start (cheaper than shifting it
    /// after every small read; compacted when the buffer refills).
    start: usize,
    limit: usize,
    eof: bool,
}

impl<R: Read> StreamReader<R> {
    /// A reader with the default line limit ([`DEFAULT_LIMIT`]).
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, DEFAULT_LIMIT)
    }

    /// A reader whose lines (and reads up to a delimiter) may be at most `limit` bytes.
    pub fn with_limit(inner: R, limit: usize) -> Self {
        StreamReader {
            inner,
            buffer: Vec::new(),
            start: 0,
            limit,
            eof: false,
        }
    }

    /// The bytes read from the stream but not yet handed out.
    pub fn buffered(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// Reads once more from the stream into the buffer; `false` at end of
    /// file. This is the only place that calls the stream (and so suspends).
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        let old = self.buffer.len();
        self.buffer.resize(old + CHUNK, 0);
        let result = self.inner.read(&mut self.buffer[old..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buffer.truncate(old + n);
        if result? == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Hands out the first `n` unread bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buffer[self.start..self.start + n].to_vec();
        self.start += n;
        out
    }

    /// Reads up to and including `delimiter` (asyncio: `readuntil`). At end
    /// of file returns what is left, which may be empty or lack the
    /// delimiter (as `BufRead::read_until` does). Past the reader's limit:
    /// an `InvalidData` error holding [`TooLong`].
    pub fn read_until(&mut self, delimiter: u8) -> io::Result<Vec<u8>> {
        self.read_until_named(delimiter, "the data up to the delimiter")
    }

    fn read_until_named(&mut self, delimiter: u8, what: &'static str) -> io::Result<Vec<u8>> {
        let mut searched = 0; // bytes already known not to hold the delimiter
        loop {
            let unread = &self.buffer[self.start..];
            if let Some(at) = unread[searched..].iter().position(|&b| b == delimiter) {
                let end = searched + at + 1;
                if end > self.limit {
                    return Err(TooLong::error(what, self.limit));
                }
                return Ok(self.take(end));
            }
            searched = unread.len();
            if searched > self.limit {
                return Err(TooLong::error(what, self.limit));
            }
            if !self.fill()? {
                return Ok(self.take(searched));
            }
        }
    }

    /// Reads one line, with its `\n` (asyncio: `readline`); empty at end of file.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        self.read_until_named(b'\n', "a line")
    }

    /// Reads exactly `n` bytes (asyncio: `readexactly`). If the stream ends
    /// first: an `UnexpectedEof` error saying how many bytes came.
    pub fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buffered().len() < n {
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the stream ended after {} of {n} bytes",
                        self.buffered().len()
                    ),
                ));
            }
        }
        Ok(self.take(n))
    }

    /// Reads everything until the peer closes (asyncio: `read()`), at most
    /// `max` bytes: one more is an `InvalidData` error holding [`TooLong`].
    pub fn read_to_end(&mut self, max: usize) -> io::Result<Vec<u8>> {
        while self.fill()? {
            if self.buffered().len() > max {
                return Err(TooLong::error("the whole stream", max));
            }
        }
        if self.buffered().len() > max {
            return Err(TooLong::error("the whole stream", max));
        }
        Ok(self.take(self.buffered().len()))
    }

    /// Reads what is buffered, or else what the next read brings, into
    /// `buf` (asyncio: `read(n)`); `Ok(0)` at end of file.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.buffered().is_empty() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.buffered().len());
        buf[..n].copy_from_slice(&self.buffer[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }

    /// The stream itself (bytes already buffered are not in it any more).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Gives the stream back, with whatever was buffered and not read.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        let rest = self.buffer[self.start..].to_vec();
        (self.inner, rest)
    }
}
// ANCHOR_END: reader

impl<R> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &(self.buffer.len() - self.start))
            .field("limit", &self.limit)
            .field("eof", &self.eof)
            .finish()
    }
}

// ANCHOR: writer
/// A write buffer over a stream (asyncio: `StreamWriter`): [`write_all`]
/// only appends, [`flush`] sends it all (asyncio's `drain`), waiting as long
/// as the peer is slow to read. A buffer over `capacity` is sent at once, so
/// memory stays bounded. Flush before dropping: `Drop` cannot wait.
///
/// [`write_all`]: StreamWriter::write_all
/// [`flush`]: StreamWriter::flush
pub struct StreamWriter<W> {
    inner: W,
    buffer: Vec<u8>,
    capacity: usize,
}

impl<W: Write> StreamWriter<W> {
    /// A writer that sends once 8 KiB are buffered, or on [`flush`](Self::flush).
    pub fn new(inner: W) -> Self {
        StreamWriter {
            inner,
            buffer: Vec::new(),
            capacity: CHUNK,
        }
    }

    /// Adds `bytes` to the buffer; sends the buffer if it grew past capacity.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= self.capacity {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends everything buffered, however many partial writes it takes.
    pub fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.write_all(&self.buffer);
        self.buffer.clear();
        result?;
        self.inner.flush()
    }

    /// The stream itself.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}
// ANCHOR_END: writer

impl<W> fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out its bytes a few at a time, as a network does.
    struct Trickle<'a> {
        data: &'a [u8],
        piece: usize,
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn trickle(data: &[u8], piece: usize) -> StreamReader<Trickle<'_>> {
        StreamReader::new(Trickle {
            data,
            piece,
            reads: 0,
        })
    }

    #[test]
    fn lines_split_across_reads_come_out_whole() {
        let mut reader = trickle(b"one\ntwo lines\nlast", 3);
        assert_eq!(reader.read_line().unwrap(), b"one\n");
        assert_eq!(reader.read_line().unwrap(), b"two lines\n");
        assert_eq!(reader.read_line().unwrap(), b"last");
        assert_eq!(reader.read_line().unwrap(), b"");
    }

    #[test]
    fn bytes_past_a_line_stay_for_the_next_call() {
        let mut reader = trickle(b"a\nbcdef", 100);
        assert_eq!(reader.read_line().unwrap(), b"a\n");
        assert_eq!(reader.buffered(), b"bcdef");
        assert_eq!(reader.read_exact(2).unwrap(), b"bc");
        let mut buf = [0; 10];
        assert_eq!(reader.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"def");
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn read_until_stops_at_the_delimiter() {
        let mut reader = trickle(b"key=value;next", 2);
        assert_eq!(reader.read_until(b';').unwrap(), b"key=value;");
        assert_eq!(reader.read_until(b';').unwrap(), b"next");
    }

    #[test]
    fn a_line_past_the_limit_is_a_clear_error() {
        let long = [b'x'; 100];
        let mut reader = StreamReader::with_limit(&long[..], 10);
        let error = reader.read_line().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "a line is longer than the limit of 10 bytes"
        );
        // A line of exactly the limit is fine.
        let mut reader = StreamReader::with_limit(&b"123456789\nrest"[..], 10);
        assert_eq!(reader.read_line().unwrap(), b"123456789\n");
    }

    #[test]
    fn read_exact_says_how_many_bytes_came_before_the_end() {
        let mut reader = trickle(b"abc", 1);
        let error = reader.read_exact(5).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(error.to_string(), "the stream ended after 3 of 5 bytes");
    }

    #[test]
    fn read_to_end_enforces_its_limit() {
        let mut reader = trickle(b"0123456789", 4);
        assert_eq!(reader.read_to_end(10).unwrap(), b"0123456789");
        let mut reader = trickle(b"0123456789", 4);
        let error = reader.read_to_end(9).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the whole stream is longer than the limit of 9 bytes"
        );
        assert_eq!(
            error.get_ref().and_then(|e| e.downcast_ref::<TooLong>()),
            Some(&TooLong {
                what: "the whole stream",
                limit: 9
            })
        );
    }

    #[test]
    fn read_to_end_stops_reading_soon_after_the_limit() {
        // A peer sending without end must not fill our memory: the reader
        // gives up within one chunk past the limit.
        struct Endless(usize);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += buf.len();
                buf.fill(b'x');
                Ok(buf.len())
            }
        }
        let mut reader = StreamReader::new(Endless(0));
        assert!(reader.read_to_end(20_000).is_err());
        assert!(reader.get_ref().0 <= 20_000 + CHUNK);
    }

    #[test]
    fn the_writer_sends_on_flush_in_one_piece() {
        let mut writer = StreamWriter::new(Vec::new());
        writer.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        writer.write_all(b"\r\n").unwrap();
        assert!(writer.get_ref().is_empty(), "nothing is sent before flush");
        writer.flush().unwrap();
        assert_eq!(writer.get_ref(), b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn the_writer_sends_when_its_buffer_is_full() {
        let mut writer = StreamWriter::new(Vec::new());
        writer.write_all(&[0; CHUNK + 1]).unwrap();
        assert_eq!(writer.get_ref().len(), CHUNK + 1);
    }
}
