//! Verification of AWS Signature Version 4 on incoming requests, in both forms: the
//! `Authorization` header and the query string (presigned). Written here because the well-kept
//! crates (`aws-sigv4`) sign outgoing requests and verify nothing; the algorithm is AWS's
//! published one, checked against AWS's own test-suite vectors below and against boto3 and the
//! aws CLI in the integration tests.

use kms_crypto::{constant_time_eq, hmac_sha256, sha256};

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the server's, as AWS allows.
pub const DEFAULT_MAX_SKEW_SECONDS: u64 = 5 * 60;
/// The longest validity a presigned request may ask for (7 days).
const MAX_EXPIRES_SECONDS: u64 = 7 * 24 * 3600;

/// Why a request's signature was not accepted, as AWS names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header and no `X-Amz-Signature` (MissingAuthenticationTokenException).
    Missing,
    /// The signature parts are malformed or incomplete (IncompleteSignatureException).
    Incomplete(String),
    /// The access key id is not known or not active (UnrecognizedClientException).
    UnknownKey,
    /// The signature does not match, or the request is outside its time window
    /// (InvalidSignatureException).
    Invalid(String),
}

impl AuthError {
    /// The AWS exception name.
    pub fn aws_type(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Incomplete(_) => "IncompleteSignatureException",
            AuthError::UnknownKey => "UnrecognizedClientException",
            AuthError::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// The message, as AWS words it.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "Request is missing Authentication Token".into(),
            AuthError::Incomplete(m) | AuthError::Invalid(m) => m.clone(),
            AuthError::UnknownKey => {
                "The security token included in the request is invalid.".into()
            }
        }
    }
}

/// The parts of a request that the signature covers.
pub struct SignedRequest<'a> {
    /// `POST`, `GET`, …
    pub method: &'a str,
    /// The path as received (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every header, names in any case, in the order received.
    pub headers: &'a [(String, Vec<u8>)],
    /// The body.
    pub body: &'a [u8],
}

/// What was claimed and checked: the access key the request was signed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The access key id.
    pub access_key_id: String,
    /// The region of the credential scope: the region the request acts in.
    pub region: String,
}

/// The signature fields of one request, from either form.
struct Claim {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    /// For presigned requests: seconds of validity.
    expires: Option<u64>,
}

fn incomplete(message: impl Into<String>) -> AuthError {
    AuthError::Incomplete(message.into())
}

fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Splits `a=1&b=2` into decoded pairs.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else `%XX`;
/// `/` kept too when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_authorization(value: &str) -> Result<Claim, AuthError> {
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        incomplete(format!(
            "Authorization header requires the {ALGORITHM} algorithm"
        ))
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        } else if !part.is_empty() {
            return Err(incomplete(format!(
                "Authorization header has an unexpected part: '{part}'"
            )));
        }
    }
    let missing = |what: &str| {
        incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={value}"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    claim(credential, signed, signature, String::new(), None)
}

fn claim(
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: String,
    expires: Option<u64>,
) -> Result<Claim, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region, like 'us-east-1': '{credential}'"
        )));
    };
    if terminator != "aws4_request" {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'"
        )));
    }
    if access_key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!(
            "Credential '{credential}' is malformed"
        )));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hexadecimal characters"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(incomplete(format!("SignedHeaders '{signed}' is malformed")));
    }
    Ok(Claim {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
        amz_date,
        expires,
    })
}

/// Seconds since the epoch of an ISO 8601 basic time (`20150830T123600Z`).
pub fn parse_amz_date(s: &str) -> Option<u64> {
    // Shape first, by bytes: only then is slicing by byte offsets safe (a multi-byte character
    // would otherwise split a slice and panic).
    let shaped = s.len() == 16
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    let secs = humantime::parse_rfc3339(&iso)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    // humantime takes second 60 (a leap second) and carries it into the next minute: only a
    // time that prints back as itself names one instant.
    (format_amz_date(secs) == s).then_some(secs)
}

/// The ISO 8601 basic form of `secs` (`20150830T123600Z`).
pub fn format_amz_date(secs: u64) -> String {
    let t = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    )
    .to_string();
    t.replace(['-', ':'], "")
}

