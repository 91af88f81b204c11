//! `kms serve`: the AWS KMS JSON API over HTTPS (or plain HTTP on loopback), with its quotas,
//! until interrupted.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kms_service as svc;

use super::Invocation;
use super::home::Paths;

#[derive(clap::Args, Debug)]
pub(super) struct ServeArgs {
    /// Address to listen on, as HOST:PORT (loopback by default; `localhost:4600` is loopback;
    /// port 0 picks a free one). Any other address needs --tls-cert and --tls-key, or
    /// --allow-plain-http.
    #[arg(long, default_value = kms_server::DEFAULT_LISTEN, value_parser = parse_listen)]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first, then the
    /// certificates that issued it).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert's certificate (PKCS#8, RSA or EC; unencrypted).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address that is not loopback: requests and answers, plaintexts
    /// and data keys included, cross the network in clear. Only for a server behind a
    /// TLS-terminating proxy on the same host.
    #[arg(long, conflicts_with = "tls_cert")]
    allow_plain_http: bool,
    /// How long a client may take to complete its TLS handshake, in seconds.
    #[arg(long, default_value_t = 10)]
    tls_handshake_timeout_seconds: u64,
    /// The largest request line and headers accepted, in bytes (larger ones are answered 431).
    #[arg(long, default_value_t = 64 << 10)]
    max_header_bytes: usize,
    /// A request-rate quota CLASS=PER_SECOND per account (classes: symmetric, rsa, ecc,
    /// hmac, management), repeatable.
    #[arg(long = "rate", value_name = "CLASS=RATE")]
    rates: Vec<String>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Allowed clock difference of signed requests, in seconds.
    #[arg(long, default_value_t = kms_server::sigv4::DEFAULT_MAX_SKEW_SECONDS)]
    max_skew_seconds: u64,
    /// How long a client may take to send a request's headers, in seconds.
    #[arg(long, default_value_t = 30)]
    header_timeout_seconds: u64,
    /// How long a client may take to send a request's body once its headers are in, in seconds.
    #[arg(long, default_value_t = 30)]
    body_timeout_seconds: u64,
    /// Connections served at once; clients past this are closed at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Threads answering requests (default: one per CPU). Work that may block (a vault write,
    /// RSA, a policy plugin's run) moves a thread's other requests to another thread meanwhile.
    #[arg(long, value_name = "N")]
    worker_threads: Option<usize>,
    /// Serve only these regions (comma-separated, e.g. us-east-1,eu-west-1); requests scoped to
    /// another region are refused. Every region is served by default.
    #[arg(long, value_delimiter = ',', value_name = "REGIONS")]
    regions: Vec<String>,
    /// Refusals of unauthenticated requests audited one by one per client address and second;
    /// past this they are answered and counted in the next audit record of that client.
    #[arg(long, default_value_t = 20.0)]
    audited_refusals_per_second: f64,
    /// Request logs on standard output, one line per request (request id, principal, operation,
    /// key, outcome, status, latency; never key material or plaintext): text, json, or off.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Resource quota: KMS keys in each region of the account.
    #[arg(long, default_value_t = svc::ResourceLimits::default().keys)]
    max_keys: u64,
    /// Resource quota: aliases per KMS key.
    #[arg(long, default_value_t = svc::ResourceLimits::default().aliases_per_key)]
    max_aliases_per_key: usize,
    /// Resource quota: grants per KMS key.
    #[arg(long, default_value_t = svc::ResourceLimits::default().grants_per_key)]
    max_grants_per_key: usize,
}

/// Parses `--listen`: an IP address and port, or a host name and port (`localhost:4600`), which
/// is resolved here; a name with several addresses listens on its first IPv4 one.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(s)
        .map_err(|e| format!("expected HOST:PORT such as 127.0.0.1:4599 or localhost:4599: {e}"))?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("{s} resolves to no address"))
}

