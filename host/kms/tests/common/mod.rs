//! What the tests that drive the `kms` binary share: running it on a home of its own, and a
//! small HTTP client (`http`).

// Each test file uses part of what is here.
#![allow(dead_code)]

pub mod http;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use http::{Connection, Response, now, signed_headers};

/// Runs `kms` with `args` on the vault in `home`, deaf to the caller's own KMS environment.
pub fn kms(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(args)
        .env("KMS_HOME", home)
        .env_remove("KMS_VAULT")
        .env_remove("KMS_STORE")
        .env_remove("KMS_ROOT_KEY_FILE")
        .env_remove("KMS_ROOT_KEY")
        .env_remove("KMS_PRINCIPAL")
        .output()
        .unwrap()
}

/// What a `kms` run that must succeed printed.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `kms serve` that printed where it listens.
pub struct Serving {
    pub child: Child,
    /// `http` or `https`.
    pub scheme: String,
    pub addr: SocketAddr,
}

/// Starts `kms serve --listen 127.0.0.1:0` with `extra` on `home` and waits for the address it
/// prints; what it prints later is drained, so it never blocks on a full pipe. Its stderr goes
/// to `stderr` (piped, for a test that reads it at the end).
pub fn serve(home: &Path, extra: &[&str], stderr: Stdio) -> Serving {
    serve_with_env(home, extra, stderr, &[])
}

/// [`serve`], with `env` added to the server's environment.
pub fn serve_with_env(
    home: &Path,
    extra: &[&str],
    stderr: Stdio,
    env: &[(&str, &std::ffi::OsStr)],
) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("KMS_HOME", home)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let (scheme, addr) = loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let mut stderr = String::new();
            if let Some(pipe) = child.stderr.as_mut() {
                let _ = std::io::Read::read_to_string(pipe, &mut stderr);
            }
            panic!("kms serve printed no address: {stderr}");
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap();
            let (scheme, addr) = url.split_once("://").unwrap();
            break (scheme.to_string(), addr.parse().unwrap());
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Serving {
        child,
        scheme,
        addr,
    }
}

/// The administrator's access key id and secret that `kms init` wrote into `home`.
pub fn admin_credentials(home: &Path) -> (String, String) {
    let credentials = std::fs::read_to_string(home.join("credentials")).unwrap();
    let field = |name: &str| {
        credentials
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .unwrap()
            .to_string()
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

/// One keep-alive connection's worth of signed requests.
pub struct Client {
    addr: SocketAddr,
    key_id: String,
    secret: String,
    connection: Option<Connection>,
}

impl Client {
    /// A client of the server at `addr` signing as `key_id`.
    pub fn new(addr: SocketAddr, key_id: &str, secret: &str) -> Client {
        Client {
            addr,
            key_id: key_id.to_string(),
            secret: secret.to_string(),
            connection: None,
        }
    }

    /// Whether the client holds a connection: it drops the one a call found broken.
    pub fn connected(&self) -> bool {
        self.connection.is_some()
    }

    /// The response, or `None` when the server is gone (refused, reset or cut off mid-answer).
    pub fn call(&mut self, operation: &str, body: &str) -> Option<Response> {
        if self.connection.is_none() {
            self.connection = Some(Connection::open(self.addr).ok()?);
        }
        let headers = signed_headers(
            &self.addr.to_string(),
            operation,
            body.as_bytes(),
            &self.key_id,
            &self.secret,
            "us-east-1",
            now(),
        );
        let response = self
            .connection
            .as_mut()?
            .request("POST", "/", &headers, body.as_bytes());
        match response {
            Ok(r) => Some(r),
            Err(_) => {
                self.connection = None;
                None
            }
        }
    }

    /// The JSON answer of a request the server acknowledged (answered 200), else `None`.
    pub fn acknowledged(
        &mut self,
        operation: &str,
        body: &str,
    ) -> Option<(String, serde_json::Value)> {
        let response = self.call(operation, body)?;
        if response.status != 200 {
            return None;
        }
        let id = response.header("x-amzn-requestid")?.to_string();
        Some((id, response.json()))
    }
}