/// Trims a header value and collapses inner runs of spaces, as the canonical form requires.
fn canonical_value(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request and the hex SHA-256 of the payload it names.
pub(crate) fn canonical_request(
    req: &SignedRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    drop_signature_param: bool,
) -> Result<String, AuthError> {
    let mut pairs: Vec<(String, String)> = query_pairs(req.query)
        .into_iter()
        .filter(|(k, _)| !(drop_signature_param && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_value(v))
            .collect();
        if values.is_empty() {
            return Err(AuthError::Invalid(format!(
                "The request signature we calculated does not match the signature you provided: signed header '{name}' is missing"
            )));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = if req.path.is_empty() { "/" } else { req.path };
    Ok(format!(
        "{}\n{}\n{query}\n{headers}\n{}\n{payload_hash}",
        req.method,
        uri_encode(path, true),
        signed_headers.join(";"),
    ))
}

/// The SigV4 signature of a canonical request.
pub fn signature(
    secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    canonical_request: &str,
) -> String {
    let key = signing_key(secret, date, region, service);
    signature_with_key(&key, date, region, service, amz_date, canonical_request)
}

/// The key SigV4 derives from a secret for one day, region and service: the same for every
/// request of that scope, so a verifier may keep it rather than derive it per request.
pub fn signing_key(
    secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
) -> zeroize::Zeroizing<[u8; 32]> {
    let mut prefixed = zeroize::Zeroizing::new(b"AWS4".to_vec());
    prefixed.extend_from_slice(secret);
    let k_date = zeroize::Zeroizing::new(hmac_sha256(&prefixed, date.as_bytes()));
    let k_region = zeroize::Zeroizing::new(hmac_sha256(&*k_date, region.as_bytes()));
    let k_service = zeroize::Zeroizing::new(hmac_sha256(&*k_region, service.as_bytes()));
    zeroize::Zeroizing::new(hmac_sha256(&*k_service, b"aws4_request"))
}

/// The SigV4 signature of a canonical request under a [`signing_key`] of its scope.
pub fn signature_with_key(
    signing_key: &[u8; 32],
    date: &str,
    region: &str,
    service: &str,
    amz_date: &str,
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex::encode(sha256(canonical_request.as_bytes()))
    );
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// The credential scope a request claims: whose key, and for which day, region and service.
#[derive(Debug)]
pub struct Scope<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// `YYYYMMDD`.
    pub date: &'a str,
    /// The region the request is scoped to.
    pub region: &'a str,
    /// The service (`kms`).
    pub service: &'a str,
}

/// What the verifier expects of every request.
pub struct Expectations<'a> {
    /// The regions requests may be scoped to; `None` serves every well-formed region name.
    pub regions: Option<&'a [String]>,
    /// The service name (`kms`).
    pub service: &'a str,
    /// The server's time, seconds since the epoch.
    pub now: u64,
    /// Allowed clock difference, in seconds.
    pub max_skew: u64,
}

/// Verifies a request's SigV4 signature. `secret_of` answers the secret of an active access key
/// (`None` for an unknown or inactive one).
pub fn verify(
    req: &SignedRequest<'_>,
    expect: &Expectations<'_>,
    secret_of: impl FnOnce(&str) -> Option<zeroize::Zeroizing<Vec<u8>>>,
) -> Result<Verified, AuthError> {
    verify_with_key(req, expect, |scope| {
        let secret = secret_of(scope.access_key_id)?;
        Some(signing_key(
            &secret,
            scope.date,
            scope.region,
            scope.service,
        ))
    })
}

/// [`verify`], with `key_of` answering the [`signing_key`] of the request's scope (from a cache,
/// say) rather than the secret itself; `None` for an unknown or inactive access key.
pub fn verify_with_key(
    req: &SignedRequest<'_>,
    expect: &Expectations<'_>,
    key_of: impl FnOnce(&Scope<'_>) -> Option<zeroize::Zeroizing<[u8; 32]>>,
) -> Result<Verified, AuthError> {
    let query = query_pairs(req.query);
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let presigned = q("X-Amz-Signature").is_some() || q("X-Amz-Credential").is_some();
    let mut claim = match (header(req.headers, "authorization"), presigned) {
        (Some(_), true) => {
            return Err(incomplete(
                "A request may carry its signature in the Authorization header or the query string, not both",
            ));
        }
        (Some(value), false) => {
            let value = std::str::from_utf8(value)
                .map_err(|_| incomplete("The Authorization header is not text"))?;
            let mut claim = parse_authorization(value)?;
            let date = header(req.headers, "x-amz-date")
                .and_then(|v| std::str::from_utf8(v).ok())
                .ok_or_else(|| {
                    incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
                })?;
            claim.amz_date = date.to_string();
            claim
        }
        (None, true) => {
            if q("X-Amz-Algorithm") != Some(ALGORITHM) {
                return Err(incomplete(format!("X-Amz-Algorithm must be {ALGORITHM}")));
            }
            let field =
                |name: &str| q(name).ok_or_else(|| incomplete(format!("{name} is missing")));
            let expires = field("X-Amz-Expires")?
                .parse::<u64>()
                .ok()
                .filter(|e| (1..=MAX_EXPIRES_SECONDS).contains(e))
                .ok_or_else(|| {
                    incomplete(format!(
                        "X-Amz-Expires must be a number of seconds from 1 to {MAX_EXPIRES_SECONDS}"
                    ))
                })?;
            claim(
                field("X-Amz-Credential")?,
                field("X-Amz-SignedHeaders")?,
                field("X-Amz-Signature")?,
                field("X-Amz-Date")?.to_string(),
                Some(expires),
            )?
        }
        (None, false) => return Err(AuthError::Missing),
    };
    claim.signed_headers.sort();
    claim.signed_headers.dedup();
    if !claim.signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("SignedHeaders must include 'host'"));
    }
    // The operation (`X-Amz-Target`), the body's type and every other `x-amz-` header present
    // must be covered by the signature: otherwise a captured request could be replayed as
    // another operation.
    if let Some(unsigned) = req
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .find(|name| {
            (name == "content-type" || name.starts_with("x-amz-"))
                && !claim.signed_headers.contains(name)
        })
    {
        return Err(incomplete(format!(
            "The header '{unsigned}' is present but not signed; add it to SignedHeaders"
        )));
    }
    let request_time = parse_amz_date(&claim.amz_date).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Date '{}' is not a valid time",
            claim.amz_date
        ))
    })?;
    if !claim.amz_date.starts_with(&claim.date) {
        return Err(AuthError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            claim.date,
            claim.amz_date.get(..8).unwrap_or(&claim.amz_date)
        )));
    }
    let served = match expect.regions {
        Some(regions) => regions.contains(&claim.region),
        None => kms_core::arn::validate_region(&claim.region).is_ok(),
    };
    if !served {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped to a valid region. '{}' is not served here",
            claim.region
        )));
    }
    if claim.service != expect.service {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped to correct service: '{}'",
            expect.service
        )));
    }
    let earliest = expect.now.saturating_sub(expect.max_skew);
    let latest = expect.now + expect.max_skew;
    match claim.expires {
        None if request_time < earliest || request_time > latest => {
            return Err(AuthError::Invalid(format!(
                "Signature expired: {} is now earlier than {} ({} - {} min.)",
                claim.amz_date,
                format_amz_date(earliest),
                format_amz_date(expect.now),
                expect.max_skew / 60
            )));
        }
        Some(expires) if expect.now > request_time + expires || request_time > latest => {
            return Err(AuthError::Invalid(format!(
                "Signature expired: the presigned request was valid from {} for {expires} seconds",
                claim.amz_date
            )));
        }
        _ => {}
    }
    let body_hash = hex::encode(sha256(req.body));
    let payload_hash = match header(req.headers, "x-amz-content-sha256")
        .and_then(|v| std::str::from_utf8(v).ok())
    {
        // No UNSIGNED-PAYLOAD (an S3 convention): every request, presigned ones too, is bound
        // to its body.
        Some(h) if h.eq_ignore_ascii_case(&body_hash) => body_hash,
        Some(_) => {
            return Err(AuthError::Invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .into(),
            ));
        }
        None => body_hash,
    };
    let canonical = canonical_request(
        req,
        &claim.signed_headers,
        &payload_hash,
        claim.expires.is_some(),
    )?;
    let key = key_of(&Scope {
        access_key_id: &claim.access_key_id,
        date: &claim.date,
        region: &claim.region,
        service: &claim.service,
    })
    .ok_or(AuthError::UnknownKey)?;
    let expected = signature_with_key(
        &key,
        &claim.date,
        &claim.region,
        &claim.service,
        &claim.amz_date,
        &canonical,
    );
    if !constant_time_eq(expected.as_bytes(), claim.signature.as_bytes()) {
        return Err(AuthError::Invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                .into(),
        ));
    }
    Ok(Verified {
        access_key_id: claim.access_key_id,
        region: claim.region,
    })
}

