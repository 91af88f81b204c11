//! AWS's External Key Store (XKS) Proxy API, both ways:
//!
//! - [`HttpXksClient`]: how this KMS reaches an external key store's proxy — JSON over HTTP(S),
//!   SigV4-signed for service `kms-xks-proxy` with the store's credential, each call bounded by
//!   a timeout (AWS's is 250 ms), every failure named as [`XksFailure`] so that the service maps
//!   it to AWS's exception.
//! - [`serve_xks_proxy`]: `kms xks-proxy`, this service as an external key manager: the four
//!   APIs at `{prefix}/kms/xks/v1/…`, authenticated by SigV4 against configured credentials, the
//!   keys of its own vault standing for external keys.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::sigv4;
use kms_core::{Caller, KmsError};
use kms_service::{
    ExternalLayer, Service, XksClient, XksFailure, XksKeyMetadata, XksProxy, XksRequestMeta,
};

/// The SigV4 service name of the XKS Proxy API.
pub const SERVICE: &str = "kms-xks-proxy";
/// AWS KMS's timeout for one call to a proxy.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The largest answer read from a proxy (the API's are under 10 KiB).
const MAX_ANSWER_BYTES: u64 = 64 << 10;

/// The HTTP client of XKS proxies.
pub struct HttpXksClient {
    agent: ureq::Agent,
}

