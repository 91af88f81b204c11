//! The floor: a server on the same HTTP stack as `kms serve` (hyper 1's HTTP/1.1 server on a
//! multi-thread tokio runtime, hyper-util's tokio glue) that reads each request's body and
//! answers a constant the size of an Encrypt answer. What `kms serve` adds over it is the cost of
//! being a KMS. It runs in a process of its own (this benchmark's binary started again with
//! [`ARG`]), so that it shares the machine with the client as `kms serve` does.

use std::convert::Infallible;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

/// The argument that makes this benchmark's binary the floor server.
pub const ARG: &str = "--floor-server";

// The settings of `kms serve` (host/server/src/lib.rs, `Server::bind` and `serve_connection`,
// with `ServerConfig::default()`), mirrored so that the floor differs from it only in what it
// answers. Change them together.
const WORKER_THREADS: usize = 2;
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADER_BYTES: usize = 64 << 10;
const MAX_BODY_BYTES: usize = 16 << 20;

/// A running floor server in its own process; stopped when dropped.
pub struct Floor {
    child: Child,
    pub addr: SocketAddr,
}

impl Floor {
    /// Starts this binary again as the floor server and waits for its address.
    pub fn start() -> io::Result<Floor> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(ARG)
            // The floor serves until its stdin closes, so it cannot outlive this process.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .map_err(|e| io::Error::other(format!("the floor server printed nothing: {e}")))?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("the floor server said {line:?}")))?;
        Ok(Floor { child, addr })
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves as the floor (in the child process) until stdin closes.
pub fn serve() -> anyhow::Result<()> {
    std::thread::spawn(|| {
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        std::process::exit(0);
    });
    let answer = Bytes::from(encrypt_shaped_answer());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("floor")
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_header_size(MAX_HEADER_BYTES)
                    .keep_alive(true);
                let service = service_fn(move |request| respond(request, answer.clone()));
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Reads the body as `kms serve` does (capped, collected), then answers the constant.
async fn respond(
    request: Request<Incoming>,
    answer: Bytes,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await;
    let len = answer.len();
    let mut response = Response::new(Full::new(answer));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
    );
    Ok(response)
}

/// An answer shaped as Encrypt's to 1 KiB of plaintext: a 1,074-byte ciphertext blob (34 bytes
/// of header, the ciphertext, a 16-byte tag) in base64, the algorithm and the key's ARN.
fn encrypt_shaped_answer() -> Vec<u8> {
    let blob = B64.encode([0x6bu8; 34 + 1024 + 16]);
    format!(
        r#"{{"CiphertextBlob":"{blob}","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","KeyId":"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000"}}"#
    )
    .into_bytes()
}