/// Signs a request the way AWS clients do (header form), for tests and the load generator.
/// Returns the headers to add: `x-amz-date` and `authorization`.
pub fn sign_request(
    access_key_id: &str,
    secret: &[u8],
    region: &str,
    service: &str,
    now: u64,
    req: &SignedRequest<'_>,
) -> Vec<(String, String)> {
    let amz_date = format_amz_date(now);
    let date = amz_date[..8].to_string();
    let mut headers = req.headers.to_vec();
    headers.push(("x-amz-date".into(), amz_date.clone().into_bytes()));
    let mut signed: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    signed.sort();
    signed.dedup();
    let with_date = SignedRequest {
        headers: &headers,
        ..*req
    };
    let payload_hash = hex::encode(sha256(req.body));
    let canonical = canonical_request(&with_date, &signed, &payload_hash, false)
        .expect("every signed header is present");
    let sig = signature(secret, &date, region, service, &amz_date, &canonical);
    vec![
        ("x-amz-date".into(), amz_date),
        (
            "authorization".into(),
            format!(
                "{ALGORITHM} Credential={access_key_id}/{date}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={sig}",
                signed.join(";")
            ),
        ),
    ]
}

/// Every header of a KMS JSON request for `operation` to `host` with `body`, signed as AWS
/// clients sign it: `host`, `x-amz-target`, `content-type`, `x-amz-date` and `authorization`.
/// For tests, benchmarks and load generators that speak to `kms serve`.
pub fn signed_kms_headers(
    host: &str,
    operation: &str,
    body: &[u8],
    access_key_id: &str,
    secret: &[u8],
    region: &str,
    now: u64,
) -> Vec<(String, String)> {
    let base: Vec<(String, Vec<u8>)> = vec![
        ("host".into(), host.as_bytes().to_vec()),
        (
            "x-amz-target".into(),
            format!("TrentService.{operation}").into_bytes(),
        ),
        (
            "content-type".into(),
            b"application/x-amz-json-1.1".to_vec(),
        ),
    ];
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body,
    };
    let signature = sign_request(access_key_id, secret, region, "kms", now, &request);
    base.into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .chain(signature)
        .collect()
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