impl HttpXksClient {
    /// A client that gives each call `timeout` (connect, send and answer together).
    pub fn new(timeout: Duration) -> HttpXksClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        HttpXksClient {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// POSTs `body` to `{endpoint}{path}{api}`, signed; answers the JSON of a 200.
    fn call(
        &self,
        proxy: &XksProxy,
        api: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, XksFailure> {
        let body = serde_json::to_vec(&body)
            .map_err(|e| XksFailure::Internal(format!("cannot encode the request: {e}")))?;
        let path = format!("{}{api}", proxy.uri_path);
        let host = proxy
            .uri_endpoint
            .split_once("://")
            .map_or(proxy.uri_endpoint.as_str(), |(_, host)| host);
        let base = vec![
            ("host".to_string(), host.as_bytes().to_vec()),
            ("content-type".to_string(), b"application/json".to_vec()),
        ];
        let signed = sigv4::sign_request(
            &proxy.access_key_id,
            proxy.secret.as_bytes(),
            &proxy.region,
            SERVICE,
            now(),
            &sigv4::SignedRequest {
                method: "POST",
                path: &path,
                query: "",
                headers: &base,
                body: &body,
            },
        );
        let mut request = self
            .agent
            .post(format!("{}{path}", proxy.uri_endpoint))
            .header("content-type", "application/json");
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send(&body[..]).map_err(transport_failure)?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(transport_failure)?;
        let json: serde_json::Value = serde_json::from_slice(&answer).map_err(|_| {
            XksFailure::InvalidResponse(format!(
                "{api} answered {status} with a body that is not JSON"
            ))
        })?;
        if status == 200 {
            return Ok(json);
        }
        let name = json["errorName"].as_str().unwrap_or_default();
        Err(match name {
            "AuthenticationFailedException" => XksFailure::AuthenticationFailed,
            "AccessDeniedException" => XksFailure::AccessDenied,
            "KeyNotFoundException" => XksFailure::KeyNotFound,
            "InvalidStateException" => XksFailure::InvalidState,
            "InvalidKeyUsageException" => XksFailure::InvalidKeyUsage,
            "InvalidCiphertextException" => XksFailure::InvalidCiphertext,
            "InvalidUriPathException" => XksFailure::InvalidUriPath,
            "ValidationException" | "UnsupportedOperationException" => {
                XksFailure::Refused(name.to_string())
            }
            "ThrottlingException" | "DependencyTimeoutException" => {
                XksFailure::Busy(name.to_string())
            }
            "InternalException" => XksFailure::Internal(name.to_string()),
            _ => XksFailure::InvalidResponse(format!(
                "{api} answered {status} without a known errorName"
            )),
        })
    }
}

fn transport_failure(e: ureq::Error) -> XksFailure {
    match e {
        ureq::Error::Timeout(_) => XksFailure::TimedOut,
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => XksFailure::TimedOut,
        ureq::Error::BodyExceedsLimit(_) => {
            XksFailure::InvalidResponse("the answer is larger than the API allows".into())
        }
        other => XksFailure::Unreachable(other.to_string()),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn metadata(meta: &XksRequestMeta) -> serde_json::Value {
    let mut value = json!({
        "awsPrincipalArn": meta.principal,
        "kmsOperation": meta.operation,
        "kmsRequestId": meta.request_id,
    });
    if let Some(arn) = &meta.key_arn {
        value["kmsKeyArn"] = json!(arn);
    }
    value
}

/// A base64 field of an answer; its absence or malformation is an invalid response.
fn b64_field(answer: &serde_json::Value, name: &str) -> Result<Vec<u8>, XksFailure> {
    answer[name]
        .as_str()
        .and_then(|v| B64.decode(v).ok())
        .ok_or_else(|| XksFailure::InvalidResponse(format!("the answer has no base64 {name}")))
}

/// Checks an external key id before it goes into a URI path.
fn key_path(key_id: &str) -> Result<String, XksFailure> {
    if !key_id.is_empty()
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        Ok(format!("/keys/{key_id}"))
    } else {
        Err(XksFailure::Refused(format!(
            "'{key_id}' is no external key id"
        )))
    }
}

impl XksClient for HttpXksClient {
    fn health(&self, proxy: &XksProxy, meta: &XksRequestMeta) -> Result<(), XksFailure> {
        let answer = self.call(
            proxy,
            "/health",
            json!({"requestMetadata": {"kmsRequestId": meta.request_id, "kmsOperation": meta.operation}}),
        )?;
        let fleet = answer["ekmFleetDetails"].as_array().ok_or_else(|| {
            XksFailure::InvalidResponse("GetHealthStatus answered no ekmFleetDetails".into())
        })?;
        if fleet.is_empty() || fleet.iter().all(|m| m["healthStatus"] == "UNAVAILABLE") {
            return Err(XksFailure::Unreachable(
                "every external key manager of the proxy is UNAVAILABLE".into(),
            ));
        }
        Ok(())
    }

    fn key_metadata(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        meta: &XksRequestMeta,
    ) -> Result<XksKeyMetadata, XksFailure> {
        let path = format!("{}/metadata", key_path(key_id)?);
        let answer = self.call(proxy, &path, json!({"requestMetadata": metadata(meta)}))?;
        let field = |name: &str| {
            answer[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| XksFailure::InvalidResponse(format!("GetKeyMetadata has no {name}")))
        };
        let key_usage = answer["keyUsage"]
            .as_array()
            .ok_or_else(|| XksFailure::InvalidResponse("GetKeyMetadata has no keyUsage".into()))?
            .iter()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect();
        Ok(XksKeyMetadata {
            key_spec: field("keySpec")?,
            key_usage,
            key_status: field("keyStatus")?,
        })
    }

    fn encrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        meta: &XksRequestMeta,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<ExternalLayer, XksFailure> {
        let path = format!("{}/encrypt", key_path(key_id)?);
        let answer = self.call(
            proxy,
            &path,
            json!({
                "requestMetadata": metadata(meta),
                "plaintext": B64.encode(plaintext),
                "encryptionAlgorithm": "AES_GCM",
                "additionalAuthenticatedData": B64.encode(aad),
            }),
        )?;
        Ok(ExternalLayer {
            ciphertext: b64_field(&answer, "ciphertext")?,
            initialization_vector: b64_field(&answer, "initializationVector")?,
            authentication_tag: b64_field(&answer, "authenticationTag")?,
            ciphertext_metadata: match answer.get("ciphertextMetadata") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(_) => b64_field(&answer, "ciphertextMetadata")?,
            },
        })
    }

    fn decrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        meta: &XksRequestMeta,
        layer: &ExternalLayer,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, XksFailure> {
        let path = format!("{}/decrypt", key_path(key_id)?);
        let mut body = json!({
            "requestMetadata": metadata(meta),
            "ciphertext": B64.encode(&layer.ciphertext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": B64.encode(aad),
            "initializationVector": B64.encode(&layer.initialization_vector),
            "authenticationTag": B64.encode(&layer.authentication_tag),
        });
        if !layer.ciphertext_metadata.is_empty() {
            body["ciphertextMetadata"] = json!(B64.encode(&layer.ciphertext_metadata));
        }
        let answer = self.call(proxy, &path, body)?;
        let plaintext = Zeroizing::new(b64_field(&answer, "plaintext")?);
        if plaintext.len() != layer.ciphertext.len() {
            return Err(XksFailure::InvalidResponse(
                "Decrypt answered a plaintext of another length than the ciphertext".into(),
            ));
        }
        Ok(plaintext)
    }
}

/// One credential the proxy accepts.
#[derive(Clone)]
pub struct ProxyCredential {
    /// The access key id.
    pub access_key_id: String,
    /// The raw secret.
    pub secret: Zeroizing<String>,
}

/// What `kms xks-proxy` serves.
pub struct XksProxyConfig {
    /// The path prefix before `/kms/xks/v1` (empty, or `/something`).
    pub prefix: String,
    /// The credentials requests may be signed with (two at once, for rotation).
    pub credentials: Vec<ProxyCredential>,
    /// Allowed clock difference of signed requests, in seconds.
    pub max_skew: u64,
    /// Whom the vault sees calling: its keys' policies decide what the proxy may do.
    pub caller: Caller,
}

/// An error answer of the XKS API.
fn xks_error(status: u16, name: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&json!({"errorName": name, "errorMessage": message}))
        .unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn xks_ok(value: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(&value).unwrap_or_default(),
        )))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The XKS error for a vault error.
fn vault_error(e: &KmsError) -> Response<Full<Bytes>> {
    let (status, name) = match e {
        KmsError::NotFound(_) => (404, "KeyNotFoundException"),
        KmsError::Disabled(_) | KmsError::InvalidState(_) => (400, "InvalidStateException"),
        KmsError::InvalidKeyUsage(_) => (400, "InvalidKeyUsageException"),
        KmsError::InvalidCiphertext(_) => (400, "InvalidCiphertextException"),
        KmsError::AccessDenied(_) => (403, "AccessDeniedException"),
        KmsError::Validation(_) => (400, "ValidationException"),
        KmsError::Throttling(_) => (429, "ThrottlingException"),
        _ => (500, "InternalException"),
    };
    xks_error(status, name, &e.message())
}

/// An Encrypt or Decrypt request body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CryptoRequest {
    #[serde(default)]
    plaintext: Option<String>,
    #[serde(default)]
    ciphertext: Option<String>,
    encryption_algorithm: String,
    #[serde(default)]
    additional_authenticated_data: Option<String>,
    #[serde(default)]
    initialization_vector: Option<String>,
    #[serde(default)]
    authentication_tag: Option<String>,
    #[serde(default)]
    ciphertext_metadata: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncryptAnswer {
    ciphertext: String,
    initialization_vector: String,
    authentication_tag: String,
    ciphertext_metadata: String,
}

/// Serves the XKS Proxy API on `listener` until `shutdown` resolves.
pub async fn serve_xks_proxy(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    config: Arc<XksProxyConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _remote) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let (service, config) = (Arc::clone(&service), Arc::clone(&config));
        tokio::spawn(async move {
            let handler = service_fn(move |req| {
                let (service, config) = (Arc::clone(&service), Arc::clone(&config));
                async move { Ok::<_, Infallible>(handle(&service, &config, req).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            let _ = builder
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

async fn handle(
    service: &Service,
    config: &XksProxyConfig,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let Ok(Ok(body)) = tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(body, 64 << 10).collect(),
    )
    .await
    else {
        return xks_error(
            400,
            "ValidationException",
            "The request body is too large or incomplete",
        );
    };
    let body = body.to_bytes();
    let path = parts.uri.path().to_string();
    let Some(api) = path
        .strip_prefix(config.prefix.as_str())
        .and_then(|p| p.strip_prefix("/kms/xks/v1"))
    else {
        return xks_error(404, "InvalidUriPathException", "No XKS API at this path");
    };
    let route = if api == "/health" {
        Some(("health", String::new()))
    } else {
        api.strip_prefix("/keys/").and_then(|rest| {
            let (key, op) = rest.rsplit_once('/')?;
            matches!(op, "metadata" | "encrypt" | "decrypt").then(|| (op_name(op), key.to_string()))
        })
    };
    let Some((operation, key)) = route else {
        return xks_error(404, "InvalidUriPathException", "No XKS API at this path");
    };
    if parts.method != hyper::Method::POST {
        return Response::builder()
            .status(405)
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    }
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let signed = sigv4::SignedRequest {
        method: "POST",
        path: &path,
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let verified = sigv4::verify(
        &signed,
        &sigv4::Expectations {
            regions: None,
            service: SERVICE,
            now: now(),
            max_skew: config.max_skew,
        },
        |id| {
            config
                .credentials
                .iter()
                .find(|c| c.access_key_id == id)
                .map(|c| Zeroizing::new(c.secret.as_bytes().to_vec()))
        },
    );
    if verified.is_err() {
        return xks_error(
            401,
            "AuthenticationFailedException",
            "The request's signature does not verify",
        );
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return xks_error(400, "ValidationException", "The body is not JSON");
    };
    if !json["requestMetadata"].is_object() {
        return xks_error(400, "ValidationException", "requestMetadata is required");
    }
    let service = service.clone();
    let caller = config.caller.clone();
    // The vault may block (a store read); off the connection's worker.
    let answer =
        tokio::task::spawn_blocking(move || answer_api(&service, &caller, operation, &key, json))
            .await;
    answer.unwrap_or_else(|_| xks_error(500, "InternalException", "The proxy failed"))
}

fn op_name(op: &str) -> &'static str {
    match op {
        "metadata" => "metadata",
        "encrypt" => "encrypt",
        _ => "decrypt",
    }
}

fn answer_api(
    service: &Service,
    caller: &Caller,
    operation: &str,
    key: &str,
    json: serde_json::Value,
) -> Response<Full<Bytes>> {
    match operation {
        "health" => xks_ok(json!({
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "kms",
            "xksProxyModel": concat!("kms xks-proxy ", env!("CARGO_PKG_VERSION")),
            "ekmVendor": "kms vault",
            "ekmFleetDetails": [{"id": "vault", "model": "kms", "healthStatus": "ACTIVE"}],
        })),
        "metadata" => match service.external_key_metadata(caller, key) {
            Ok(m) => xks_ok(json!({
                "keySpec": m.key_spec, "keyUsage": m.key_usage, "keyStatus": m.key_status,
            })),
            Err(e) => vault_error(&e),
        },
        _ => {
            let Ok(request) = serde_json::from_value::<CryptoRequest>(json) else {
                return xks_error(
                    400,
                    "ValidationException",
                    "The body is not a valid request",
                );
            };
            if request.encryption_algorithm != "AES_GCM" {
                return xks_error(
                    400,
                    "ValidationException",
                    "encryptionAlgorithm must be AES_GCM",
                );
            }
            let decode = |field: &Option<String>| -> Option<Vec<u8>> {
                match field {
                    None => Some(Vec::new()),
                    Some(v) => B64.decode(v).ok(),
                }
            };
            let Some(aad) = decode(&request.additional_authenticated_data) else {
                return xks_error(
                    400,
                    "ValidationException",
                    "additionalAuthenticatedData is not base64",
                );
            };
            if operation == "encrypt" {
                let Some(plaintext) = request.plaintext.as_ref().and_then(|p| B64.decode(p).ok())
                else {
                    return xks_error(
                        400,
                        "ValidationException",
                        "plaintext is required, in base64",
                    );
                };
                match service.external_key_encrypt(caller, key, &plaintext, &aad) {
                    Ok(layer) => xks_ok(
                        serde_json::to_value(EncryptAnswer {
                            ciphertext: B64.encode(&layer.ciphertext),
                            initialization_vector: B64.encode(&layer.initialization_vector),
                            authentication_tag: B64.encode(&layer.authentication_tag),
                            ciphertext_metadata: B64.encode(&layer.ciphertext_metadata),
                        })
                        .unwrap_or_default(),
                    ),
                    Err(e) => vault_error(&e),
                }
            } else {
                let fields = (
                    request.ciphertext.as_ref().and_then(|v| B64.decode(v).ok()),
                    request
                        .initialization_vector
                        .as_ref()
                        .and_then(|v| B64.decode(v).ok()),
                    request
                        .authentication_tag
                        .as_ref()
                        .and_then(|v| B64.decode(v).ok()),
                    decode(&request.ciphertext_metadata),
                );
                let (Some(ciphertext), Some(iv), Some(tag), Some(metadata)) = fields else {
                    return xks_error(
                        400,
                        "ValidationException",
                        "ciphertext, initializationVector and authenticationTag are required, in base64",
                    );
                };
                let layer = ExternalLayer {
                    ciphertext,
                    initialization_vector: iv,
                    authentication_tag: tag,
                    ciphertext_metadata: metadata,
                };
                match service.external_key_decrypt(caller, key, &layer, &aad) {
                    Ok(plaintext) => xks_ok(json!({"plaintext": B64.encode(plaintext.as_slice())})),
                    Err(e) => vault_error(&e),
                }
            }
        }
    }
}

/// Runs the proxy on `listen` on a runtime of its own until SIGINT or SIGTERM; `ready` is told
/// where it listens once it does.
pub fn run_xks_proxy(
    service: Arc<Service>,
    config: Arc<XksProxyConfig>,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        ready(listener.local_addr()?)?;
        serve_xks_proxy(listener, service, config, crate::shutdown_signal()).await
    })
}
