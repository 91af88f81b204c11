//! External key stores end to end: `kms xks-proxy` serves one vault's keys as external keys,
//! `kms serve` on another vault uses them through an `EXTERNAL_KEY_STORE` — CreateCustomKeyStore,
//! Connect, CreateKey with an `XksKeyId`, Encrypt/Decrypt/GenerateDataKey doubly encrypted — and
//! the failures: the proxy down, too slow, refusing the credential, answering garbage, or its
//! key disabled (the external key manager revoking every use). Each maps to AWS's error and
//! nothing hangs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Client, Serving, admin_credentials, kms, ok, serve_with_env};

const ACCESS_KEY_ID: &str = "XKSPROXYTESTACCESSKEY234";
const SECRET: &str = "c2VjcmV0IG9mIHRoZSB4a3MgcHJveHkgdGVzdCBjcmVkZW50aWFs";
const WRONG_SECRET: &str = "bm90IHRoZSBzZWNyZXQgb2YgdGhlIHhrcyBwcm94eSBhdCBhbGwh";
/// Calls to the proxy may take this long (debug builds on a small machine); AWS's is 250 ms.
const TIMEOUT_MS: &str = "3000";

/// `kms xks-proxy` on a vault of its own, with one key.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    home: tempfile::TempDir,
    key: String,
}

impl Proxy {
    fn start() -> Proxy {
        let home = tempfile::tempdir().unwrap();
        ok(kms(home.path(), &["init"]));
        let key = new_key(&home, &["--description", "external key"]);
        Self::start_on(home, key)
    }

