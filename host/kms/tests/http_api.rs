//! `kms serve` as clients see it: the real binary on a free loopback port, driven by signed
//! requests of our own (protocol, authentication and quota errors, draining on shutdown) and by
//! the real AWS clients: boto3 for every implemented operation, the aws CLI, and the AWS
//! Encryption SDK. The clients live in a Python virtual environment that `.ci/run` prepares
//! (`target/tmp/aws-clients`); a test that finds none creates it.

mod common;
// The test CA and server certificate of the server crate's TLS tests, made with openssl.
#[path = "../../server/tests/common/certs.rs"]
mod certs;

use base64::Engine as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::http::{Connection, Response, now, signed_headers};
use common::{Serving, admin_credentials, kms, ok, serve};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";

struct Served {
    home: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
    /// `http` or `https`, as the banner says.
    scheme: String,
    key_id: String,
    secret: String,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        let home = tempfile::tempdir().unwrap();
        ok(kms(home.path(), &["init"]));
        Self::start_in(home, extra)
    }

    /// Starts `kms serve` in `home`, initialised or not.
    fn start_in(home: tempfile::TempDir, extra: &[&str]) -> Served {
        let Serving {
            child,
            scheme,
            addr,
        } = serve(home.path(), extra, Stdio::piped());
        let (key_id, secret) = admin_credentials(home.path());
        Served {
            home,
            child,
            addr,
            scheme,
            key_id,
            secret,
        }
    }

    fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    fn cli(&self, args: &[&str]) -> String {
        ok(kms(self.home.path(), args))
    }

    /// A signed request as the administrator, at `time`.
    fn call_at(&self, operation: &str, body: &str, time: u64) -> Response {
        self.call_in(REGION, operation, body, time)
    }

    /// A signed request as the administrator, scoped to `region`, at `time`.
    fn call_in(&self, region: &str, operation: &str, body: &str, time: u64) -> Response {
        let mut connection = Connection::open(self.addr).unwrap();
        let headers = signed_headers(
            &self.addr.to_string(),
            operation,
            body.as_bytes(),
            &self.key_id,
            &self.secret,
            region,
            time,
        );
        connection
            .request("POST", "/", &headers, body.as_bytes())
            .unwrap()
    }

    fn call(&self, operation: &str, body: &str) -> Response {
        self.call_at(operation, body, now())
    }

    /// Creates a symmetric key; answers its id.
    fn create_key(&self) -> String {
        let created = self.call("CreateKey", "{}");
        assert_eq!(
            created.status,
            200,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        created.json()["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Sends a CreateKey of an RSA-4096 key pair (a generation that takes a while) on a
    /// connection of its own, without waiting for the answer.
    fn start_rsa_4096_key(&self) -> Connection {
        let body = br#"{"KeySpec":"RSA_4096","KeyUsage":"SIGN_VERIFY"}"#;
        let headers = signed_headers(
            &self.addr.to_string(),
            "CreateKey",
            body,
            &self.key_id,
            &self.secret,
            REGION,
            now(),
        );
        let mut connection = Connection::open(self.addr).unwrap();
        connection.send("POST", "/", &headers, body).unwrap();
        connection
    }

    /// Sends SIGTERM and waits for the process to end.
    fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                let _ =
                    std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr);
                return (status, stderr);
            }
            assert!(Instant::now() < deadline, "kms serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn error_of(response: &Response) -> (u16, String) {
    let json = response.json();
    (
        response.status,
        json["__type"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn every_response_carries_a_request_id_that_the_audit_trail_shares() {
    let served = Served::start(&[]);
    let created = served.call("CreateKey", r#"{"Description":"over http"}"#);
    assert_eq!(
        created.status,
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(
        created.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let request_id = created.header("x-amzn-requestid").unwrap().to_string();
    let key = created.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let missing = served.call("DescribeKey", r#"{"KeyId":"alias/none"}"#);
    assert_eq!(error_of(&missing), (400, "NotFoundException".into()));
    assert!(missing.header("x-amzn-requestid").is_some());
    let records = served.cli(&[
        "audit",
        "query",
        "--operation",
        "CreateKey",
        "--output",
        "json",
    ]);
    let records: serde_json::Value = serde_json::from_str(&records).unwrap();
    let record = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["resources"][0]["ARN"]
                .as_str()
                .is_some_and(|a| a.ends_with(&key))
        })
        .unwrap();
    assert_eq!(record["requestID"], request_id.as_str());
    assert_eq!(
        record["userIdentity"]["arn"],
        "arn:aws:iam::111122223333:user/admin"
    );
    assert_eq!(record["userIdentity"]["type"], "IAMUser");
    assert_eq!(record["sourceIPAddress"], "127.0.0.1");
    assert!(
        record["additionalEventData"]["source"]
            .as_str()
            .unwrap()
            .starts_with("api:127.0.0.1")
    );
}

/// Reads `kms serve`'s banner up to its last line; answers it and the address it listens on.
fn read_banner(server: &mut Child) -> (String, String) {
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("aws kms list-keys") {
        assert!(stdout.read_line(&mut printed).unwrap() > 0, "{printed}");
    }
    let addr = printed
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    (printed, addr)
}

#[test]
fn serve_needs_no_set_up_and_prints_exports_the_aws_cli_works_with_as_pasted() {
    let home = tempfile::tempdir().unwrap();
    let mut output = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", "localhost:0"])
        .env("KMS_HOME", home.path().join("fresh"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (printed, addr) = read_banner(&mut output);
    // `localhost` is loopback, resolved by the server.
    assert!(
        printed.contains("listening on http://127.0.0.1:"),
        "{printed}"
    );
    assert!(home.path().join("fresh/vault.db").exists());
    let credentials = std::fs::read_to_string(home.path().join("fresh/credentials")).unwrap();
    assert!(
        credentials.starts_with("[kms-local]\n"),
        "not a named profile"
    );

    // The export lines, joined where they continue, run the aws CLI as pasted: a named
    // profile, the KMS endpoint and the region, nothing else from this machine.
    let exports = printed.replace("\\\n", " ");
    let exports = exports
        .lines()
        .find_map(|l| l.trim().strip_prefix("export "))
        .unwrap_or_else(|| panic!("no export line: {printed}"));
    let vars: Vec<(&str, &str)> = exports
        .split_whitespace()
        .map(|pair| pair.split_once('=').unwrap())
        .collect();
    let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "AWS_ENDPOINT_URL_KMS",
            "AWS_DEFAULT_REGION",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_PROFILE"
        ]
    );
    let venv = aws_clients();
    let listed = Command::new(venv.join("bin/python"))
        .args(["-m", "awscli", "kms", "list-keys", "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let listed = ok(listed);
    assert!(listed.contains("\"Keys\""), "{listed}");

    // A second server on the same address says what to do.
    let addr = addr.as_str();
    let second = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", addr])
        .env("KMS_HOME", home.path().join("fresh"))
        .output()
        .unwrap();
    let _ = output.kill();
    let _ = output.wait();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}"))
            && stderr.contains("--listen 127.0.0.1:0 picks a free port"),
        "{stderr}"
    );
}

#[test]
fn unsigned_badly_signed_expired_and_unknown_key_requests_are_refused_and_audited() {
    let served = Served::start(&[]);
    let mut connection = Connection::open(served.addr).unwrap();
    let unsigned = connection
        .request(
            "POST",
            "/",
            &[
                ("X-Amz-Target".into(), "TrentService.ListKeys".into()),
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
            ],
            b"{}",
        )
        .unwrap();
    assert_eq!(
        error_of(&unsigned),
        (400, "MissingAuthenticationTokenException".into())
    );
    // A signature over another body.
    let body = br#"{"Limit":1}"#;
    let mut headers = signed_headers(
        &served.addr.to_string(),
        "ListKeys",
        b"{}",
        &served.key_id,
        &served.secret,
        REGION,
        now(),
    );
    let tampered = connection.request("POST", "/", &headers, body).unwrap();
    assert_eq!(
        error_of(&tampered),
        (400, "InvalidSignatureException".into())
    );
    // A wrong secret, an unknown key id, a stale time.
    headers = signed_headers(
        &served.addr.to_string(),
        "ListKeys",
        b"{}",
        &served.key_id,
        "not-the-secret",
        REGION,
        now(),
    );
    let wrong = connection.request("POST", "/", &headers, b"{}").unwrap();
    assert_eq!(error_of(&wrong), (400, "InvalidSignatureException".into()));
    headers = signed_headers(
        &served.addr.to_string(),
        "ListKeys",
        b"{}",
        "AKIAUNKNOWNUNKNOWN00",
        &served.secret,
        REGION,
        now(),
    );
    let unknown = connection.request("POST", "/", &headers, b"{}").unwrap();
    assert_eq!(
        error_of(&unknown),
        (400, "UnrecognizedClientException".into())
    );
    let stale = served.call_at("ListKeys", "{}", now() - 3600);
    assert_eq!(error_of(&stale), (400, "InvalidSignatureException".into()));
    assert!(
        stale.json()["message"]
            .as_str()
            .unwrap()
            .contains("Signature expired")
    );
    // An access key deactivated by a `kms` command stops working (within the server's refresh
    // interval: the command is another process).
    served.cli(&["access-key", "deactivate", &served.key_id]);
    until_refused(&served, "ListKeys", "{}", "UnrecognizedClientException");
    // Every refusal is in the audit trail.
    let refused = served.cli(&["audit", "query", "--principal", "anonymous"]);
    for outcome in [
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ] {
        assert!(
            refused.contains(outcome),
            "{outcome} missing from:\n{refused}"
        );
    }
    assert!(refused.lines().count() >= 6, "{refused}");
}

/// Calls `operation` until it answers `error`, for at most 30 s (however slow the machine);
/// answers how long that took.
fn until_refused(served: &Served, operation: &str, body: &str, error: &str) -> Duration {
    let started = Instant::now();
    loop {
        let response = served.call(operation, body);
        if response.status == 400 && error_of(&response).1 == error {
            return started.elapsed();
        }
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{operation} was still served 30 s after the change"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_change_is_seen_at_once_here_and_within_the_refresh_bound_when_a_kms_command_makes_it() {
    let served = Served::start(&[]);
    let key_id = served.create_key();
    let encrypt = format!(r#"{{"KeyId":"{key_id}","Plaintext":"AAEC"}}"#);
    let key = format!(r#"{{"KeyId":"{key_id}"}}"#);
    // Through the server itself: the very next request is refused.
    assert_eq!(served.call("Encrypt", &encrypt).status, 200);
    assert_eq!(served.call("DisableKey", &key).status, 200);
    let refused = served.call("Encrypt", &encrypt);
    assert_eq!(error_of(&refused), (400, "DisabledException".into()));
    assert_eq!(served.call("EnableKey", &key).status, 200);
    assert_eq!(served.call("Encrypt", &encrypt).status, 200);

    // Through another process on the same vault: within the server's refresh interval.
    served.cli(&["disable-key", &key_id]);
    let took = until_refused(&served, "Encrypt", &encrypt, "DisabledException");
    println!("a key disabled by `kms disable-key` was refused by kms serve after {took:?}");
    served.cli(&["enable-key", &key_id]);
    let started = Instant::now();
    while served.call("Encrypt", &encrypt).status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never enabled again"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    served.cli(&["access-key", "deactivate", &served.key_id]);
    let took = until_refused(&served, "Encrypt", &encrypt, "UnrecognizedClientException");
    println!("an access key deactivated by `kms access-key deactivate` was refused after {took:?}");
}

#[test]
fn malformed_requests_get_typed_errors_and_the_server_keeps_serving() {
    let served = Served::start(&["--max-body-bytes", "65536"]);
    for (operation, body, status, expected) in [
        ("Fly", "{}", 400, "UnknownOperationException"),
        ("DescribeKey", "{not json", 400, "SerializationException"),
        ("DescribeKey", "{}", 400, "ValidationException"),
        (
            "DescribeKey",
            r#"{"KeyId": 42}"#,
            400,
            "SerializationException",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"alias/x","Plaintext":"not base64!"}"#,
            400,
            "SerializationException",
        ),
        (
            "GenerateRandom",
            r#"{"NumberOfBytes":0}"#,
            400,
            "ValidationException",
        ),
    ] {
        let response = served.call(operation, body);
        assert_eq!(
            error_of(&response),
            (status, expected.to_string()),
            "{operation} {body}"
        );
        assert!(
            !response.json()["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{operation}"
        );
    }
    // AWS's validation answers, in AWS's words: the model's constraints, empty encryption
    // context pairs and the reserved alias/aws/ prefix.
    for (operation, body, expected, message) in [
        (
            "DescribeKey",
            "{}".to_string(),
            "ValidationException",
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null",
        ),
        (
            "CreateKey",
            r#"{"KeySpec":"AES_999"}"#.to_string(),
            "ValidationException",
            "1 validation error detected: Value 'AES_999' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: [RSA_2048,",
        ),
        (
            "CreateKey",
            r#"{"KeySpec":"X","KeyUsage":"Y"}"#.to_string(),
            "ValidationException",
            "2 validation errors detected: Value 'Y' at 'keyUsage' failed to satisfy constraint: \
             Member must satisfy enum value set: [",
        ),
        (
            "CreateKey",
            format!(r#"{{"Description":"{}"}}"#, "d".repeat(8193)),
            "ValidationException",
            "1 validation error detected: Value 'ddd",
        ),
        (
            "GenerateRandom",
            r#"{"NumberOfBytes":1025}"#.to_string(),
            "ValidationException",
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value less than or equal to 1024",
        ),
        (
            "TagResource",
            r#"{"KeyId":"k","Tags":[{"TagKey":"","TagValue":"v"}]}"#.to_string(),
            "ValidationException",
            "1 validation error detected: Value '' at 'tags.1.member.tagKey' failed to satisfy \
             constraint: Member must have length greater than or equal to 1",
        ),
        (
            "DescribeKey",
            format!(r#"{{"KeyId":"k","GrantTokens":{:?}}}"#, ["t"; 11]),
            "ValidationException",
            "1 validation error detected: Value '[t, t, t, t, t, t, t, t, t, t, t]' at \
             'grantTokens' failed to satisfy constraint: Member must have length less than or \
             equal to 10",
        ),
        (
            "CreateAlias",
            r#"{"AliasName":"alias/has space","TargetKeyId":"k"}"#.to_string(),
            "ValidationException",
            "1 validation error detected: Value 'alias/has space' at 'aliasName' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: \
             ^[a-zA-Z0-9:/_-]+$",
        ),
        (
            "CreateAlias",
            r#"{"AliasName":"alias/aws/s3","TargetKeyId":"k"}"#.to_string(),
            "NotAuthorizedException",
            "Alias name 'alias/aws/s3'",
        ),
        (
            "DeleteAlias",
            r#"{"AliasName":"alias/aws/s3"}"#.to_string(),
            "NotAuthorizedException",
            "Alias name 'alias/aws/s3'",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"alias/x","Plaintext":"eA==","EncryptionContext":{"tenant":""}}"#
                .to_string(),
            "ValidationException",
            "Invalid EncryptionContext",
        ),
        (
            "Decrypt",
            r#"{"CiphertextBlob":"eA==","EncryptionContext":{"":"v"}}"#.to_string(),
            "ValidationException",
            "Invalid EncryptionContext",
        ),
        (
            "Encrypt",
            r#"{"KeyId":"alias/x","Plaintext":"eA==","EncryptionContext":{"tenant":7}}"#
                .to_string(),
            "SerializationException",
            "",
        ),
    ] {
        let response = served.call(operation, &body);
        assert_eq!(
            error_of(&response),
            (400, expected.to_string()),
            "{operation} {body}"
        );
        let text = response.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(text.starts_with(message), "{operation}: {text}");
    }
    let refused = served.cli(&["audit", "query", "--operation", "CreateKey"]);
    assert!(refused.contains("ValidationException"), "{refused}");
    // A body over the cap.
    let big = format!(r#"{{"Description":"{}"}}"#, "x".repeat(70_000));
    let response = served.call("CreateKey", &big);
    assert_eq!(error_of(&response), (413, "ValidationException".into()));
    // Garbage instead of HTTP: the connection is answered or closed, nothing hangs.
    let mut garbage = Connection::open(served.addr).unwrap();
    garbage
        .send_raw(b"\x16\x03\x01 not http at all\r\n\r\n")
        .unwrap();
    if let Ok(response) = garbage.read_response() {
        assert!(response.status >= 400);
    }
    // Projects' own operations are served too.
    let plugins = served.call("ListPolicyPlugins", "{}");
    assert_eq!(
        plugins.status,
        200,
        "{}",
        String::from_utf8_lossy(&plugins.body)
    );
    // Still serving, on a fresh connection and on a kept-alive one.
    let mut connection = Connection::open(served.addr).unwrap();
    for _ in 0..3 {
        let headers = signed_headers(
            &served.addr.to_string(),
            "ListKeys",
            b"{}",
            &served.key_id,
            &served.secret,
            REGION,
            now(),
        );
        assert_eq!(
            connection
                .request("POST", "/", &headers, b"{}")
                .unwrap()
                .status,
            200
        );
    }
    let unknown = served.cli(&["audit", "query", "--operation", "Fly"]);
    assert!(unknown.contains("UnknownOperationException"), "{unknown}");
}

#[test]
fn slow_and_idle_clients_are_disconnected() {
    let served = Served::start(&["--header-timeout-seconds", "1"]);
    let started = Instant::now();
    let mut slow = Connection::open(served.addr).unwrap();
    slow.send_raw(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut idle = Connection::open(served.addr).unwrap();
    // Closed, or answered with an error, within the timeout (the client waits up to 60 s).
    if let Ok(response) = slow.read_response() {
        assert!(response.status >= 400, "{response:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a client that never finished its headers was kept {:?}",
        started.elapsed()
    );
    let idle_result = idle.read_response();
    assert!(idle_result.is_err(), "{idle_result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Others are still served.
    assert_eq!(served.call("ListKeys", "{}").status, 200);
}

#[test]
fn a_short_body_times_out_and_connections_past_the_cap_are_closed() {
    let served = Served::start(&["--body-timeout-seconds", "1", "--max-connections", "3"]);
    let started = Instant::now();
    // Headers promising 100 bytes, then 10 and silence.
    let mut short = Connection::open(served.addr).unwrap();
    short
        .send_raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Limit\":1")
        .unwrap();
    // Two idle connections fill the cap of three; a fourth is closed without an answer.
    let _idle = [
        Connection::open(served.addr).unwrap(),
        Connection::open(served.addr).unwrap(),
    ];
    std::thread::sleep(Duration::from_millis(200));
    let mut over = Connection::open(served.addr).unwrap();
    let _ = over.send_raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    assert!(
        over.read_response().is_err(),
        "a connection past the cap is closed"
    );
    let answer = short.read_response().unwrap();
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The short body's connection is gone: room again, and others are served.
    drop(short);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(served.call("ListKeys", "{}").status, 200);
}

#[test]
fn a_data_key_pair_is_charged_as_the_pair_it_generates() {
    let served = Served::start(&["--rate", "rsa=1"]);
    let key = served.call("CreateKey", "{}").json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let pair = format!(r#"{{"KeyId":"{key}","KeyPairSpec":"RSA_2048"}}"#);
    let first = served.call("GenerateDataKeyPairWithoutPlaintext", &pair);
    assert_eq!(first.status, 200, "{}", first.json());
    let second = served.call("GenerateDataKeyPairWithoutPlaintext", &pair);
    assert_eq!(error_of(&second), (400, "ThrottlingException".to_string()));
    // The symmetric key itself is not held back by the RSA quota.
    let encrypt = format!(r#"{{"KeyId":"{key}","Plaintext":"aGk="}}"#);
    assert_eq!(served.call("Encrypt", &encrypt).status, 200);
}

#[test]
fn rate_and_resource_quotas_answer_throttling_and_limit_exceeded() {
    let served = Served::start(&["--rate", "management=5", "--max-keys", "2"]);
    let statuses: Vec<String> = (0..12)
        .map(|_| error_of(&served.call("ListKeys", "{}")).1)
        .collect();
    let throttled = statuses
        .iter()
        .filter(|s| *s == "ThrottlingException")
        .count();
    assert!(
        (5..=8).contains(&throttled),
        "expected about 7 throttled of 12: {statuses:?}"
    );
    // Cryptographic requests have their own bucket.
    assert_eq!(
        served
            .call("GenerateRandom", r#"{"NumberOfBytes":8}"#)
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(served.call("CreateKey", "{}").status, 200);
    assert_eq!(served.call("CreateKey", "{}").status, 200);
    let third = served.call("CreateKey", "{}");
    assert_eq!(error_of(&third), (400, "LimitExceededException".into()));
    let throttled_audit = served.cli(&["audit", "query", "--outcome", "ThrottlingException"]);
    assert!(throttled_audit.lines().count() >= 5, "{throttled_audit}");
}

#[test]
fn a_request_that_blocks_does_not_hold_up_the_others_on_its_worker() {
    // One worker thread: a request is answered on the worker that read it, and only what may
    // block (here RSA-4096 key generation) moves the worker's other requests elsewhere.
    let served = Served::start(&["--worker-threads", "1"]);
    let key_id = served.create_key();
    let encrypt = format!(r#"{{"KeyId":"{key_id}","Plaintext":"AAEC"}}"#);
    assert_eq!(served.call("Encrypt", &encrypt).status, 200);

    let mut slow = served.start_rsa_4096_key();
    std::thread::sleep(Duration::from_millis(50));
    // Had the generation held the only worker, an Encrypt sent now would be answered after it.
    let mut answered_meanwhile = false;
    for _ in 0..5 {
        let response = served.call("Encrypt", &encrypt);
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        if !slow.has_answered() {
            answered_meanwhile = true;
            break;
        }
    }
    assert!(
        answered_meanwhile,
        "no Encrypt was answered while an RSA-4096 key was generated"
    );
    let generated = slow.read_response().unwrap();
    assert_eq!(generated.json()["KeyMetadata"]["KeySpec"], "RSA_4096");
}

#[test]
fn shutdown_drains_requests_in_flight() {
    let mut served = Served::start(&[]);
    // RSA-4096 key generation keeps the request busy long enough to be in flight.
    let mut connection = served.start_rsa_4096_key();
    std::thread::sleep(Duration::from_millis(100));
    let (status, stderr) = served.stop();
    let response = connection.read_response().unwrap();
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.json()["KeyMetadata"]["KeySpec"], "RSA_4096");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(Connection::open(served.addr).is_err(), "still accepting");
}

/// What the AWS client tests install from PyPI: botocore 1.44 is the first model with Encapsulate
/// and Decapsulate; cryptography 50 reads and checks Ed25519, ML-DSA and ML-KEM keys.
const AWS_CLIENTS: [&str; 5] = [
    "boto3>=1.44",
    "botocore>=1.44",
    "awscli",
    "aws-encryption-sdk",
    "cryptography>=50",
];

/// Succeeds only in a Python environment that has [`AWS_CLIENTS`] at those versions, so that an
/// environment left by an older checkout is upgraded rather than trusted.
const AWS_CLIENTS_CHECK: &str = "import boto3, botocore, awscli, aws_encryption_sdk, cryptography
at_least = lambda version, wanted: tuple(int(p) for p in version.split('.')[:2]) >= wanted
assert at_least(botocore.__version__, (1, 44)), botocore.__version__
assert at_least(cryptography.__version__, (50, 0)), cryptography.__version__";

/// The Python environment with boto3, awscli, aws-encryption-sdk and cryptography.
fn aws_clients() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aws-clients");
        let python = venv.join("bin/python");
        if !python.exists() {
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is needed for the AWS client tests (Debian: python3-venv)");
            assert!(status.success(), "python3 -m venv failed");
        }
        let current = Command::new(&python)
            .args(["-c", AWS_CLIENTS_CHECK])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !current {
            let status = Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--upgrade"])
                .args(AWS_CLIENTS)
                .status()
                .unwrap();
            assert!(
                status.success(),
                "pip could not install {AWS_CLIENTS:?} from PyPI"
            );
        }
        venv
    })
}

fn python_env(served: &Served, command: &mut Command) {
    command
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            served.home.path().join("credentials"),
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ENDPOINT_URL_KMS", served.endpoint())
        .env("KMS_ENDPOINT", served.endpoint())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_PROFILE", "kms-local")
        // Trust is what a test says, not what the machine's environment adds.
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
}

/// Runs a client script, which must succeed; returns what it printed.
/// Writes the base64 ciphertext blob the aws CLI printed as raw bytes, for `fileb://`.
fn blob_file(dir: &Path, blob: &str) -> PathBuf {
    let file = dir.join("blob");
    std::fs::write(
        &file,
        base64::engine::general_purpose::STANDARD
            .decode(blob)
            .unwrap(),
    )
    .unwrap();
    file
}

fn run_script(mut command: Command) -> String {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/aws_clients")
        .join(name)
}

#[test]
fn boto3_drives_every_operation() {
    let venv = aws_clients();
    let served = Served::start(&[]);
    let outsider = format!("arn:aws:iam::{ACCOUNT}:user/outsider");
    served.cli(&["principal", "create", &outsider]);
    let key: serde_json::Value =
        serde_json::from_str(&served.cli(&["access-key", "create", &outsider, "--output", "json"]))
            .unwrap();
    let mut command = Command::new(venv.join("bin/python"));
    command.arg(script("boto3_operations.py"));
    python_env(&served, &mut command);
    command
        .env("OUTSIDER_ARN", &outsider)
        .env("OUTSIDER_KEY_ID", key["AccessKeyId"].as_str().unwrap())
        .env("OUTSIDER_SECRET", key["SecretAccessKey"].as_str().unwrap());
    let stdout = run_script(command);
    // The script itself fails unless it drove every served AWS operation.
    assert!(stdout.contains(" operations ok"), "{stdout}");
}

#[test]
fn the_aws_cli_creates_a_key_and_encrypts_and_decrypts() {
    let venv = aws_clients();
    let served = Served::start(&[]);
    let aws = |args: &[&str]| {
        let mut command = Command::new(venv.join("bin/python"));
        command
            .args([
                "-m",
                "awscli",
                "kms",
                "--endpoint-url",
                &served.endpoint(),
                "--output",
                "json",
            ])
            .args(args);
        python_env(&served, &mut command);
        command.output().unwrap()
    };
    let created = aws(&["create-key", "--description", "from the aws cli"]);
    let created: serde_json::Value = serde_json::from_slice(&ok(created).into_bytes()).unwrap();
    let key = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let plaintext = dir.path().join("secret.txt");
    std::fs::write(&plaintext, b"launch codes").unwrap();
    let encrypted = aws(&[
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        &format!("fileb://{}", plaintext.display()),
        "--encryption-context",
        "app=cli",
        "--query",
        "CiphertextBlob",
        "--output",
        "text",
    ]);
    let blob = ok(encrypted).trim().to_string();
    let blob_file = blob_file(dir.path(), &blob);
    let decrypted = aws(&[
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob_file.display()),
        "--encryption-context",
        "app=cli",
        "--query",
        "Plaintext",
        "--output",
        "text",
    ]);
    let plain = base64::engine::general_purpose::STANDARD
        .decode(ok(decrypted).trim())
        .unwrap();
    assert_eq!(plain, b"launch codes");
    let refused = aws(&[
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob_file.display()),
        "--encryption-context",
        "app=other",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidCiphertextException"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn a_presigned_date_with_a_multi_byte_character_is_answered_audited_and_survived() {
    let served = Served::start(&[]);
    let mut connection = Connection::open(served.addr).unwrap();
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F20150830%2Fus-east-1%2Fkms%2Faws4_request\
         &X-Amz-Date=20150%C3%A90T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-target&X-Amz-Signature=00",
        served.key_id
    );
    let answer = connection
        .request(
            "POST",
            &format!("/?{query}"),
            &[
                ("Host".into(), served.addr.to_string()),
                ("X-Amz-Target".into(), "TrentService.ListKeys".into()),
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
            ],
            b"{}",
        )
        .unwrap();
    assert_eq!(
        error_of(&answer),
        (400, "IncompleteSignatureException".into())
    );
    let audited = served.cli(&[
        "audit",
        "query",
        "--outcome",
        "IncompleteSignatureException",
    ]);
    assert_eq!(audited.lines().count(), 1, "{audited}");
    assert_eq!(served.call("ListKeys", "{}").status, 200, "still serving");
}

#[test]
fn a_flood_of_unauthenticated_requests_is_answered_but_not_recorded_one_by_one() {
    let served = Served::start(&["--audited-refusals-per-second", "5"]);
    let mut connection = Connection::open(served.addr).unwrap();
    // Huge, yet inside the 64 KiB cap on a request head (past it the answer is 431).
    let huge = "A".repeat(50_000);
    for i in 0..60 {
        let credential = if i == 0 { huge.as_str() } else { "x" };
        let answer = connection
            .request(
                "POST",
                "/",
                &[
                    ("X-Amz-Target".into(), "TrentService.ListKeys".into()),
                    ("Content-Type".into(), "application/x-amz-json-1.1".into()),
                    (
                        "Authorization".into(),
                        format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=00"),
                    ),
                ],
                b"{}",
            )
            .unwrap();
        assert_eq!(answer.status, 400, "every request is still answered");
    }
    let recorded = served.cli(&[
        "audit",
        "query",
        "--principal",
        "anonymous",
        "--output",
        "json",
    ]);
    let records: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    let records = records.as_array().unwrap();
    assert!(
        (5..=20).contains(&records.len()),
        "{} records for 60 refusals",
        records.len()
    );
    // What the huge header made the server say is bounded in the trail.
    assert!(recorded.len() < 20_000, "{} bytes of audit", recorded.len());
    assert_eq!(served.call("ListKeys", "{}").status, 200, "still serving");
}

#[test]
fn serve_restricted_to_regions_refuses_the_others_and_audits_the_refusal() {
    let served = Served::start(&["--regions", "us-east-1,eu-west-1"]);
    let created = served.call_in("eu-west-1", "CreateKey", "{}", now());
    assert_eq!(created.status, 200, "{}", created.json());
    let arn = created.json()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(arn.starts_with("arn:aws:kms:eu-west-1:"), "{arn}");
    // The key lives in eu-west-1 only.
    let body = format!(r#"{{"KeyId":"{arn}"}}"#);
    assert_eq!(
        served
            .call_in("eu-west-1", "DescribeKey", &body, now())
            .status,
        200
    );
    assert_eq!(
        error_of(&served.call_in("us-east-1", "DescribeKey", &body, now())),
        (400, "NotFoundException".to_string())
    );
    let refused = served.call_in("us-west-2", "ListKeys", "{}", now());
    assert_eq!(
        error_of(&refused),
        (400, "InvalidSignatureException".to_string())
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("Credential should be scoped to a valid region"),
        "{}",
        refused.json()
    );
    let audit = served.cli(&["audit", "query", "--outcome", "InvalidSignatureException"]);
    assert_eq!(audit.lines().count(), 1, "the refusal is audited: {audit}");
    // An unlisted region in --regions is a usage error, before anything listens.
    let home = tempfile::tempdir().unwrap();
    let bad = kms(
        home.path(),
        &["serve", "--regions", "Mars One", "--listen", "127.0.0.1:0"],
    );
    assert!(!bad.status.success());
}

#[test]
fn the_aws_cli_creates_a_multi_region_key_and_replicates_it() {
    let venv = aws_clients();
    let served = Served::start(&[]);
    let aws = |args: &[&str]| {
        let mut command = Command::new(venv.join("bin/python"));
        command
            .args(["-m", "awscli", "kms", "--output", "json"])
            .args(args);
        python_env(&served, &mut command);
        let out = command.output().unwrap();
        serde_json::from_str::<serde_json::Value>(&ok(out)).unwrap()
    };
    let created = aws(&["create-key", "--multi-region", "--description", "global"]);
    let key = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("mrk-"), "{created}");
    let replica = aws(&[
        "replicate-key",
        "--key-id",
        &key,
        "--replica-region",
        "eu-west-1",
    ]);
    assert_eq!(
        replica["ReplicaKeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    let described = aws(&["describe-key", "--key-id", &key, "--region", "eu-west-1"]);
    let config = &described["KeyMetadata"]["MultiRegionConfiguration"];
    assert_eq!(config["PrimaryKey"]["Region"], REGION, "{described}");
    assert_eq!(
        config["ReplicaKeys"][0]["Region"], "eu-west-1",
        "{described}"
    );
    let listed = aws(&["list-keys", "--region", "eu-west-1"]);
    assert_eq!(listed["Keys"].as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn the_aws_encryption_sdk_round_trips_a_file_and_refuses_an_altered_context() {
    let venv = aws_clients();
    let served = Served::start(&[]);
    let created = served.call("CreateKey", r#"{"Description":"esdk"}"#);
    let arn = created.json()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("report.bin");
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&source, &data).unwrap();
    let (encrypted, decrypted) = (dir.path().join("report.enc"), dir.path().join("report.out"));
    let mut command = Command::new(venv.join("bin/python"));
    command
        .arg(script("esdk_file.py"))
        .arg(&arn)
        .arg(&source)
        .arg(&encrypted)
        .arg(&decrypted);
    python_env(&served, &mut command);
    let stdout = run_script(command);
    assert!(stdout.contains("esdk: file round trip ok"), "{stdout}");
    assert_eq!(std::fs::read(&decrypted).unwrap(), data);
    let sealed = std::fs::read(&encrypted).unwrap();
    assert!(!sealed.windows(64).any(|w| w == &data[..64]));
    // The SDK's GenerateDataKey and Decrypt calls reached this key, with the context.
    let trail = served.cli(&["audit", "query", "--key", &arn, "--output", "json"]);
    let trail: serde_json::Value = serde_json::from_str(&trail).unwrap();
    let operations: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert!(operations.contains(&"GenerateDataKey"), "{operations:?}");
    assert!(operations.contains(&"Decrypt"), "{operations:?}");
}

#[test]
fn yaml_output_reads_back_as_the_json_output_in_python() {
    let venv = aws_clients();
    let served = Served::start(&[]);
    let key = served.create_key();
    served.cli(&["tag-resource", &key, "team=a: b", "empty=", "n=007"]);
    served.cli(&["create-alias", "alias/yaml", &key]);
    for command in [
        vec!["describe-key", key.as_str()],
        vec!["list-keys"],
        vec!["list-resource-tags", key.as_str()],
        vec!["list-aliases"],
        vec!["audit", "query"],
    ] {
        let as_json = served.cli(&[command.as_slice(), &["--output", "json"]].concat());
        let as_yaml = served.cli(&[command.as_slice(), &["--output", "yaml"]].concat());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out.json"), &as_json).unwrap();
        std::fs::write(dir.path().join("out.yaml"), &as_yaml).unwrap();
        let check = Command::new(venv.join("bin/python"))
            .current_dir(dir.path())
            .args([
                "-c",
                "import json, yaml, sys\n\
                 a = json.load(open('out.json'))\n\
                 b = yaml.safe_load(open('out.yaml'))\n\
                 sys.exit(0 if a == b else 'differs: %r vs %r' % (a, b))",
            ])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{command:?}: {}\n{as_yaml}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

/// One command of a README block: its lines (continuations and here-documents included), and
/// the exception its comment says it fails with, if the comment starts with one.
struct ReadmeCommand {
    text: String,
    fails_with: Option<String>,
}

/// The blocks of README.md that the README test runs, in order: every ```sh and ```python block
/// except those marked `not-run`.
fn readme_blocks() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let fence = line.trim_start();
        let Some(info) = fence.strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - fence.len();
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_start() != "```")
            .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
            .collect();
        let language = info.split_whitespace().next().unwrap_or("");
        if matches!(language, "sh" | "python") && !info.contains("not-run") {
            blocks.push((language.to_string(), body.join("\n")));
        }
    }
    blocks
}

/// The commands of a shell block.
fn readme_commands(block: &str) -> Vec<ReadmeCommand> {
    let mut commands = Vec::new();
    let mut lines = block.lines();
    while let Some(first) = lines.next() {
        if first.trim().is_empty() || first.trim_start().starts_with('#') {
            continue;
        }
        let mut text = first.to_string();
        let mut last = first;
        if let Some(marker) = first.split("<<'").nth(1).and_then(|m| m.split('\'').next()) {
            for line in lines.by_ref() {
                text.push('\n');
                text.push_str(line);
                if line == marker {
                    break;
                }
            }
        } else {
            while last.trim_end().ends_with('\\') {
                let Some(next) = lines.next() else { break };
                text.push('\n');
                text.push_str(next);
                last = next;
            }
        }
        let fails_with = last
            .split_once(" # ")
            .and_then(|(_, comment)| comment.split_whitespace().next())
            .filter(|word| word.ends_with("Exception"))
            .map(str::to_string);
        commands.push(ReadmeCommand { text, fails_with });
    }
    commands
}

#[test]
fn readme_blocks_run_as_pasted() {
    let venv = aws_clients();
    let scratch = tempfile::tempdir().unwrap();
    let (home, bin, work) = (
        scratch.path().join("home"),
        scratch.path().join("bin"),
        scratch.path().join("work"),
    );
    for dir in [&home, &bin, &work] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // `kms` and `aws` on PATH, as a user has them; nothing else from this machine's set-up.
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kms"), bin.join("kms")).unwrap();
    let aws = bin.join("aws");
    std::fs::write(
        &aws,
        format!(
            "#!/bin/sh\nexec '{}' -m awscli \"$@\"\n",
            venv.join("bin/python").display()
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&aws).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&aws, permissions).unwrap();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());

    // The server the README's first command starts, in ~/.kms, on a free port.
    let mut server = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("HOME", &home)
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_, addr) = read_banner(&mut server);

    // One script: each command with its standard error kept, checked as its comment says.
    let errors = scratch.path().join("errors");
    std::fs::create_dir_all(&errors).unwrap();
    let mut script = String::from(
        "set -uo pipefail\nexec 3>&2\n\
         check() { if [ -n \"$3\" ]; then\n\
           if [ \"$2\" -eq 0 ] || ! grep -q \"$3\" \"$4\"; then echo \"README command $1 did not fail with $3\" >&3; cat \"$4\" >&3; exit 1; fi\n\
         elif [ \"$2\" -ne 0 ]; then echo \"README command $1 failed with status $2\" >&3; cat \"$4\" >&3; exit 1; fi; }\n",
    );
    let mut commands = Vec::new();
    for (i, (language, block)) in readme_blocks().into_iter().enumerate() {
        let block = block.replace("127.0.0.1:4599", &addr);
        let units = if language == "python" {
            let file = scratch.path().join(format!("block-{i}.py"));
            std::fs::write(&file, &block).unwrap();
            vec![ReadmeCommand {
                text: format!(
                    "'{}' '{}'",
                    venv.join("bin/python").display(),
                    file.display()
                ),
                fails_with: None,
            }]
        } else {
            readme_commands(&block)
        };
        for command in units {
            let n = commands.len();
            let error = errors.join(n.to_string());
            script.push_str(&format!(
                "exec 2>'{}'\n{}\nrc=$?\nexec 2>&3\ncheck {n} $rc '{}' '{}'\n",
                error.display(),
                command.text,
                command.fails_with.as_deref().unwrap_or(""),
                error.display()
            ));
            commands.push(command);
        }
    }
    assert!(
        commands.len() > 60,
        "only {} commands found",
        commands.len()
    );
    let run = Command::new("bash")
        .args(["-c", &script])
        .current_dir(&work)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", &path)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let failed = stderr
        .split("README command ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok());
    assert!(
        run.status.success(),
        "README.md as pasted: {stderr}\n{}",
        failed.map_or(String::new(), |n| format!(
            "the command:\n{}",
            commands[n].text
        ))
    );
    println!("{} README commands ran as pasted", commands.len());
}

/// Runs the `openssl` command line in `dir`, as AWS's import documentation does.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is needed for the import interop test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl pkeyutl -encrypt` with RSAES-OAEP-SHA-256 to WrappingPublicKey.der.
fn openssl_oaep_sha256(dir: &Path, input: &str, output: &str) {
    openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-in",
            input,
            "-out",
            output,
            "-inkey",
            "WrappingPublicKey.der",
            "-keyform",
            "DER",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
}

/// GetParametersForImport over HTTP; the wrapping public key lands in WrappingPublicKey.der.
fn import_parameters(served: &Served, dir: &Path, key_id: &str, algorithm: &str) -> String {
    let body = format!(
        r#"{{"KeyId":"{key_id}","WrappingAlgorithm":"{algorithm}","WrappingKeySpec":"RSA_4096"}}"#
    );
    let parameters = served.call("GetParametersForImport", &body).json();
    let public = base64::engine::general_purpose::STANDARD
        .decode(parameters["PublicKey"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.join("WrappingPublicKey.der"), public).unwrap();
    parameters["ImportToken"].as_str().unwrap().to_string()
}

/// ImportKeyMaterial over HTTP of EncryptedKeyMaterial.bin.
fn import_wrapped(served: &Served, dir: &Path, key_id: &str, token: &str) -> Response {
    let blob = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(dir.join("EncryptedKeyMaterial.bin")).unwrap());
    served.call(
        "ImportKeyMaterial",
        &format!(
            r#"{{"KeyId":"{key_id}","ImportToken":"{token}","EncryptedKeyMaterial":"{blob}","ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}"#
        ),
    )
}

#[test]
fn material_that_openssl_wraps_as_aws_documents_imports_over_http() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let served = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // Symmetric material under RSAES_OAEP_SHA_256.
    let created = served.call("CreateKey", r#"{"Origin":"EXTERNAL"}"#).json();
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(created["KeyMetadata"]["KeyState"], "PendingImport");
    let token = import_parameters(&served, dir, &key_id, "RSAES_OAEP_SHA_256");
    openssl(dir, &["rand", "-out", "PlaintextKeyMaterial.bin", "32"]);
    openssl_oaep_sha256(dir, "PlaintextKeyMaterial.bin", "EncryptedKeyMaterial.bin");
    let imported = import_wrapped(&served, dir, &key_id, &token);
    assert_eq!(imported.status, 200, "{:?}", imported.json());
    let sealed = served
        .call(
            "Encrypt",
            &format!(r#"{{"KeyId":"{key_id}","Plaintext":"aW1wb3J0ZWQ="}}"#),
        )
        .json();
    let opened = served
        .call(
            "Decrypt",
            &format!(
                r#"{{"CiphertextBlob":"{}"}}"#,
                sealed["CiphertextBlob"].as_str().unwrap()
            ),
        )
        .json();
    assert_eq!(opened["Plaintext"], "aW1wb3J0ZWQ=");

    // An ECC private key of openssl's under RSA_AES_KEY_WRAP_SHA_256; openssl verifies what
    // the imported key signs.
    let created = served
        .call(
            "CreateKey",
            r#"{"Origin":"EXTERNAL","KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY"}"#,
        )
        .json();
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let token = import_parameters(&served, dir, &key_id, "RSA_AES_KEY_WRAP_SHA_256");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "private.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-outform",
            "DER",
            "-nocrypt",
            "-in",
            "private.pem",
            "-out",
            "PlaintextKeyMaterial.der",
        ],
    );
    openssl(dir, &["rand", "-out", "aes-key.bin", "32"]);
    let aes_key = hex::encode(std::fs::read(dir.join("aes-key.bin")).unwrap());
    openssl(
        dir,
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            &aes_key,
            "-iv",
            "A65959A6",
            "-in",
            "PlaintextKeyMaterial.der",
            "-out",
            "key-material-wrapped.bin",
        ],
    );
    openssl_oaep_sha256(dir, "aes-key.bin", "aes-key-wrapped.bin");
    let blob = [
        std::fs::read(dir.join("aes-key-wrapped.bin")).unwrap(),
        std::fs::read(dir.join("key-material-wrapped.bin")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("EncryptedKeyMaterial.bin"), blob).unwrap();
    let imported = import_wrapped(&served, dir, &key_id, &token);
    assert_eq!(imported.status, 200, "{:?}", imported.json());

    std::fs::write(dir.join("message.txt"), b"signed by imported material").unwrap();
    let signed = served
        .call(
            "Sign",
            &format!(
                r#"{{"KeyId":"{key_id}","Message":"{}","SigningAlgorithm":"ECDSA_SHA_256"}}"#,
                b64.encode(b"signed by imported material")
            ),
        )
        .json();
    let signature = b64.decode(signed["Signature"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("signature.der"), signature).unwrap();
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "private.pem",
            "-pubout",
            "-out",
            "public.pem",
        ],
    );
    openssl(
        dir,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "public.pem",
            "-signature",
            "signature.der",
            "message.txt",
        ],
    );

    // Crypto erasure over HTTP: the key waits for its material again.
    let deleted = served.call(
        "DeleteImportedKeyMaterial",
        &format!(r#"{{"KeyId":"{key_id}"}}"#),
    );
    assert_eq!(deleted.status, 200);
    let described = served
        .call("DescribeKey", &format!(r#"{{"KeyId":"{key_id}"}}"#))
        .json();
    assert_eq!(described["KeyMetadata"]["KeyState"], "PendingImport");
}

/// `kms serve` over TLS with the test CA's server certificate, for `localhost` and 127.0.0.1.
fn served_over_tls(certificates: &certs::TestCertificates) -> Served {
    let (cert, key) = (certificates.server_cert(), certificates.server_key());
    Served::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
}

fn boto3_tls(served: &Served, args: &[&Path]) -> Output {
    let mut command = Command::new(aws_clients().join("bin/python"));
    command.arg(script("boto3_tls.py")).args(args);
    python_env(served, &mut command);
    command.output().unwrap()
}

#[test]
fn boto3_verifies_the_tls_certificate_against_the_test_ca_and_round_trips() {
    let certificates = certs::TestCertificates::issue();
    let served = served_over_tls(&certificates);
    assert!(served.endpoint().starts_with("https://"));
    let out = boto3_tls(&served, &[Path::new("trusting"), &certificates.ca()]);
    assert!(ok(out).contains("tls round trip ok"));
}

#[test]
fn boto3_refuses_the_tls_certificate_without_the_test_ca() {
    let certificates = certs::TestCertificates::issue();
    let served = served_over_tls(&certificates);
    let out = boto3_tls(&served, &[Path::new("untrusting")]);
    assert!(ok(out).contains("certificate refused"));
}

#[test]
fn the_aws_cli_with_a_ca_bundle_encrypts_and_decrypts_over_tls() {
    let certificates = certs::TestCertificates::issue();
    let served = served_over_tls(&certificates);
    let aws = |args: &[&str]| {
        let mut command = Command::new(aws_clients().join("bin/python"));
        command
            .args(["-m", "awscli", "kms", "--endpoint-url", &served.endpoint()])
            .arg("--ca-bundle")
            .arg(certificates.ca())
            .args(["--output", "text"])
            .args(args);
        python_env(&served, &mut command);
        ok(command.output().unwrap()).trim().to_string()
    };
    let key = aws(&["create-key", "--query", "KeyMetadata.KeyId"]);
    let dir = tempfile::tempdir().unwrap();
    let plaintext_file = dir.path().join("plaintext");
    std::fs::write(&plaintext_file, b"hello").unwrap();
    let blob = aws(&[
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        &format!("fileb://{}", plaintext_file.display()),
        "--query",
        "CiphertextBlob",
    ]);
    let blob_file = blob_file(dir.path(), &blob);
    let plaintext = aws(&[
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob_file.display()),
        "--query",
        "Plaintext",
    ]);
    // base64 of "hello".
    assert_eq!(plaintext, "aGVsbG8=");
}

#[test]
fn serve_refuses_plain_http_beyond_loopback_and_says_how_to_proceed() {
    let home = tempfile::tempdir().unwrap();
    let out = kms(home.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve plain HTTP on 0.0.0.0:0")
            && stderr.contains("--tls-cert")
            && stderr.contains("--allow-plain-http"),
        "{stderr}"
    );
}

#[test]
fn serve_names_the_tls_file_it_cannot_use_and_what_is_wrong() {
    let certificates = certs::TestCertificates::issue();
    let home = tempfile::tempdir().unwrap();
    let (cert, key) = (
        certificates.server_cert(),
        certificates.ca().with_extension("key"),
    );
    let out = kms(
        home.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the TLS private key in {} does not belong to the first certificate in {}",
            key.display(),
            cert.display()
        )),
        "{stderr}"
    );
}

#[test]
fn boto3_runs_an_hsm_key_store_through_its_life() {
    let Some(token) = kms_vault::hsm::testing::test_token() else {
        return;
    };
    let venv = aws_clients();
    let served = Served::start(&[]);
    let anchor = served.home.path().join("customerCA.crt");
    std::fs::write(
        &anchor,
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUboto3hsmtrustanchor\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let cluster = "cluster-boto3hsmtest";
    let spare = "cluster-boto3hsmspare";
    for id in [cluster, spare] {
        served.cli(&[
            "register-hsm-cluster",
            "--cluster-id",
            id,
            "--module",
            token.module.to_str().unwrap(),
            "--token-label",
            &token.label,
            "--trust-anchor-certificate",
            anchor.to_str().unwrap(),
        ]);
    }
    let mut command = Command::new(venv.join("bin/python"));
    command.arg(script("boto3_hsm_key_store.py"));
    python_env(&served, &mut command);
    command
        .env("HSM_CLUSTER_ID", cluster)
        .env("HSM_SPARE_CLUSTER_ID", spare)
        .env("HSM_PIN", &token.pin)
        .env("HSM_ANCHOR", &anchor);
    let stdout = run_script(command);
    assert!(stdout.contains("hsm key store ok"), "{stdout}");
    // The key's material is in the token and cannot be read out of it.
    let key_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KEY_ID="))
        .expect("the script names its key");
    let hsm = kms_vault::hsm::HsmToken::connect(&token.module, &token.label, &token.pin).unwrap();
    let protection = hsm
        .key(&format!("kms-key/{key_id}/1"))
        .unwrap()
        .expect("the key's material is a token object")
        .protection()
        .unwrap();
    assert!(
        protection.sensitive && !protection.extractable && protection.value_refused,
        "{protection:?}"
    );
    // Every call was audited, the HSM ones too.
    let records = served.cli(&[
        "audit",
        "query",
        "--operation",
        "ConnectCustomKeyStore",
        "--output",
        "json",
    ]);
    assert!(records.contains("ConnectCustomKeyStore"), "{records}");
}

/// GET `path` without a signature.
fn get(served: &Served, path: &str) -> Response {
    Connection::open(served.addr)
        .unwrap()
        .request(
            "GET",
            path,
            &[("host".to_string(), served.addr.to_string())],
            b"",
        )
        .unwrap()
}

#[test]
fn operators_read_health_readiness_and_metrics_without_signing() {
    let served = Served::start(&[]);
    let health = get(&served, "/healthz");
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok\n"[..]));
    let ready = get(&served, "/readyz");
    assert_eq!(
        (ready.status, ready.body.as_slice()),
        (200, &b"ready\n"[..])
    );
    let key = served.create_key();
    let encrypted = served.call(
        "Encrypt",
        &format!(r#"{{"KeyId":"{key}","Plaintext":"aGk="}}"#),
    );
    assert_eq!(encrypted.status, 200);
    let refused = served.call("Decrypt", r#"{"CiphertextBlob":"AAAA"}"#);
    assert_eq!(refused.status, 400);
    let metrics = get(&served, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let text = String::from_utf8(metrics.body).unwrap();
    for line in [
        "kms_requests_total{operation=\"Encrypt\",outcome=\"Success\"} 1",
        "kms_requests_total{operation=\"Decrypt\",outcome=\"InvalidCiphertextException\"} 1",
        "kms_request_duration_seconds_bucket{operation=\"Encrypt\",le=\"+Inf\"} 1",
        "kms_request_duration_seconds_count{operation=\"CreateKey\"} 1",
        "kms_throttles_total 0",
        "# TYPE kms_audit_sync_seconds histogram",
        "kms_plugin_verdicts_total{verdict=\"failed\"} 0",
        "# TYPE kms_cache_hits_total counter",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let batches: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("kms_audit_batches_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(batches >= 1, "{text}");
    // Metrics and health are for GET only; the API stays POST and signed.
    let posted = Connection::open(served.addr)
        .unwrap()
        .request(
            "POST",
            "/metrics",
            &[("host".to_string(), served.addr.to_string())],
            b"{}",
        )
        .unwrap();
    assert_eq!(posted.status, 400);
}

#[test]
fn every_request_is_logged_as_one_json_line_without_secrets() {
    let home = tempfile::tempdir().unwrap();
    ok(kms(home.path(), &["init"]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("KMS_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr: SocketAddr = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no banner");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        // The rest of the banner, then the request log.
        for line in stdout.lines().map_while(Result::ok) {
            if line.starts_with('{') {
                sink.lock().unwrap().push(line);
            }
        }
    });
    let (key_id, secret) = admin_credentials(home.path());
    let mut client = common::Client::new(addr, &key_id, &secret);
    let key = client.call("CreateKey", "{}").unwrap().json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let plaintext = base64::engine::general_purpose::STANDARD.encode(b"TOP-SECRET-PLAINTEXT-0042");
    let encrypted = client
        .call(
            "Encrypt",
            &format!(r#"{{"KeyId":"{key}","Plaintext":"{plaintext}"}}"#),
        )
        .unwrap();
    let request_id = encrypted.header("x-amzn-requestid").unwrap().to_string();
    let blob = encrypted.json()["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .call("Decrypt", &format!(r#"{{"CiphertextBlob":"{blob}"}}"#))
        .unwrap();
    assert_eq!(
        client
            .call("DescribeKey", r#"{"KeyId":"alias/none"}"#)
            .unwrap()
            .status,
        400
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let logged = loop {
        let logged = lines.lock().unwrap().clone();
        if logged.len() >= 4 || Instant::now() > deadline {
            break logged;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let events: Vec<serde_json::Value> = logged
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert_eq!(events.len(), 4, "{logged:?}");
    let encrypt = events
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .expect("the Encrypt is logged under its request id");
    assert_eq!(encrypt["operation"], "Encrypt");
    assert_eq!(encrypt["outcome"], "Success");
    assert_eq!(encrypt["key"], key.as_str());
    assert_eq!(
        encrypt["principal"],
        format!("arn:aws:iam::{ACCOUNT}:user/admin").as_str()
    );
    assert!(encrypt["latency_ms"].as_f64().is_some());
    let refused = events
        .iter()
        .find(|e| e["operation"] == "DescribeKey")
        .unwrap();
    assert_eq!(refused["outcome"], "NotFoundException");
    assert_eq!(refused["status"], 400);
    for line in &logged {
        assert!(
            !line.contains(&plaintext) && !line.contains("TOP-SECRET") && !line.contains(&secret),
            "a log line holds a secret: {line}"
        );
        assert!(
            !line.contains(&blob),
            "a log line holds a ciphertext: {line}"
        );
    }
}

/// Debian's Chromium and ChromeDriver, and Selenium in the clients' environment; `None` (the
/// browser test skipped, with a note) when they are missing outside CI. `.ci/run` installs them.
fn browser(venv: &Path) -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from(
        std::env::var("KMS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    let driver = PathBuf::from(
        std::env::var("KMS_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
    );
    let selenium = Command::new(venv.join("bin/python"))
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    if chromium.exists() && driver.exists() && selenium {
        return Some((chromium, driver));
    }
    assert!(
        std::env::var_os("KMS_CI").is_none(),
        "KMS_CI is set but Chromium, ChromeDriver or Selenium is missing (.ci/run installs them)"
    );
    eprintln!(
        "note: browser test skipped: needs {} and {} (Debian's chromium and chromium-driver) and \
         Selenium in {} (.ci/run installs them)",
        chromium.display(),
        driver.display(),
        venv.display()
    );
    None
}

#[test]
fn a_browser_signs_in_to_the_console_makes_a_key_and_reads_its_audit_records() {
    let venv = aws_clients();
    let Some((chromium, driver)) = browser(venv) else {
        return;
    };
    let served = Served::start(&[]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut command = Command::new(venv.join("bin/python"));
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.py"))
        .env("CONSOLE_URL", served.endpoint())
        .env("ACCESS_KEY_ID", &served.key_id)
        .env("SECRET_ACCESS_KEY", &served.secret)
        .env("CHROMIUM", &chromium)
        .env("CHROMEDRIVER", &driver)
        .env("SCREENSHOTS", &shots);
    let stdout = run_script(command);
    assert!(stdout.contains("console ok"), "{stdout}");
    for shot in [
        "01-signed-in",
        "02-key-created",
        "03-policy-error",
        "04-keys",
        "05-audit",
    ] {
        let png = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{shot}");
    }
    // What the browser did went through the API, audited as the administrator's calls.
    let key_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KEY_ID="))
        .unwrap();
    let records = served.cli(&["audit", "query", "--key", key_id, "--output", "json"]);
    assert!(
        records.contains("PutKeyPolicy") && records.contains("TagResource"),
        "{records}"
    );
    // The console's pages keep scripts to their own file.
    let page = get(&served, "/console/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'self'"))
    );
}
