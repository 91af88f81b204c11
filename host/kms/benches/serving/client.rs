//! The load client every server in this benchmark is measured with: one thread (a current-thread
//! tokio runtime) driving N keep-alive HTTP/1.1 connections at once, as `wrk -t1 -cN` does. It
//! writes pre-built request bytes and reads only what it needs to find each answer's end (status
//! line, Content-Length or chunks), so that on a small machine it costs the server little.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How often a connection asks for its request again: a signed request may be replayed within
/// SigV4's clock-skew window, and signing once a second keeps the date honest at no real cost.
const MAKE_REQUEST_EVERY: Duration = Duration::from_secs(1);

/// The largest answer the client reads; the answers measured here are about 1.5 KiB.
const READ_BUFFER_BYTES: usize = 256 << 10;

/// One HTTP/1.1 request, as a connection sends it (`Content-Length` is added).
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nContent-Length: {}\r\n",
            self.method,
            self.path,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Makes the request a connection sends, again every second (to sign it anew).
pub type RequestMaker = Rc<dyn Fn() -> HttpRequest>;

/// When a run ends.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// After this long: no request is started later.
    Elapsed(Duration),
    /// After this many requests across all connections.
    Requests(u64),
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Load {
    /// Answers with status 200.
    pub answered: u64,
    /// Answers with another status, and connections that failed.
    pub errors: u64,
    /// What the first error was, for the reader.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// The latency of every answer, in nanoseconds, sorted.
    latencies: Vec<u64>,
}

impl Load {
    /// Answers with status 200 per second.
    pub fn per_second(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which a fraction `p` of answers came.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        Duration::from_nanos(self.latencies[at])
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn absorb(&mut self, other: Load) {
        self.answered += other.answered;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }
}

/// The client: its runtime is built once and reused by every run.
pub struct Client {
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub fn new() -> io::Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Client { runtime })
    }

    /// Drives `connections` connections to `addr`, each sending `request` and waiting for its
    /// answer before sending the next, until `until`.
    pub fn run(
        &self,
        addr: SocketAddr,
        connections: usize,
        until: Until,
        request: RequestMaker,
    ) -> Load {
        self.run_spread(&[(addr, request)], connections, until)
    }

    /// [`run`](Self::run) with the connections dealt out in turn to several servers (the
    /// nodes of a cluster behind a load balancer), each sent its own request.
    pub fn run_spread(
        &self,
        targets: &[(SocketAddr, RequestMaker)],
        connections: usize,
        until: Until,
    ) -> Load {
        let local = tokio::task::LocalSet::new();
        local.block_on(&self.runtime, async move {
            let budget = Rc::new(Budget::new(until));
            let started = Instant::now();
            let tasks: Vec<_> = (0..connections)
                .map(|n| {
                    let (addr, request) = &targets[n % targets.len()];
                    tokio::task::spawn_local(drive(*addr, Rc::clone(&budget), Rc::clone(request)))
                })
                .collect();
            let mut load = Load::default();
            for task in tasks {
                load.absorb(task.await.expect("a connection task panicked"));
            }
            load.elapsed = started.elapsed();
            load.latencies.sort_unstable();
            load
        })
    }
}

/// What is left of a run, shared by its connections (on one thread, hence `Cell`).
struct Budget {
    deadline: Option<Instant>,
    remaining: Cell<u64>,
}

impl Budget {
    fn new(until: Until) -> Budget {
        match until {
            Until::Elapsed(d) => Budget {
                deadline: Some(Instant::now() + d),
                remaining: Cell::new(u64::MAX),
            },
            Until::Requests(n) => Budget {
                deadline: None,
                remaining: Cell::new(n),
            },
        }
    }

    /// Whether another request may start; counts it.
    fn take(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match self.remaining.get() {
            0 => false,
            n => {
                self.remaining.set(n - 1);
                true
            }
        }
    }
}