    /// The proxy on a vault already made, serving (among its keys) `key`.
    fn start_on(home: tempfile::TempDir, key: String) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
            .args([
                "xks-proxy",
                "--listen",
                "127.0.0.1:0",
                "--uri-path-prefix",
                "/tenant-a",
                "--access-key-id",
                ACCESS_KEY_ID,
            ])
            .env("KMS_HOME", home.path())
            .env("KMS_XKS_PROXY_SECRET", SECRET)
            .env_remove("KMS_STORE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("kms xks-proxy printed no address: {line}"))
            .parse()
            .unwrap();
        Proxy {
            child,
            addr,
            home,
            key,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        ok(kms(self.home.path(), args))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new key of the vault in `home`, made with `args`; its id.
fn new_key(home: &tempfile::TempDir, args: &[&str]) -> String {
    let mut all = vec!["create-key", "--output", "json"];
    all.extend_from_slice(args);
    let created: serde_json::Value = serde_json::from_str(&ok(kms(home.path(), &all))).unwrap();
    created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `kms serve` that reaches proxies with [`TIMEOUT_MS`].
struct Kms {
    serving: Serving,
    home: tempfile::TempDir,
}

impl Kms {
    fn start() -> Kms {
        let home = tempfile::tempdir().unwrap();
        ok(kms(home.path(), &["init"]));
        let serving = serve_with_env(
            home.path(),
            &["--rate", "management=100000"],
            Stdio::null(),
            &[("KMS_XKS_TIMEOUT_MS", TIMEOUT_MS.as_ref())],
        );
        Kms { serving, home }
    }

    fn client(&self) -> Client {
        let (key_id, secret) = admin_credentials(self.home.path());
        Client::new(self.serving.addr, &key_id, &secret)
    }
}

impl Drop for Kms {
    fn drop(&mut self) {
        let _ = self.serving.child.kill();
        let _ = self.serving.child.wait();
    }
}

/// The JSON of a request that must succeed.
fn answer(client: &mut Client, operation: &str, body: &serde_json::Value) -> serde_json::Value {
    let response = client
        .call(operation, &body.to_string())
        .expect("kms answers");
    assert_eq!(
        response.status,
        200,
        "{operation}: {}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

/// The AWS exception a request was refused with, and how long it took.
fn refused(client: &mut Client, operation: &str, body: &serde_json::Value) -> (String, Duration) {
    let started = Instant::now();
    let response = client
        .call(operation, &body.to_string())
        .expect("kms answers");
    let took = started.elapsed();
    assert_ne!(response.status, 200, "{operation} succeeded");
    let kind = response.json()["__type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (
        kind.rsplit('#').next().unwrap_or_default().to_string(),
        took,
    )
}

fn create_store(endpoint: &str, name: &str, secret: &str) -> serde_json::Value {
    serde_json::json!({
        "CustomKeyStoreName": name,
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyUriEndpoint": endpoint,
        "XksProxyUriPath": "/tenant-a/kms/xks/v1",
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        "XksProxyAuthenticationCredential": {"AccessKeyId": ACCESS_KEY_ID, "RawSecretAccessKey": secret},
    })
}

fn connected(client: &mut Client, store: &str) -> serde_json::Value {
    answer(
        client,
        "ConnectCustomKeyStore",
        &serde_json::json!({"CustomKeyStoreId": store}),
    );
    let described = answer(
        client,
        "DescribeCustomKeyStores",
        &serde_json::json!({"CustomKeyStoreId": store}),
    );
    described["CustomKeyStores"][0].clone()
}

#[test]
fn a_key_in_an_external_key_store_is_doubly_encrypted_and_revoked_by_its_proxy() {
    let proxy = Proxy::start();
    let kms = Kms::start();
    let mut client = kms.client();
    let endpoint = format!("http://{}", proxy.addr);
    let store = answer(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&endpoint, "tenant-a", SECRET),
    )["CustomKeyStoreId"]
        .as_str()
        .unwrap()
        .to_string();
    let entry = connected(&mut client, &store);
    assert_eq!(entry["ConnectionState"], "CONNECTED", "{entry}");
    assert_eq!(entry["CustomKeyStoreType"], "EXTERNAL_KEY_STORE");
    assert_eq!(
        entry["XksProxyConfiguration"]["UriEndpoint"],
        endpoint.as_str()
    );
    assert_eq!(entry["XksProxyConfiguration"]["AccessKeyId"], ACCESS_KEY_ID);
    assert!(
        entry["XksProxyConfiguration"]
            .get("RawSecretAccessKey")
            .is_none()
    );

    let (kind, _) = refused(
        &mut client,
        "CreateKey",
        &serde_json::json!({"CustomKeyStoreId": store, "Origin": "EXTERNAL_KEY_STORE", "XksKeyId": "no-such-key"}),
    );
    assert_eq!(kind, "XksKeyNotFoundException");
    let key = answer(
        &mut client,
        "CreateKey",
        &serde_json::json!({"CustomKeyStoreId": store, "Origin": "EXTERNAL_KEY_STORE", "XksKeyId": proxy.key}),
    )["KeyMetadata"]
        .clone();
    assert_eq!(key["Origin"], "EXTERNAL_KEY_STORE");
    assert_eq!(key["XksKeyConfiguration"]["Id"], proxy.key.as_str());
    let key_id = key["KeyId"].as_str().unwrap().to_string();
    let (kind, _) = refused(
        &mut client,
        "CreateKey",
        &serde_json::json!({"CustomKeyStoreId": store, "Origin": "EXTERNAL_KEY_STORE", "XksKeyId": proxy.key}),
    );
    assert_eq!(kind, "XksKeyAlreadyInUseException");

    let plaintext = B64.encode(b"doubly encrypted");
    let context = serde_json::json!({"tenant": "a"});
    let blob = answer(
        &mut client,
        "Encrypt",
        &serde_json::json!({"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": context}),
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string();
    let decrypt = serde_json::json!({"CiphertextBlob": blob, "EncryptionContext": context});
    assert_eq!(
        answer(&mut client, "Decrypt", &decrypt)["Plaintext"],
        plaintext.as_str()
    );
    let data_key = answer(
        &mut client,
        "GenerateDataKey",
        &serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}),
    );
    let opened = answer(
        &mut client,
        "Decrypt",
        &serde_json::json!({"CiphertextBlob": data_key["CiphertextBlob"]}),
    );
    assert_eq!(opened["Plaintext"], data_key["Plaintext"]);
    // The proxy saw (and audited) the external half of every call.
    let proxied = proxy.cli(&["audit", "query", "--output", "json"]);
    assert!(proxied.contains("XksProxyEncrypt") && proxied.contains("XksProxyDecrypt"));

    // The external key manager revokes: its key disabled (by another process on the proxy's
    // vault, which the proxy sees within its cache bound), nothing encrypts or decrypts.
    proxy.cli(&["disable-key", &proxy.key]);
    let encrypt = serde_json::json!({"KeyId": key_id, "Plaintext": plaintext});
    let since = Instant::now();
    while client.call("Encrypt", &encrypt.to_string()).unwrap().status == 200 {
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the revocation never arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        refused(&mut client, "Encrypt", &encrypt).0,
        "KMSInvalidStateException"
    );
    assert_eq!(
        refused(&mut client, "Decrypt", &decrypt).0,
        "KMSInvalidStateException"
    );
    proxy.cli(&["enable-key", &proxy.key]);
    let since = Instant::now();
    while client.call("Decrypt", &decrypt.to_string()).unwrap().status != 200 {
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "the key never came back"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Disconnected, the key is refused; the proxy down, too.
    answer(
        &mut client,
        "DisconnectCustomKeyStore",
        &serde_json::json!({"CustomKeyStoreId": store}),
    );
    assert_eq!(
        refused(&mut client, "Encrypt", &encrypt).0,
        "KMSInvalidStateException"
    );
    let entry = connected(&mut client, &store);
    assert_eq!(entry["ConnectionState"], "CONNECTED");
    drop(proxy);
    let (kind, took) = refused(&mut client, "Decrypt", &decrypt);
    assert_eq!(kind, "KMSInvalidStateException");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// A listener that accepts connections and never answers.
fn silent_proxy() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    (addr, holder)
}

/// A server that answers every request 200 with a body that is not JSON.
fn garbage_proxy() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Type: application/json\r\n\r\nnot json!",
            );
        }
    });
    addr
}