impl ServeArgs {
    fn server_config(&self) -> anyhow::Result<kms_server::ServerConfig> {
        let mut config = kms_server::ServerConfig {
            listen: self.listen,
            max_body_bytes: self.max_body_bytes,
            max_skew_seconds: self.max_skew_seconds,
            header_timeout: Duration::from_secs(self.header_timeout_seconds.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout_seconds.max(1)),
            max_connections: self.max_connections.max(1),
            regions: None,
            audited_refusals_per_second: self.audited_refusals_per_second,
            allow_plain_http: self.allow_plain_http,
            handshake_timeout: Duration::from_secs(self.tls_handshake_timeout_seconds.max(1)),
            max_header_bytes: self.max_header_bytes.max(1 << 10),
            ..Default::default()
        };
        if let Some(threads) = self.worker_threads {
            config.worker_threads = threads.max(1);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = Some(kms_server::TlsIdentity::from_pem_files(cert, key)?);
        }
        if !self.regions.is_empty() {
            for region in &self.regions {
                kms_core::arn::validate_region(region)?;
            }
            config.regions = Some(self.regions.clone());
        }
        for rate in &self.rates {
            config.rates.set(rate).map_err(anyhow::Error::msg)?;
        }
        Ok(config)
    }
}

/// How `kms serve` logs its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum LogFormat {
    /// `key=value` text lines.
    Text,
    /// One JSON object per line.
    Json,
    /// No request log.
    Off,
}