/// One connection's share of a run.
async fn drive(addr: SocketAddr, budget: Rc<Budget>, request: RequestMaker) -> Load {
    let mut load = Load::default();
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(e) => {
            load.error(format!("cannot connect to {addr}: {e}"));
            return load;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut bytes = request().to_bytes();
    let mut made = Instant::now();
    let mut answers = AnswerReader::new();
    while budget.take() {
        if made.elapsed() >= MAKE_REQUEST_EVERY {
            bytes = request().to_bytes();
            made = Instant::now();
        }
        let sent = Instant::now();
        if let Err(e) = write_all(&stream, &bytes).await {
            load.error(format!("sending to {addr}: {e}"));
            return load;
        }
        let answer = match answers.next(&stream).await {
            Ok(answer) => answer,
            Err(e) => {
                load.error(format!("reading from {addr}: {e}"));
                return load;
            }
        };
        load.latencies.push(sent.elapsed().as_nanos() as u64);
        match answer {
            Answer::Ok => load.answered += 1,
            Answer::Other(what) => load.error(what),
        }
    }
    load
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

enum Answer {
    Ok,
    /// Another status than 200: the status line and the start of the body.
    Other(String),
}

/// Reads answers from one connection into a buffer that is reused, never parsing more than the
/// framing needs.
struct AnswerReader {
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl AnswerReader {
    fn new() -> AnswerReader {
        AnswerReader {
            buf: vec![0; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more bytes from `stream`, making room at the end of the buffer if needed.
    async fn fill(&mut self, stream: &TcpStream) -> io::Result<()> {
        if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(io::Error::other(format!(
                    "an answer larger than the client's {READ_BUFFER_BYTES} bytes"
                )));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match stream.try_read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until `unread()` holds at least `len` bytes.
    async fn fill_to(&mut self, stream: &TcpStream, len: usize) -> io::Result<()> {
        while self.unread().len() < len {
            self.fill(stream).await?;
        }
        Ok(())
    }

    /// The offset just past the next CRLF at or after `from` in `unread()`.
    async fn line_end(&mut self, stream: &TcpStream, from: usize) -> io::Result<usize> {
        loop {
            if let Some(i) = find(&self.unread()[from..], b"\r\n") {
                return Ok(from + i + 2);
            }
            self.fill(stream).await?;
        }
    }

    /// Reads one whole answer.
    async fn next(&mut self, stream: &TcpStream) -> io::Result<Answer> {
        let head_len = loop {
            if let Some(i) = find(self.unread(), b"\r\n\r\n") {
                break i + 4;
            }
            self.fill(stream).await?;
        };
        let head = &self.unread()[..head_len];
        let status = status_of(head)?;
        let len = match framing_of(head)? {
            Framing::Length(body) => {
                self.fill_to(stream, head_len + body).await?;
                head_len + body
            }
            Framing::Chunked => self.chunked_len(stream, head_len).await?,
        };
        let answer = if status == 200 {
            Answer::Ok
        } else {
            let answer = &self.unread()[..len];
            let status_line = &answer[..find(answer, b"\r\n").unwrap_or(0)];
            let body = &answer[head_len..len.min(head_len + 300)];
            Answer::Other(format!(
                "{}: {}",
                String::from_utf8_lossy(status_line),
                String::from_utf8_lossy(body)
            ))
        };
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(answer)
    }

    /// The length of an answer whose chunked body starts at `at`: each chunk is a hex size line,
    /// the data and CRLF; a zero-size chunk and CRLF end it (no trailers are expected).
    async fn chunked_len(&mut self, stream: &TcpStream, mut at: usize) -> io::Result<usize> {
        loop {
            let line_end = self.line_end(stream, at).await?;
            let line = &self.unread()[at..line_end - 2];
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| io::Error::other("a malformed chunk size"))?;
            at = line_end + size + 2;
            self.fill_to(stream, at).await?;
            if size == 0 {
                return Ok(at);
            }
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

fn status_of(head: &[u8]) -> io::Result<u16> {
    head.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::other(format!(
                "a malformed status line: {:?}",
                String::from_utf8_lossy(&head[..head.len().min(40)])
            ))
        })
}

fn framing_of(head: &[u8]) -> io::Result<Framing> {
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            return std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Framing::Length)
                .ok_or_else(|| io::Error::other("a malformed Content-Length"));
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") && value.eq_ignore_ascii_case(b"chunked")
        {
            return Ok(Framing::Chunked);
        }
    }
    // No body framing: an answer without a body (as to a 204).
    Ok(Framing::Length(0))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A loopback port free at the time of asking, for servers that must be told theirs.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
