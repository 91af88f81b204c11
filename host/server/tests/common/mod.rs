//! `kms serve` in the test process (an in-memory vault, a user allowed everything, one key), a
//! small HTTP/1.1 client that sends exactly the bytes a test wants over a plain or TLS stream,
//! and a watch for panics on the server's threads.

#![allow(dead_code)]

pub mod certs;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use kms_server::{Server, ServerConfig, sigv4};
use kms_service::{
    Caller, CreateKeyRequest, CreatePrincipalRequest, PutPrincipalPolicyRequest, Service,
};

pub const REGION: &str = "us-east-1";

static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on the server's threads (named `kms-serve`), whatever catches them later, and
/// still prints them as the default hook does.
fn watch_for_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with("kms-serve"))
            {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Fails if any server thread of this test binary has panicked so far.
pub fn assert_no_server_panicked() {
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "a server thread panicked (its message is on stderr)"
    );
}

/// A running server and what a well-behaved client needs to use it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub access_key_id: String,
    pub secret: String,
    pub key_id: String,
    /// The CA that issued the server's certificate, when it serves TLS.
    pub tls_ca: Option<std::path::PathBuf>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Serves plain HTTP on a free loopback port; `configure` adjusts the configuration (short
    /// timeouts, small caps) before binding.
    pub fn start(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        Self::start_with(None, configure)
    }

    /// Serves HTTPS with `certificates`' server certificate.
    pub fn start_tls(
        certificates: &certs::TestCertificates,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        Self::start_with(Some(certificates), configure)
    }

    fn start_with(
        certificates: Option<&certs::TestCertificates>,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        watch_for_panics();
        let service = Arc::new(Service::in_memory().unwrap());
        let (access_key_id, secret, key_id) = set_up(&service);
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            drain_timeout: Duration::from_millis(500),
            ..Default::default()
        };
        if let Some(certificates) = certificates {
            config.tls = Some(
                kms_server::TlsIdentity::from_pem_files(
                    &certificates.server_cert(),
                    &certificates.server_key(),
                )
                .unwrap(),
            );
        }
        configure(&mut config);
        let server = Server::bind(service, config).unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .unwrap();
        });
        TestServer {
            addr,
            access_key_id,
            secret,
            key_id,
            tls_ca: certificates.map(|c| c.ca()),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A new TCP connection with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// The headers of a signed KMS request for `operation` with `body`.
    pub fn signed_headers(&self, operation: &str, body: &[u8]) -> Vec<(String, String)> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        sigv4::signed_kms_headers(
            &self.addr.to_string(),
            operation,
            body,
            &self.access_key_id,
            self.secret.as_bytes(),
            REGION,
            now,
        )
    }

    /// Sends a signed request on `stream` and reads the answer.
    pub fn call_on(
        &self,
        stream: &mut (impl Read + Write),
        operation: &str,
        body: &[u8],
    ) -> io::Result<Response> {
        let headers = self.signed_headers(operation, body);
        write_request(stream, "POST", "/", &headers, body)?;
        read_response(stream)
    }

    /// What a well-behaved client does, on a connection of its own (over TLS when the server
    /// serves TLS): encrypts under the test key and decrypts the result, which must succeed.
    pub fn assert_serves_a_well_behaved_client(&self) {
        let started = Instant::now();
        match &self.tls_ca {
            None => self.encrypt_and_decrypt(&mut self.connect()),
            Some(ca) => self.encrypt_and_decrypt(&mut tls_connect(self.connect(), ca)),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the well-behaved client waited {:?}",
            started.elapsed()
        );
    }

    fn encrypt_and_decrypt(&self, stream: &mut (impl Read + Write)) {
        let plaintext = B64.encode(b"well-behaved");
        let body = format!(r#"{{"KeyId":"{}","Plaintext":"{plaintext}"}}"#, self.key_id);
        let encrypted = self.call_on(stream, "Encrypt", body.as_bytes()).unwrap();
        assert_eq!(encrypted.status, 200, "{encrypted:?}");
        let blob = encrypted.json()["CiphertextBlob"]
            .as_str()
            .unwrap()
            .to_string();
        let body = format!(r#"{{"CiphertextBlob":"{blob}"}}"#);
        let decrypted = self.call_on(stream, "Decrypt", body.as_bytes()).unwrap();
        assert_eq!(decrypted.status, 200, "{decrypted:?}");
        assert_eq!(decrypted.json()["Plaintext"], plaintext.as_str());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A user allowed everything with an access key, and a symmetric key: (access key id, secret,
/// key id).
fn set_up(service: &Service) -> (String, String, String) {
    let root = Caller::account_root(service.account());
    let arn = format!("arn:aws:iam::{}:user/tester", service.account());
    service
        .create_principal(
            &root,
            CreatePrincipalRequest {
                arn: arn.clone(),
                tags: Vec::new(),
            },
        )
        .unwrap();
    service
        .put_principal_policy(
            &root,
            PutPrincipalPolicyRequest {
                arn: arn.clone(),
                policy_name: "all".into(),
                policy_document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into(),
            },
        )
        .unwrap();
    let created = service.create_access_key(&root, &arn).unwrap();
    let key = service
        .create_key(&root, CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    (
        created.access_key_id,
        created.secret_access_key.to_string(),
        key,
    )
}

/// A TLS client connection over `tcp` that trusts only the CA in `ca` and expects the name
/// `localhost`; the handshake is completed before it is returned.
pub fn tls_connect(
    mut tcp: TcpStream,
    ca: &std::path::Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut connection = tls_client(ca);
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp).unwrap();
    }
    rustls::StreamOwned::new(connection, tcp)
}

/// A TLS client that has not yet sent anything.
pub fn tls_client(ca: &std::path::Path) -> rustls::ClientConnection {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap()
}

/// One response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The AWS error type of the body (`__type`).
    pub fn aws_type(&self) -> String {
        self.json()["__type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Writes a request with these headers and a Content-Length for `body`.
pub fn write_request(
    stream: &mut impl Write,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()
}

/// Reads one response (its body by Content-Length).
pub fn read_response(stream: &mut impl Read) -> io::Result<Response> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the server closed the connection after {:?}",
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// How the server left a hostile connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// It answered with this status, then closed (or would have, within the wait).
    Answered(u16),
    /// It closed (or reset) the connection without an answer.
    Closed,
    /// It neither answered nor closed within the wait.
    StillOpen,
}

/// Reads whatever the server sends on `stream` until it closes or has sent a whole response,
/// for at most `wait`.
pub fn ending(stream: &mut TcpStream, wait: Duration) -> Ending {
    let deadline = Instant::now() + wait;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = |received: &[u8]| -> Option<u16> {
        let text = String::from_utf8_lossy(received);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return match answered(&received) {
                Some(status) => Ending::Answered(status),
                None => Ending::StillOpen,
            };
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                if let Some(status) = answered(&received).filter(|_| whole(&received)) {
                    return Ending::Answered(status);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // Reset: closed.
            Err(_) => break,
        }
    }
    match answered(&received) {
        Some(status) => Ending::Answered(status),
        None => Ending::Closed,
    }
}

/// Whether `received` holds a whole response: its head and as much body as it declares.
fn whole(received: &[u8]) -> bool {
    let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    let declared: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    received.len() >= end + 4 + declared
}

/// The soft limit on open files of this process (Linux), if it can be read.
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