/// Installs the request log on standard output; answers its writer, to flush when serving
/// ends.
fn start_request_log(format: LogFormat) -> Option<BatchedStdout> {
    let writer = BatchedStdout::start();
    let builder = tracing_subscriber::fmt()
        .with_writer(writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_target(false);
    // A second installation (only in tests that run serve twice in a process) keeps the first.
    let _ = match format {
        LogFormat::Off => return None,
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Some(writer)
}

/// The request log's writer. Lines are gathered in memory and one thread writes them to
/// standard output, at most [`LOG_FLUSH_INTERVAL`] after they were logged, instead of a `write`
/// system call (and a wake-up of whatever reads the pipe) per request on the worker that served
/// it: about 5% of `kms serve`'s CPU under load in a profile. A reader that stops reading
/// still holds the workers back once [`LOG_BUFFER_LIMIT`] bytes wait, as direct writes did.
#[derive(Clone)]
struct BatchedStdout(Arc<LogBatch>);

#[derive(Default)]
struct LogBatch {
    pending: std::sync::Mutex<Vec<u8>>,
    // Signalled when lines are waiting past the limit (for the writer thread), and when the
    // writer thread took them (for workers held back).
    changed: std::sync::Condvar,
}

/// How long a request's log line may wait before it is written.
const LOG_FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// How many bytes of log lines may wait before the workers that log are held back.
const LOG_BUFFER_LIMIT: usize = 1 << 20;

impl BatchedStdout {
    fn start() -> Self {
        let batch = Arc::new(LogBatch::default());
        let writer = BatchedStdout(batch.clone());
        let weak = Arc::downgrade(&batch);
        drop(batch);
        std::thread::Builder::new()
            .name("kms-request-log".into())
            .spawn(move || {
                while let Some(batch) = weak.upgrade() {
                    let lines = {
                        let pending = batch.pending.lock().unwrap_or_else(|p| p.into_inner());
                        let (mut pending, _) = batch
                            .changed
                            .wait_timeout(pending, LOG_FLUSH_INTERVAL)
                            .unwrap_or_else(|p| p.into_inner());
                        std::mem::take(&mut *pending)
                    };
                    batch.changed.notify_all();
                    drop(batch);
                    write_out(&lines);
                }
            })
            .expect("spawning the request log's writer");
        writer
    }

    /// Writes out every line logged so far.
    fn flush(&self) {
        let lines = std::mem::take(&mut *self.0.pending.lock().unwrap_or_else(|p| p.into_inner()));
        write_out(&lines);
    }
}

fn write_out(lines: &[u8]) {
    if lines.is_empty() {
        return;
    }
    let mut stdout = io::stdout().lock();
    // A closed standard output loses the log, as a direct write would.
    let _ = stdout.write_all(lines).and_then(|()| stdout.flush());
}

impl io::Write for &LogBatch {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        while pending.len() >= LOG_BUFFER_LIMIT {
            self.changed.notify_all();
            pending = self
                .changed
                .wait(pending)
                .unwrap_or_else(|p| p.into_inner());
        }
        pending.extend_from_slice(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStdout {
    type Writer = &'a LogBatch;

    fn make_writer(&'a self) -> Self::Writer {
        &self.0
    }
}

pub(super) fn serve(kms: &Invocation, args: ServeArgs, paths: &Paths) -> anyhow::Result<()> {
    let config = args.server_config()?;
    kms.service.set_resource_limits(svc::ResourceLimits {
        keys: args.max_keys,
        aliases_per_key: args.max_aliases_per_key,
        grants_per_key: args.max_grants_per_key,
    });
    let region = kms.service.region().to_string();
    let served = match &config.regions {
        Some(regions) => regions.join(", "),
        None => "every region".to_string(),
    };
    let account = kms.service.account().to_string();
    let server = kms_server::Server::bind(Arc::clone(&kms.service), config)?;
    let addr = server.local_addr()?;
    let scheme = server.scheme();
    // Reads AWS's model now rather than on the first request, and says which of its patterns
    // the regex engine refused (none in the bundled model; values are then not checked by them).
    for (shape, why) in kms_server::validation::Model::kms().uncompiled_patterns() {
        eprintln!("kms serve: the pattern of {shape} in AWS's model is not checked: {why}");
    }
    {
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "kms serve: listening on {scheme}://{addr} (account {account}, region {region}; serving {served})"
        )?;
        // Ready to paste: the SDKs and the aws CLI (v2.13+, boto3 1.28+) read the KMS
        // endpoint from AWS_ENDPOINT_URL_KMS; the named profile leaves `default` alone.
        writeln!(
            stdout,
            "Point the aws CLI and SDKs at it (paste into a shell):"
        )?;
        writeln!(
            stdout,
            "  export AWS_ENDPOINT_URL_KMS={scheme}://{addr} AWS_DEFAULT_REGION={region} \\\n    AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE={}",
            paths.credentials().display(),
            super::identity::PROFILE
        )?;
        writeln!(stdout, "  aws kms list-keys")?;
        if scheme == "https" {
            writeln!(
                stdout,
                "  (add --ca-bundle <CA PEM> unless a CA the system trusts issued the certificate)"
            )?;
        }
        stdout.flush()?;
    }
    let request_log = start_request_log(args.log_format);
    let served = server.run(kms_server::shutdown_signal());
    if let Some(log) = &request_log {
        log.flush();
    }
    served?;
    // The last key uses noted since the last batch (GetKeyLastUsage).
    kms.service.flush_key_usage()?;
    eprintln!("kms serve: stopped");
    Ok(())
}

#[cfg(test)]
mod request_log_tests {
    use super::*;

    #[test]
    fn lines_wait_in_order_and_a_full_buffer_holds_the_logger_until_the_writer_takes_it() {
        let batch = Arc::new(LogBatch::default());
        (&*batch).write_all(b"one\n").unwrap();
        (&*batch).write_all(b"two\n").unwrap();
        assert_eq!(&*batch.pending.lock().unwrap(), b"one\ntwo\n");

        batch.pending.lock().unwrap().resize(LOG_BUFFER_LIMIT, b'x');
        let logger = {
            let batch = batch.clone();
            std::thread::spawn(move || (&*batch).write_all(b"held\n").unwrap())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !logger.is_finished(),
            "a full buffer must hold the logger back"
        );
        // What the writer thread does: take the lines, then tell the held-back loggers.
        let taken = std::mem::take(&mut *batch.pending.lock().unwrap());
        batch.changed.notify_all();
        logger.join().unwrap();
        assert_eq!(taken.len(), LOG_BUFFER_LIMIT);
        assert_eq!(&*batch.pending.lock().unwrap(), b"held\n");
    }
}
