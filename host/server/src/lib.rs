//! `kms serve`: the HTTP front door. It speaks the AWS KMS JSON 1.1 protocol, so the AWS SDKs,
//! the aws CLI and the AWS Encryption SDK work against it with an endpoint override. Each request
//! is authenticated with SigV4 against the principals' access keys, rate-limited per account and
//! operation class, and handed to the one service façade; nothing here knows any cryptography.
//!
//! hyper serves HTTP/1.1 with keep-alive on a tokio runtime, over TLS (rustls) when given a
//! certificate; plain HTTP only on loopback unless explicitly allowed. A request is answered on
//! the worker that read it; the façade marks what may block (a store read or write, RSA, a
//! plugin run) as a [blocking section](kms_core::blocking), during which the worker's other
//! tasks move to another thread (`block_in_place`). Connections are capped; handshakes,
//! header reads and bodies time out; headers and bodies are capped; shutdown stops accepting
//! and drains the requests in flight.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod fuzzing;
mod metrics;
pub mod protocol;
pub mod quota;
mod signing_keys;
pub mod sigv4;
pub mod tls;
pub mod validation;
pub mod xks;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use kms_service::{CallSource, Caller, KmsError, Service};
use protocol::{ApiError, TARGET_PREFIX};
use quota::{OpClass, RateLimiter, RateLimits};
pub use tls::{TlsFileError, TlsIdentity};

/// The content type of the AWS JSON 1.1 protocol.
pub const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";
/// The default listening address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";

/// How `kms serve` runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (default loopback, [`DEFAULT_LISTEN`]).
    pub listen: SocketAddr,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Allowed difference between a request's signing time and the server's clock.
    pub max_skew_seconds: u64,
    /// Request-rate quotas per account and operation class.
    pub rates: RateLimits,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// Worker threads of the runtime, which answer requests; while one runs a blocking section
    /// its other tasks move to a thread of the blocking pool (which grows as needed).
    pub worker_threads: usize,
    /// The regions served; `None` serves every region. A request scoped to another region is
    /// refused as AWS refuses a credential scoped to the wrong region.
    pub regions: Option<Vec<String>>,
    /// How long a client may take to send a request's body once its headers are in.
    pub body_timeout: Duration,
    /// Connections served at once; a client past this is closed at once, and the others keep
    /// being served.
    pub max_connections: usize,
    /// Refusals of unauthenticated requests audited one by one per source address and second;
    /// past this they are answered and counted in the next record of that source.
    pub audited_refusals_per_second: f64,
    /// Serve HTTPS with this certificate and key; `None` serves plain HTTP.
    pub tls: Option<TlsIdentity>,
    /// Serve plain HTTP on an address that is not loopback. Off by default: [`Server::bind`]
    /// refuses, since requests and answers (plaintexts, data keys) would cross the network in
    /// clear.
    pub allow_plain_http: bool,
    /// How long a client may take to complete its TLS handshake; its connection holds a slot
    /// of [`max_connections`](Self::max_connections) meanwhile.
    pub handshake_timeout: Duration,
    /// The largest request head (request line and headers) accepted; a larger one is answered
    /// 431 and the connection closed.
    pub max_header_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            // Room for AttachPolicyPlugin's 10 MiB component in base64.
            max_body_bytes: 16 << 20,
            max_skew_seconds: sigv4::DEFAULT_MAX_SKEW_SECONDS,
            rates: RateLimits::default(),
            header_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            worker_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            regions: None,
            audited_refusals_per_second: 20.0,
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            tls: None,
            allow_plain_http: false,
            handshake_timeout: Duration::from_secs(10),
            // As AWS's load balancers: 64 KiB of request line and headers.
            max_header_bytes: 64 << 10,
        }
    }
}

struct State {
    service: Arc<Service>,
    config: ServerConfig,
    limiter: RateLimiter,
    refusals: quota::RefusalLimiter,
    signing_keys: signing_keys::SigningKeys,
    metrics: metrics::RequestMetrics,
}

/// Why a server will not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Plain HTTP on an address other hosts can reach, not explicitly allowed.
    #[error(
        "refusing to serve plain HTTP on {0}, which is not a loopback address: signed requests, \
         plaintexts and data keys would cross the network in clear. Serve HTTPS with --tls-cert \
         and --tls-key, or pass --allow-plain-http if something in front of the server (a \
         TLS-terminating proxy on the same host) protects the traffic"
    )]
    PlainHttpBeyondLoopback(SocketAddr),
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {problem}{}", listen_advice(*addr, problem))]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        problem: std::io::Error,
    },
}

