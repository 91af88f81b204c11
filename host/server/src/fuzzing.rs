//! Entry points for the fuzz targets in `fuzz/` and the corpus replay in
//! `tests/tests/fuzz_corpus.rs`: SigV4 verification of whatever a client sends, and whole HTTP
//! requests through hyper and this server's request handling, up to the JSON body, its
//! validation against AWS's model and the service. Hidden from the documentation; nothing else
//! uses it.

use crate::sigv4::{self, SignedRequest};

/// The access key of AWS's SigV4 test suite, which the SigV4 target's seeds are signed with.
pub const SIGV4_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
/// See [`SIGV4_ACCESS_KEY_ID`].
pub const SIGV4_SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The server's clock for the SigV4 target: 2015-08-30T12:36:00Z, the test suite's time.
pub const SIGV4_NOW: u64 = 1_440_938_160;

/// A request in the text form of the SigV4 test suite: `METHOD PATH[?QUERY]`, header lines
/// `Name:value`, an empty line, the body. Lines end with `\n` (a `\r` before it is dropped).
pub struct TextRequest {
    /// The method.
    pub method: String,
    /// The path, as sent.
    pub path: String,
    /// The query, as sent.
    pub query: String,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl TextRequest {
    /// Reads `data`; anything reads as some request.
    pub fn parse(data: &[u8]) -> TextRequest {
        // The head ends at the first empty line; the body is everything after it.
        let (head, body) = (0..data.len())
            .find_map(|i| {
                let rest = &data[i..];
                [&b"\n\n"[..], b"\n\r\n"]
                    .into_iter()
                    .find(|end| rest.starts_with(end))
                    .map(|end| (&data[..i], &data[i + end.len()..]))
            })
            .unwrap_or((data, &[]));
        let mut lines = head
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let (method, target) = first.split_once(' ').unwrap_or((&first, "/"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .map(|raw| {
                let (name, value) = match raw.iter().position(|b| *b == b':') {
                    Some(i) => (&raw[..i], &raw[i + 1..]),
                    None => (raw, &[][..]),
                };
                (String::from_utf8_lossy(name).into_owned(), value.to_vec())
            })
            .collect();
        TextRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body: body.to_vec(),
        }
    }

    fn signed(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// Whether `name` is an HTTP header name (RFC 9110 token), the only names a client can send.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// SigV4 verification of a request in the test suite's text form ([`TextRequest`]), at
/// [`SIGV4_NOW`] with the suite's key. Checks that an accepted request names that key and a
/// region, that any time the verifier reads prints back as the same text, and that a request
/// the client side signs ([`sigv4::sign_request`]) verifies.
pub fn sigv4(data: &[u8]) {
    let req = TextRequest::parse(data);
    let expect = sigv4::Expectations {
        regions: None,
        service: "service",
        now: SIGV4_NOW,
        max_skew: sigv4::DEFAULT_MAX_SKEW_SECONDS,
    };
    let secret_of = |id: &str| {
        (id == SIGV4_ACCESS_KEY_ID).then(|| zeroize::Zeroizing::new(SIGV4_SECRET.to_vec()))
    };
    if let Ok(verified) = sigv4::verify(&req.signed(), &expect, secret_of) {
        assert_eq!(verified.access_key_id, SIGV4_ACCESS_KEY_ID);
        assert!(kms_core::arn::validate_region(&verified.region).is_ok());
    }
    for (_, value) in &req.headers {
        if let Some(time) = std::str::from_utf8(value)
            .ok()
            .and_then(|v| sigv4::parse_amz_date(v.trim()))
        {
            assert_eq!(
                sigv4::format_amz_date(time),
                String::from_utf8_lossy(value).trim(),
                "an X-Amz-Date the verifier accepts names one instant"
            );
        }
    }
    // What the client side signs, the server side accepts: for any request a client can send
    // that carries no signature or time of its own.
    let plain = req.headers.iter().all(|(name, _)| {
        is_token(name)
            && !["authorization", "x-amz-date", "x-amz-content-sha256"]
                .iter()
                .any(|own| name.eq_ignore_ascii_case(own))
    }) && req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        && !req.query.contains("X-Amz-");
    if plain {
        let added = sigv4::sign_request(
            SIGV4_ACCESS_KEY_ID,
            SIGV4_SECRET,
            "us-east-1",
            "service",
            SIGV4_NOW,
            &req.signed(),
        );
        let mut headers = req.headers.clone();
        headers.extend(added.into_iter().map(|(n, v)| (n, v.into_bytes())));
        let signed = SignedRequest {
            headers: &headers,
            ..req.signed()
        };
        if let Err(e) = sigv4::verify(&signed, &expect, secret_of) {
            panic!("a request signed as clients sign it is refused: {e:?}");
        }
    }
}

/// The user whose access key signs the HTTP target's requests.
const HTTP_ACCESS_KEY_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/fuzz";

/// One runtime for every input: `block_in_place` needs the multi-threaded kind.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// A whole HTTP/1.1 exchange: one flag byte, then the raw bytes a client sends on a connection
/// (one request or several). They go through hyper and this server's request handling against
/// a fresh fixture service ([`kms_service::fuzzing::Fixture`], whose key `alias/fuzz` requests
/// may name). With the flag's low bit set, each request is signed with an access key of a
/// user allowed `kms:*` once hyper has read it, so that it passes SigV4 and reaches the JSON
/// body, its validation against AWS's model and the service. No request may get
/// `KMSInternalException` (status 500): that is a panic or a fault of the server's own.
pub fn http_request(data: &[u8]) {
    use http_body_util::BodyExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let fixture = kms_service::fuzzing::Fixture::new();
    let (service, root) = (fixture.service, fixture.root);
    service
        .create_principal(
            &root,
            kms_service::CreatePrincipalRequest {
                arn: HTTP_ACCESS_KEY_PRINCIPAL.into(),
                tags: Vec::new(),
            },
        )
        .expect("a principal");
    service
        .put_principal_policy(
            &root,
            kms_service::PutPrincipalPolicyRequest {
                arn: HTTP_ACCESS_KEY_PRINCIPAL.into(),
                policy_name: "all".into(),
                policy_document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into(),
            },
        )
        .expect("a policy");
    let access_key = service
        .create_access_key(&root, HTTP_ACCESS_KEY_PRINCIPAL)
        .expect("an access key");
    let now = service.now_seconds();
    let config = crate::ServerConfig::default();
    let state = std::sync::Arc::new(crate::State {
        service: std::sync::Arc::new(service),
        limiter: crate::RateLimiter::new(config.rates.clone()),
        refusals: crate::quota::RefusalLimiter::new(config.audited_refusals_per_second),
        signing_keys: Default::default(),
        metrics: Default::default(),
        config,
    });
    let remote: std::net::SocketAddr = "192.0.2.1:40000".parse().expect("an address");
    let secret = access_key.secret_access_key.to_string();
    let key_id = access_key.access_key_id.clone();
    // RSA key generation (CreateKey, GenerateDataKeyPair) takes up to seconds: such requests
    // go unsigned, so that they stop at authentication instead of starving the fuzzer.
    let sign = flags & 1 != 0 && !raw.windows(4).any(|w| w == b"RSA_");
    let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let state = std::sync::Arc::clone(&state);
        let (secret, key_id) = (secret.clone(), key_id.clone());
        async move {
            let (mut parts, body) = req.into_parts();
            let response = match crate::read_body(&state, &parts, body).await {
                Err(error) => crate::error_response(&error, "fuzz"),
                Ok(body) => {
                    if sign {
                        sign_parts(&mut parts, &body, &key_id, secret.as_bytes(), now);
                    }
                    crate::answer(&state, &parts, &body, remote, "fuzz").await
                }
            };
            if response.status() == hyper::StatusCode::INTERNAL_SERVER_ERROR {
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                panic!("a request made the server fail: {body:?}");
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let raw = raw.to_vec();
    runtime().block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(server), handler);
        let exchange = async {
            let _ = client.write_all(&raw).await;
            let _ = client.shutdown().await;
            let mut answers = Vec::new();
            let _ = client.read_to_end(&mut answers).await;
        };
        let (_, _) = tokio::join!(connection, exchange);
    });
}

/// Signs a request as the AWS SDKs do, replacing any signature it carries.
fn sign_parts(
    parts: &mut hyper::http::request::Parts,
    body: &[u8],
    key_id: &str,
    secret: &[u8],
    now: u64,
) {
    parts.headers.remove("authorization");
    parts.headers.remove("x-amz-date");
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    let request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &headers,
        body,
    };
    for (name, value) in sigv4::sign_request(key_id, secret, "us-east-1", "kms", now, &request) {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            parts.headers.append(name, value);
        }
    }
}

/// Seeds of [`sigv4`]: requests of AWS's SigV4 test suite signed in the header form, one
/// presigned in the query string, and one unsigned.
pub fn sigv4_seeds() -> Vec<Vec<u8>> {
    let header_form = |method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]| {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        let request = SignedRequest {
            method,
            path,
            query,
            headers: &headers,
            body,
        };
        let added = sigv4::sign_request(
            SIGV4_ACCESS_KEY_ID,
            SIGV4_SECRET,
            "us-east-1",
            "service",
            SIGV4_NOW,
            &request,
        );
        let mut text = format!("{method} {target}\n");
        for (name, value) in &headers {
            text.push_str(&format!("{name}:{}\n", String::from_utf8_lossy(value)));
        }
        for (name, value) in added {
            text.push_str(&format!("{name}:{value}\n"));
        }
        let mut seed = format!("{text}\n").into_bytes();
        seed.extend_from_slice(body);
        seed
    };
    let host = ("Host", "example.amazonaws.com");
    let body = b"{\"KeyId\":\"alias/orders\"}";
    let sha = hex::encode(kms_crypto::sha256(body));
    let mut seeds = vec![
        header_form("GET", "/", &[host], b""),
        header_form("GET", "/?Param2=value2&Param1=value1", &[host], b""),
        header_form(
            "POST",
            "/",
            &[
                host,
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "TrentService.DescribeKey"),
                ("X-Amz-Content-Sha256", &sha),
            ],
            body,
        ),
        b"POST /\nHost:example.amazonaws.com\nX-Amz-Target:TrentService.ListKeys\n\n{}".to_vec(),
    ];
    // Presigned: the signature covers the query without X-Amz-Signature.
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={SIGV4_ACCESS_KEY_ID}%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date={}&X-Amz-Expires=300&X-Amz-SignedHeaders=host",
        sigv4::format_amz_date(SIGV4_NOW)
    );
    let headers = vec![("Host".to_string(), b"example.amazonaws.com".to_vec())];
    let request = SignedRequest {
        method: "GET",
        path: "/",
        query: &query,
        headers: &headers,
        body: b"",
    };
    let canonical = sigv4::canonical_request(
        &request,
        &["host".to_string()],
        &hex::encode(kms_crypto::sha256(b"")),
        true,
    )
    .expect("the host header is there");
    let signature = sigv4::signature(
        SIGV4_SECRET,
        "20150830",
        "us-east-1",
        "service",
        &sigv4::format_amz_date(SIGV4_NOW),
        &canonical,
    );
    seeds.push(
        format!("GET /?{query}&X-Amz-Signature={signature}\nHost:example.amazonaws.com\n\n")
            .into_bytes(),
    );
    seeds
}

