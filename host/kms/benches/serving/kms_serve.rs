//! The server under test: the real `kms` binary's `kms serve`, on the default SQLite vault that
//! `kms init` makes in a home of its own, plain HTTP on loopback, rate quotas lifted, driven by
//! the administrator's access key with SigV4-signed 1 KiB Encrypts.

use std::net::SocketAddr;
use std::process::Stdio;
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::client::HttpRequest;
use crate::common::{self, Serving, http};

const REGION: &str = "us-east-1";

/// A running `kms serve`; stopped when dropped.
pub struct KmsServe {
    serving: Serving,
    home: Rc<tempfile::TempDir>,
    /// The PostgreSQL vault (`--store`), or none for the SQLite file in `home`.
    store: Option<String>,
    key_id: String,
    access_key_id: String,
    secret: String,
}

impl KmsServe {
    /// `kms serve` on the default SQLite vault.
    pub fn start() -> anyhow::Result<KmsServe> {
        Self::start_on(None)
    }

    /// `kms serve` on the PostgreSQL vault at `store` (initialised here), or on SQLite.
    pub fn start_on(store: Option<&str>) -> anyhow::Result<KmsServe> {
        let home = tempfile::tempdir()?;
        let with_store = |args: &[&'static str]| -> Vec<String> {
            let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if let Some(url) = store {
                all.extend(["--store".to_string(), url.to_string()]);
            }
            all
        };
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::ok(common::kms(home.path(), &args))
        };
        run(with_store(&["init"]));
        let created = run(with_store(&[
            "create-key",
            "--description",
            "serving bench",
            "--output",
            "json",
        ]));
        let created: serde_json::Value = serde_json::from_str(&created)?;
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("create-key printed no KeyId: {created}"))?
            .to_string();
        let (access_key_id, secret) = common::admin_credentials(home.path());
        let home = Rc::new(home);
        let store = store.map(str::to_string);
        let serving = serve(&home, store.as_deref())?;
        Ok(KmsServe {
            serving,
            home,
            store,
            key_id,
            access_key_id,
            secret,
        })
    }

    /// Another node on the same PostgreSQL vault, with the same root key, key and access key.
    pub fn another_node(&self) -> anyhow::Result<KmsServe> {
        Ok(KmsServe {
            serving: serve(&self.home, self.store.as_deref())?,
            home: Rc::clone(&self.home),
            store: self.store.clone(),
            key_id: self.key_id.clone(),
            access_key_id: self.access_key_id.clone(),
            secret: self.secret.clone(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.serving.addr
    }

    pub fn pid(&self) -> u32 {
        self.serving.child.id()
    }

    /// The size of the vault file and its write-ahead log, in bytes.
    pub fn vault_bytes(&self) -> u64 {
        std::fs::read_dir(self.home.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".db"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Encrypt of `plaintext` under the benchmark's key, as the administrator.
    pub fn encrypt(&self, plaintext: &[u8]) -> SignedEncrypt {
        SignedEncrypt {
            host: self.addr().to_string(),
            body: format!(
                r#"{{"KeyId":"{}","Plaintext":"{}"}}"#,
                self.key_id,
                B64.encode(plaintext)
            )
            .into_bytes(),
            access_key_id: self.access_key_id.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// Starts `kms serve` on `home` (and `store`, if given), rate quotas lifted: quotas would
/// measure the limiter, not the server.
fn serve(home: &tempfile::TempDir, store: Option<&str>) -> anyhow::Result<Serving> {
    let mut args: Vec<String> = ["symmetric", "rsa", "ecc", "hmac", "management"]
        .iter()
        .flat_map(|class| ["--rate".to_string(), format!("{class}=1000000000")])
        .collect();
    if let Some(url) = store {
        args.extend(["--store".to_string(), url.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let serving = common::serve(home.path(), &args, Stdio::inherit());
    anyhow::ensure!(
        serving.scheme == "http",
        "kms serve chose {}",
        serving.scheme
    );
    Ok(serving)
}

/// An Encrypt request that can be signed again at any time.
#[derive(Clone)]
pub struct SignedEncrypt {
    host: String,
    body: Vec<u8>,
    access_key_id: String,
    secret: String,
}

impl SignedEncrypt {
    /// The request signed now.
    pub fn sign(&self) -> HttpRequest {
        let headers = http::signed_headers(
            &self.host,
            "Encrypt",
            &self.body,
            &self.access_key_id,
            &self.secret,
            REGION,
            http::now(),
        );
        HttpRequest {
            method: "POST",
            path: "/".into(),
            headers,
            body: self.body.clone(),
        }
    }
}

impl Drop for KmsServe {
    fn drop(&mut self) {
        let _ = self.serving.child.kill();
        let _ = self.serving.child.wait();
    }
}