/// What to do about a socket that could not be bound.
fn listen_advice(addr: SocketAddr, problem: &std::io::Error) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        v4 => v4.to_string(),
    };
    match problem.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            ". Another process (another kms serve?) listens there: stop it, or listen elsewhere \
             with --listen {ip}:<port> (--listen {ip}:0 picks a free port)"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!(". Ports below 1024 need privileges: use a higher one, e.g. --listen {ip}:4599")
        }
        std::io::ErrorKind::AddrNotAvailable => {
            ". No interface of this machine has that address: use one it has, e.g. \
             --listen 127.0.0.1:4599"
                .to_string()
        }
        _ => String::new(),
    }
}

/// A bound server, not yet serving: [`local_addr`](Self::local_addr) tells where it listens (useful
/// with port 0), [`run`](Self::run) serves until the shutdown signal resolves.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    state: Arc<State>,
}

impl Server {
    /// Binds the listening socket. Plain HTTP (no [`ServerConfig::tls`]) beyond loopback is
    /// refused unless [`ServerConfig::allow_plain_http`] says otherwise.
    pub fn bind(service: Arc<Service>, config: ServerConfig) -> anyhow::Result<Server> {
        let loopback = config.listen.ip().to_canonical().is_loopback();
        if config.tls.is_none() && !loopback && !config.allow_plain_http {
            return Err(BindError::PlainHttpBeyondLoopback(config.listen).into());
        }
        // Installed once per process; any server's hook is the same function.
        kms_core::blocking::install(hand_off_worker);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("kms-serve")
            .enable_all()
            .build()?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .map_err(|problem| BindError::Listen {
                addr: config.listen,
                problem,
            })?;
        let state = Arc::new(State {
            service,
            limiter: RateLimiter::new(config.rates.clone()),
            refusals: quota::RefusalLimiter::new(config.audited_refusals_per_second),
            signing_keys: signing_keys::SigningKeys::default(),
            metrics: metrics::RequestMetrics::default(),
            config,
        });
        Ok(Server {
            runtime,
            listener,
            state,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The scheme it serves: `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.state.config.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits (up to the drain
    /// timeout) for the requests in flight to be answered.
    pub fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Server {
            runtime,
            listener,
            state,
        } = self;
        runtime.block_on(async move {
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            let slots = Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
            let acceptor = state.config.tls.as_ref().map(TlsIdentity::acceptor);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let (stream, remote) = match accepted {
                            Ok(pair) => pair,
                            // Out of file descriptors and the like: keep serving the others.
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        };
                        // Past the cap, the newcomer is closed at once (dropping it), and
                        // the connections already served keep their slots.
                        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let state = Arc::clone(&state);
                        // Taken now, so that a shutdown signalled during the handshake still
                        // reaches the connection.
                        let watcher = graceful.watcher();
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            // The slot is held from accept to close, handshake included.
                            let _slot = slot;
                            let Some(acceptor) = acceptor else {
                                return serve_connection(state, stream, remote, watcher).await;
                            };
                            let handshake = tokio::time::timeout(
                                state.config.handshake_timeout,
                                acceptor.accept(stream),
                            );
                            // A failed or slow handshake (garbage, a half ClientHello, a
                            // client that never speaks) just closes the connection.
                            if let Ok(Ok(stream)) = handshake.await {
                                serve_connection(state, stream, remote, watcher).await;
                            }
                        });
                    }
                    () = &mut shutdown => break,
                }
            }
            drop(listener);
            tokio::select! {
                () = graceful.shutdown() => {}
                () = tokio::time::sleep(state.config.drain_timeout) => {}
            }
        });
        Ok(())
    }
}

/// Serves HTTP/1.1 on one accepted connection (plain or past its TLS handshake) until the
/// client leaves, a limit closes it, or a graceful shutdown has answered what was in flight.
async fn serve_connection<IO>(
    state: Arc<State>,
    io: IO,
    remote: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_timeout)
        .max_header_size(state.config.max_header_bytes)
        .keep_alive(true);
    let connection = builder.serve_connection(
        TokioIo::new(io),
        service_fn(move |req| handle(Arc::clone(&state), req, remote)),
    );
    // Protocol errors, resets and timeouts end the connection; nothing more is owed to it.
    let _ = watcher.watch(connection).await;
}

/// The server's [blocking section](kms_core::blocking) hook: on a worker of a multi-threaded
/// runtime, its other tasks move to another thread while `work` runs; anywhere else (the audit
/// writer, a test's current-thread runtime, no runtime at all) `work` just runs.
fn hand_off_worker(work: &mut dyn FnMut()) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

fn respond(status: u16, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    let len = body.len();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn error_response(error: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = respond(error.status, error.body(), request_id);
    if let Ok(kind) = HeaderValue::from_str(&error.aws_type) {
        response.headers_mut().insert("x-amzn-errortype", kind);
    }
    response
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = uuid::Uuid::new_v4().to_string();
    if req.method() == Method::GET
        && let Some(answer) = operator_endpoint(&state, req.uri().path(), &request_id)
    {
        return Ok(answer);
    }
    let (parts, body) = req.into_parts();
    let body = match read_body(&state, &parts, body).await {
        Ok(body) => body,
        Err(error) => return Ok(error_response(&error, &request_id)),
    };
    Ok(answer(&state, &parts, &body, remote, &request_id).await)
}

/// Reads a request's body, within the size cap and the body timeout.
async fn read_body(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: Incoming,
) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    let too_large = || ApiError {
        aws_type: "ValidationException".into(),
        message: format!("The request body is larger than {limit} bytes"),
        status: 413,
        unaudited: true,
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        state.config.body_timeout,
        Limited::new(body, limit).collect(),
    )
    .await;
    let Ok(collected) = collected else {
        return Err(ApiError {
            aws_type: "RequestTimeoutException".into(),
            message: format!(
                "The request body did not arrive within {}",
                humantime::format_duration(state.config.body_timeout)
            ),
            status: 408,
            unaudited: true,
        });
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(ApiError::client(
            "SerializationException",
            "The request body was cut off",
        )),
    }
}

/// The response to a request whose body has arrived. It leaves only once the request's audit
/// records are durable; the wait for that sync is asynchronous, so that meanwhile this worker
/// serves other connections, whose records join the next batch.
async fn answer(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    remote: SocketAddr,
    request_id: &str,
) -> Response<Full<Bytes>> {
    // Answered on this worker: a call whose records are cached is a few microseconds of work.
    // Where the façade may block (a store read or write, RSA, a plugin run), it says so with
    // a blocking section, and `hand_off_worker` moves this worker's other tasks elsewhere.
    let started = std::time::Instant::now();
    let mut facts = metrics::RequestFacts::default();
    let (answer, durable) = state.service.deferring_durability(|| {
        guarded(&state.service, remote, request_id, || {
            process(state, parts, body, remote, request_id, &mut facts)
        })
    });
    let answer = match durable.await {
        Err(e) => Err(ApiError::from(e)),
        Ok(()) => answer,
    };
    let outcome = match &answer {
        Ok(_) => "Success",
        Err(error) => error.aws_type.as_str(),
    };
    let elapsed = started.elapsed();
    state
        .metrics
        .record(&facts.operation, outcome, elapsed.as_secs_f64());
    tracing::info!(
        target: "kms::request",
        request_id,
        principal = facts.principal.as_deref().unwrap_or("anonymous"),
        operation = facts.operation.as_str(),
        key = facts.key.as_deref().unwrap_or("-"),
        outcome,
        status = answer.as_ref().map_or_else(|e| e.status, |_| 200),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        remote = %remote,
    );
    match answer {
        Ok(body) => respond(200, body, request_id),
        Err(error) => error_response(&error, request_id),
    }
}

/// A file of the web console (`host/server/console`, compiled in as it is in the repository),
/// with headers that keep it from running anything but its own script.
fn console_file(body: &'static str, kind: &'static str, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = respond(200, body.as_bytes().to_vec(), request_id);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The operator's endpoints, answered to GET without a signature: `/healthz` (the process is
/// up), `/readyz` (the vault answers and the audit trail is writable), `/metrics` (Prometheus
/// text) and the web console under `/console` (whose every action is a signed API call).
/// `None` for any other path.
fn operator_endpoint(state: &State, path: &str, request_id: &str) -> Option<Response<Full<Bytes>>> {
    let text = |status: u16, body: String, kind: &'static str| {
        let mut response = respond(status, body.into_bytes(), request_id);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        response
    };
    match path {
        "/healthz" => Some(text(200, "ok\n".into(), "text/plain; charset=utf-8")),
        "/readyz" => Some(
            match kms_core::blocking::section(|| state.service.readiness()) {
                Ok(()) => text(200, "ready\n".into(), "text/plain; charset=utf-8"),
                Err(why) => text(
                    503,
                    format!("not ready: {why}\n"),
                    "text/plain; charset=utf-8",
                ),
            },
        ),
        "/console" | "/console/" | "/console/index.html" => Some(console_file(
            include_str!("../console/index.html"),
            "text/html; charset=utf-8",
            request_id,
        )),
        "/console/app.js" => Some(console_file(
            include_str!("../console/app.js"),
            "text/javascript; charset=utf-8",
            request_id,
        )),
        "/console/style.css" => Some(console_file(
            include_str!("../console/style.css"),
            "text/css; charset=utf-8",
            request_id,
        )),
        "/metrics" => {
            let mut out = String::new();
            state.metrics.render(&mut out);
            kms_core::blocking::section(|| state.service.render_metrics(&mut out));
            Some(text(200, out, "text/plain; version=0.0.4; charset=utf-8"))
        }
        _ => None,
    }
}

/// Runs `answer`, turning a panic anywhere in it into `KMSInternalException` (500) for the
/// client and an audit record for the operator, so that no request can take down its connection
/// task unanswered and unrecorded. The client learns nothing of the fault; the audit record
/// keeps the start of the panic message.
fn guarded(
    service: &Service,
    remote: SocketAddr,
    request_id: &str,
    answer: impl FnOnce() -> Result<Vec<u8>, ApiError>,
) -> Result<Vec<u8>, ApiError> {
    let panic = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(answer)) {
        Ok(answer) => return answer,
        Err(panic) => panic,
    };
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let what: String = what.chars().take(200).collect();
    // If even the audit record cannot be written, the client still gets its answer.
    let _ = service.record_outcome(
        &anonymous(api_source(remote, request_id)),
        "-",
        None,
        "KMSInternalException",
        Some(format!("the request handler failed: {what}")),
    );
    Err(ApiError::from(KmsError::Internal(
        "The service could not process the request; the fault was recorded".into(),
    )))
}

/// The front door of a request from `remote` answered as `request_id`.
fn api_source(remote: SocketAddr, request_id: &str) -> CallSource {
    CallSource::Api {
        source_ip: Some(remote.ip().to_string()),
        request_id: Some(request_id.to_string()),
    }
}

/// Who a request is before its signature names a caller: anything refused (or failing) then is
/// audited under the anonymous principal.
fn anonymous(source: CallSource) -> Caller {
    Caller {
        principal: "anonymous".into(),
        account: String::new(),
        source,
        via_service: None,
    }
}

/// The longest message a refusal stores or sends back; longer ones (echoing a request's
/// headers) are cut.
const MAX_REFUSAL_MESSAGE_CHARS: usize = 512;

/// Authenticates, rate-limits and dispatches one request (on the blocking pool).
fn process(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    remote: SocketAddr,
    request_id: &str,
    facts: &mut metrics::RequestFacts,
) -> Result<Vec<u8>, ApiError> {
    let home = &state.service;
    let source = api_source(remote, request_id);
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.strip_prefix(TARGET_PREFIX).unwrap_or(target);
    // What the client named goes into the audit trail only if it looks like an operation name.
    let plausible =
        (1..=64).contains(&operation.len()) && operation.bytes().all(|b| b.is_ascii_alphanumeric());
    let operation = if plausible { operation } else { "-" };
    facts.operation = operation.to_string();
    if let Some(op) = protocol::served(operation) {
        facts.key = protocol::key_of(op, body);
    }
    let anonymous = anonymous(source.clone());
    let refuse = |service: &Service, caller: &Caller, mut error: ApiError| {
        // What a request made us say is bounded before it is stored or sent back.
        if error.message.chars().count() > MAX_REFUSAL_MESSAGE_CHARS {
            error.message = error
                .message
                .chars()
                .take(MAX_REFUSAL_MESSAGE_CHARS)
                .collect();
            error.message.push('…');
        }
        let mut recorded = error.message.clone();
        if caller.principal == "anonymous" {
            match state.refusals.refusal(remote.ip()) {
                quota::RefusalRecord::Skip => return Err(error),
                quota::RefusalRecord::Record { left_out: 0 } => {}
                quota::RefusalRecord::Record { left_out } => recorded.push_str(&format!(
                    " ({left_out} similar refusals of this source were not recorded one by one)"
                )),
            }
        }
        service
            .record_outcome(caller, operation, None, &error.aws_type, Some(recorded))
            .map_err(ApiError::from)?;
        Err(error)
    };

    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    let mut credential = None;
    let verified = sigv4::verify_with_key(
        &sigv4::SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &headers,
            body,
        },
        &sigv4::Expectations {
            regions: state.config.regions.as_deref(),
            service: "kms",
            now: home.now_seconds(),
            max_skew: state.config.max_skew_seconds,
        },
        |scope| {
            let (caller, key) = state.signing_keys.get(home, scope)?;
            credential = Some(caller);
            Some(key)
        },
    );
    let (caller, region) = match (verified, credential) {
        (Ok(verified), Some(caller)) => (Caller { source, ..caller }, verified.region),
        (Err(e), _) => {
            return refuse(
                home,
                &anonymous,
                ApiError::client(e.aws_type(), e.message()),
            );
        }
        (Ok(_), None) => {
            return refuse(
                home,
                &anonymous,
                ApiError::client(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
            );
        }
    };
    facts.principal = Some(caller.principal.clone());
    // The credential scope names the region the request acts in (verified as served above).
    let regional = home.in_region(&region).map_err(ApiError::from)?;
    let service = &regional;

    if parts.method != Method::POST {
        return refuse(
            service,
            &caller,
            ApiError::client(
                "UnknownOperationException",
                format!("{} requests are not supported; send POST", parts.method),
            ),
        );
    }
    if !target.starts_with(TARGET_PREFIX) {
        return refuse(
            service,
            &caller,
            ApiError::client(
                "UnknownOperationException",
                format!("X-Amz-Target must be {TARGET_PREFIX}<Operation>, not '{target}'"),
            ),
        );
    }
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let json_type = content_type.starts_with("application/x-amz-json-1.")
        || content_type.starts_with("application/json");
    if !json_type {
        return refuse(
            service,
            &caller,
            ApiError::client(
                "SerializationException",
                format!("Content-Type must be {CONTENT_TYPE_JSON}, not '{content_type}'"),
            ),
        );
    }
    let class = match protocol::served(operation) {
        Some(op) => match protocol::key_pair_spec_of(op, body) {
            Some(pair) => quota::classify_key_pair(pair),
            None => quota::classify(op, || {
                facts.key.as_deref().and_then(|key| service.key_type(key))
            }),
        },
        None => OpClass::Management,
    };
    if !state
        .limiter
        .admit(&caller.account, service.region(), class)
    {
        return refuse(
            service,
            &caller,
            ApiError::client(
                "ThrottlingException",
                format!(
                    "Rate exceeded: the {} request quota of account {} in {} is used up",
                    class.name(),
                    caller.account,
                    service.region()
                ),
            ),
        );
    }
    match protocol::dispatch(service, &caller, operation, body) {
        Err(error) if error.unaudited => refuse(service, &caller, error),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_answering_is_an_internal_error_and_an_audit_record() {
        let service = Service::in_memory().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let answer = guarded(&service, remote, "req-1", || {
            let date = "20150é0T123600Z";
            // What the SigV4 date parser once did with such a date.
            let month = &date[4..6];
            Ok(month.into())
        });
        let error = answer.unwrap_err();
        assert_eq!(
            (error.aws_type.as_str(), error.status),
            ("KMSInternalException", 500)
        );
        assert!(
            !error.message.contains("char boundary"),
            "{}",
            error.message
        );
        let root = Caller::account_root(service.account());
        let events = service.lookup_audit_events(&root, 0, 10).unwrap();
        let (_, event) = events
            .iter()
            .find(|(_, e)| e.outcome == "KMSInternalException")
            .expect("the fault is audited");
        assert_eq!(
            (event.request_id.as_str(), event.source.as_str()),
            ("req-1", "api:192.0.2.7")
        );
        assert!(
            event
                .error_message
                .as_deref()
                .unwrap()
                .contains("char boundary")
        );
        // Answers that do not panic pass through untouched.
        assert_eq!(
            guarded(&service, remote, "req-2", || Ok(b"{}".to_vec())).unwrap(),
            b"{}"
        );
    }
}