/// Seeds of [`http_request`]: signed requests for several operations (naming the fixture's
/// `alias/fuzz` and a real blob under it), one the model refuses, one with malformed JSON,
/// an unsigned one and two pipelined on one connection.
pub fn http_request_seeds() -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let blob =
        base64::engine::general_purpose::STANDARD.encode(kms_service::fuzzing::sample_ciphertext());
    let request = |operation: &str, body: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: localhost:4599\r\nX-Amz-Target: TrentService.{operation}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let signed = |operation: &str, body: &str| {
        let mut seed = vec![1];
        seed.extend_from_slice(request(operation, body).as_bytes());
        seed
    };
    let mut pipelined = signed("ListKeys", "{}");
    pipelined.extend_from_slice(request("DescribeKey", r#"{"KeyId":"alias/fuzz"}"#).as_bytes());
    vec![
        signed("ListKeys", "{}"),
        signed("DescribeKey", r#"{"KeyId":"alias/fuzz"}"#),
        signed(
            "Encrypt",
            r#"{"KeyId":"alias/fuzz","Plaintext":"aGVsbG8=","EncryptionContext":{"tenant":"acme"}}"#,
        ),
        signed(
            "Decrypt",
            &format!(r#"{{"CiphertextBlob":"{blob}","EncryptionContext":{{"tenant":"acme"}}}}"#),
        ),
        signed(
            "GenerateDataKey",
            r#"{"KeyId":"alias/fuzz","KeySpec":"AES_256","GrantTokens":["token"]}"#,
        ),
        signed(
            "CreateKey",
            r#"{"KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY","Tags":[{"TagKey":"a","TagValue":"b"}]}"#,
        ),
        signed(
            "CreateAlias",
            r#"{"AliasName":"alias/other","TargetKeyId":"alias/fuzz"}"#,
        ),
        signed(
            "PutKeyPolicy",
            r#"{"KeyId":"alias/fuzz","PolicyName":"default","Policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"}"#,
        ),
        signed(
            "CreateGrant",
            r#"{"KeyId":"alias/fuzz","GranteePrincipal":"arn:aws:iam::111122223333:user/fuzz","Operations":["Decrypt"],"Constraints":{"EncryptionContextSubset":{"tenant":"acme"}}}"#,
        ),
        signed("GenerateRandom", r#"{"NumberOfBytes":32}"#),
        signed("CreateKey", r#"{"KeySpec":"NOT_A_SPEC","Description":7}"#),
        signed("Encrypt", r#"{"KeyId":"alias/fuzz","Plaintext":"#),
        request("ListKeys", "{}")
            .into_bytes()
            .into_iter()
            .fold(vec![0], |mut s, b| {
                s.push(b);
                s
            }),
        pipelined,
    ]
}