#[test]
fn a_proxy_that_is_down_slow_wrong_or_garbled_is_named_as_aws_names_it() {
    let proxy = Proxy::start();
    let kms = Kms::start();
    let mut client = kms.client();
    let endpoint = format!("http://{}", proxy.addr);

    let (kind, _) = refused(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&endpoint, "wrong secret", WRONG_SECRET),
    );
    assert_eq!(kind, "XksProxyIncorrectAuthenticationCredentialException");

    let (silent, _holder) = silent_proxy();
    let (kind, took) = refused(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&format!("http://{silent}"), "silent", SECRET),
    );
    assert_eq!(kind, "XksProxyUriUnreachableException");
    assert!(
        took < Duration::from_secs(10),
        "the timeout bounds it: {took:?}"
    );

    let garbage = garbage_proxy();
    let (kind, _) = refused(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&format!("http://{garbage}"), "garbage", SECRET),
    );
    assert_eq!(kind, "XksProxyInvalidResponseException");

    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (kind, _) = refused(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&format!("http://{closed}"), "down", SECRET),
    );
    assert_eq!(kind, "XksProxyUriUnreachableException");

    // Plain HTTP is for loopback only; a wrong path is refused as AWS refuses it.
    let mut bad = create_store("http://proxy.example.com", "remote", SECRET);
    let (kind, _) = refused(&mut client, "CreateCustomKeyStore", &bad);
    assert_eq!(kind, "ValidationException");
    bad = create_store(&endpoint, "bad path", SECRET);
    bad["XksProxyUriPath"] = serde_json::json!("/tenant-a/xks");
    let (kind, _) = refused(&mut client, "CreateCustomKeyStore", &bad);
    assert_eq!(kind, "ValidationException");

    // A store whose proxy stops answering fails to connect with its code.
    let store = answer(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&endpoint, "tenant-a", SECRET),
    )["CustomKeyStoreId"]
        .as_str()
        .unwrap()
        .to_string();
    drop(proxy);
    let entry = connected(&mut client, &store);
    assert_eq!(entry["ConnectionState"], "FAILED", "{entry}");
    assert_eq!(
        entry["ConnectionErrorCode"], "XKS_PROXY_NOT_REACHABLE",
        "{entry}"
    );
}

#[test]
fn an_xks_proxy_backed_by_a_pkcs11_token_serves_the_keys_inside_it() {
    let Some(token) = kms_vault::hsm::testing::test_token() else {
        return;
    };
    // The key manager's vault keeps its key inside an HSM key store.
    let home = tempfile::tempdir().unwrap();
    ok(kms(home.path(), &["init"]));
    let anchor = home.path().join("customerCA.crt");
    std::fs::write(
        &anchor,
        "-----BEGIN CERTIFICATE-----\nMIIBxksproxyhsmanchor\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    ok(kms(
        home.path(),
        &[
            "register-hsm-cluster",
            "--cluster-id",
            "cluster-xksproxyhsm",
            "--module",
            token.module.to_str().unwrap(),
            "--token-label",
            &token.label,
            "--trust-anchor-certificate",
            anchor.to_str().unwrap(),
        ],
    ));
    let store: serde_json::Value = serde_json::from_str(&ok(kms(
        home.path(),
        &[
            "create-custom-key-store",
            "--custom-key-store-name",
            "ekm",
            "--cloud-hsm-cluster-id",
            "cluster-xksproxyhsm",
            "--trust-anchor-certificate",
            &format!("file://{}", anchor.display()),
            "--key-store-password",
            &token.pin,
            "--output",
            "json",
        ],
    )))
    .unwrap();
    let store = store["CustomKeyStoreId"].as_str().unwrap().to_string();
    ok(kms(
        home.path(),
        &["connect-custom-key-store", "--custom-key-store-id", &store],
    ));
    let key = new_key(&home, &["--custom-key-store-id", &store]);
    let proxy = Proxy::start_on(home, key);

    let kms = Kms::start();
    let mut client = kms.client();
    let xks = answer(
        &mut client,
        "CreateCustomKeyStore",
        &create_store(&format!("http://{}", proxy.addr), "hsm-backed", SECRET),
    )["CustomKeyStoreId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(connected(&mut client, &xks)["ConnectionState"], "CONNECTED");
    let key_id = answer(
        &mut client,
        "CreateKey",
        &serde_json::json!({"CustomKeyStoreId": xks, "Origin": "EXTERNAL_KEY_STORE", "XksKeyId": proxy.key}),
    )["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let plaintext = B64.encode(b"through the token");
    let blob = answer(
        &mut client,
        "Encrypt",
        &serde_json::json!({"KeyId": key_id, "Plaintext": plaintext}),
    )["CiphertextBlob"]
        .clone();
    let opened = answer(
        &mut client,
        "Decrypt",
        &serde_json::json!({"CiphertextBlob": blob}),
    );
    assert_eq!(opened["Plaintext"], plaintext.as_str());
    // The proxy's half ran in the token.
    let proxied = proxy.cli(&[
        "audit",
        "query",
        "--operation",
        "XksProxyEncrypt",
        "--output",
        "json",
    ]);
    let events: serde_json::Value = serde_json::from_str(&proxied).unwrap();
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e.get("errorCode").is_none()),
        "{proxied}"
    );
}
