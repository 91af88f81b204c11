use super::*;

/// AWS's SigV4 test suite credentials and time (aws-sig-v4-test-suite).
const AKID: &str = "AKIDEXAMPLE";
const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20150830T123600Z";

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn suite_signature(method: &str, query: &str, hs: &[(&str, &str)], body: &[u8]) -> String {
    let hs = headers(hs);
    let req = SignedRequest {
        method,
        path: "/",
        query,
        headers: &hs,
        body,
    };
    let mut signed: Vec<String> = hs.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    signed.sort();
    let payload = hex::encode(sha256(body));
    let canonical = canonical_request(&req, &signed, &payload, false).unwrap();
    signature(
        SECRET,
        "20150830",
        "us-east-1",
        "service",
        AMZ_DATE,
        &canonical,
    )
}

#[test]
fn aws_test_suite_vectors() {
    let base = [("Host", "example.amazonaws.com"), ("X-Amz-Date", AMZ_DATE)];
    // get-vanilla
    assert_eq!(
        suite_signature("GET", "", &base, b""),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    // get-vanilla-query-order-key-case: the query is sorted before signing.
    assert_eq!(
        suite_signature("GET", "Param2=value2&Param1=value1", &base, b""),
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
    // post-x-www-form-urlencoded, with the body's hash signed.
    let body = b"Param1=value1";
    let hash = hex::encode(sha256(body));
    assert_eq!(
        hash,
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    assert_eq!(
        suite_signature(
            "POST",
            "",
            &[
                ("X-Amz-Date", AMZ_DATE),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("Content-Length", "13"),
                ("X-Amz-Content-Sha256", &hash),
            ],
            body
        ),
        "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
    );
}

#[test]
fn amz_dates_round_trip() {
    assert_eq!(parse_amz_date(AMZ_DATE), Some(1_440_938_160));
    assert_eq!(format_amz_date(1_440_938_160), AMZ_DATE);
    assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
}

/// Found by the `sigv4` fuzz target: the time parser took second 60 (and wrapped it into the
/// next minute), so a malformed X-Amz-Date was accepted as another instant.
#[test]
fn an_amz_date_with_second_60_is_not_a_time() {
    assert_eq!(parse_amz_date("20150830T123660Z"), None);
    assert_eq!(parse_amz_date("20151231T235960Z"), None);
    assert_eq!(parse_amz_date("20150830T123659Z"), Some(1_440_938_219));
}

const NOW: u64 = 1_790_000_000;
/// The regions the tests' server is restricted to.
static SERVED: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| vec!["us-east-1".into(), "ap-south-1".into()]);

fn expect() -> Expectations<'static> {
    Expectations {
        regions: Some(&SERVED),
        service: "kms",
        now: NOW,
        max_skew: DEFAULT_MAX_SKEW_SECONDS,
    }
}

fn secret(id: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    (id == AKID).then(|| zeroize::Zeroizing::new(SECRET.to_vec()))
}

/// A KMS request as boto3 sends it, signed at `at` with `key`.
fn kms_request(at: u64, key: &[u8], body: &[u8]) -> Vec<(String, Vec<u8>)> {
    kms_request_in("us-east-1", at, key, body)
}

fn kms_request_in(region: &str, at: u64, key: &[u8], body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let base = headers(&[
        ("Host", "127.0.0.1:4599"),
        ("X-Amz-Target", "TrentService.ListKeys"),
        ("Content-Type", "application/x-amz-json-1.1"),
    ]);
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body,
    };
    let mut all = base.clone();
    for (k, v) in sign_request(AKID, key, region, "kms", at, &req) {
        all.push((k, v.into_bytes()));
    }
    all
}

fn check(hs: &[(String, Vec<u8>)], body: &[u8]) -> Result<Verified, AuthError> {
    verify(
        &SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: hs,
            body,
        },
        &expect(),
        secret,
    )
}

#[test]
fn a_correctly_signed_request_is_accepted() {
    let hs = kms_request(NOW, SECRET, b"{}");
    assert_eq!(
        check(&hs, b"{}").unwrap(),
        Verified {
            access_key_id: AKID.into(),
            region: "us-east-1".into(),
        }
    );
    // Within the allowed skew either way.
    check(&kms_request(NOW - 299, SECRET, b"{}"), b"{}").unwrap();
    check(&kms_request(NOW + 299, SECRET, b"{}"), b"{}").unwrap();
}

#[test]
fn tampering_wrong_secrets_unknown_keys_and_stale_times_are_refused() {
    let hs = kms_request(NOW, SECRET, b"{}");
    // A changed body or a changed signed header.
    let err = check(&hs, b"{\"Limit\":1}").unwrap_err();
    assert_eq!(err.aws_type(), "InvalidSignatureException");
    let mut changed = hs.clone();
    changed[1].1 = b"TrentService.ScheduleKeyDeletion".to_vec();
    assert_eq!(
        check(&changed, b"{}").unwrap_err().aws_type(),
        "InvalidSignatureException"
    );
    // Another secret.
    let wrong = kms_request(NOW, b"not the secret", b"{}");
    assert_eq!(
        check(&wrong, b"{}").unwrap_err().aws_type(),
        "InvalidSignatureException"
    );
    // An access key the server does not know.
    let unknown: Vec<_> = hs
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8(v.clone())
                .unwrap()
                .replace(AKID, "AKIAUNKNOWN");
            (k.clone(), v.into_bytes())
        })
        .collect();
    assert_eq!(check(&unknown, b"{}").unwrap_err(), AuthError::UnknownKey);
    // Too old, too new.
    for at in [NOW - 301, NOW + 301] {
        let err = check(&kms_request(at, SECRET, b"{}"), b"{}").unwrap_err();
        assert_eq!(err.aws_type(), "InvalidSignatureException");
        assert!(err.message().contains("Signature expired"), "{err:?}");
    }
}

#[test]
fn missing_and_malformed_signatures_get_aws_errors() {
    let bare = headers(&[("Host", "h"), ("X-Amz-Date", "20260922T000000Z")]);
    assert_eq!(check(&bare, b"").unwrap_err(), AuthError::Missing);
    for auth in [
        "AWS4-HMAC-SHA1 Credential=x",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260922/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260922/kms/aws4_request, SignedHeaders=host, Signature=00",
    ] {
        let mut hs = bare.clone();
        hs.push(("Authorization".into(), auth.as_bytes().to_vec()));
        assert_eq!(
            check(&hs, b"").unwrap_err().aws_type(),
            "IncompleteSignatureException",
            "{auth}"
        );
    }
    // A region outside the served list, or the wrong service, in the scope.
    let hs = kms_request(NOW, SECRET, b"{}");
    let other_region: Vec<_> = hs
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8(v.clone())
                .unwrap()
                .replace("/us-east-1/", "/eu-west-1/");
            (k.clone(), v.into_bytes())
        })
        .collect();
    assert_eq!(
        check(&other_region, b"{}").unwrap_err().aws_type(),
        "InvalidSignatureException"
    );
    // Unrestricted, any well-formed region is served, and the request acts in it.
    let every = |hs: &[(String, Vec<u8>)]| {
        let request = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: hs,
            body: b"{}",
        };
        verify(
            &request,
            &Expectations {
                regions: None,
                ..expect()
            },
            secret,
        )
    };
    let in_eu = kms_request_in("eu-west-1", NOW, SECRET, b"{}");
    assert_eq!(every(&in_eu).unwrap().region, "eu-west-1");
    assert_eq!(
        check(&in_eu, b"{}").unwrap_err().aws_type(),
        "InvalidSignatureException"
    );
    let in_mumbai = kms_request_in("ap-south-1", NOW, SECRET, b"{}");
    assert_eq!(check(&in_mumbai, b"{}").unwrap().region, "ap-south-1");
    assert_eq!(check(&hs, b"{}").unwrap().region, "us-east-1");
    let malformed = kms_request_in("US_EAST", NOW, SECRET, b"{}");
    assert_eq!(
        every(&malformed).unwrap_err().aws_type(),
        "InvalidSignatureException"
    );
}

/// Presigns the way botocore's SigV4QueryAuth does (signed headers: host only).
fn presign(at: u64, expires: u64) -> String {
    let amz_date = format_amz_date(at);
    let date = &amz_date[..8];
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AKID}%2F{date}%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    );
    let hs = headers(&[("Host", "127.0.0.1:4599")]);
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        headers: &hs,
        body: b"{}",
    };
    let payload = hex::encode(sha256(b"{}"));
    let canonical = canonical_request(&req, &["host".to_string()], &payload, true).unwrap();
    let sig = signature(SECRET, date, "us-east-1", "kms", &amz_date, &canonical);
    format!("{query}&X-Amz-Signature={sig}")
}

#[test]
fn presigned_query_requests_are_verified_with_their_expiry() {
    let hs = headers(&[("Host", "127.0.0.1:4599")]);
    let run = |query: &str| {
        verify(
            &SignedRequest {
                method: "POST",
                path: "/",
                query,
                headers: &hs,
                body: b"{}",
            },
            &expect(),
            secret,
        )
    };
    run(&presign(NOW - 100, 300)).unwrap();
    // Valid for an hour, signed 50 minutes ago: still fine, beyond the header form's skew.
    run(&presign(NOW - 3000, 3600)).unwrap();
    let err = run(&presign(NOW - 400, 300)).unwrap_err();
    assert_eq!(err.aws_type(), "InvalidSignatureException");
    let tampered = presign(NOW, 300).replace("X-Amz-Expires=300", "X-Amz-Expires=900");
    assert_eq!(
        run(&tampered).unwrap_err().aws_type(),
        "InvalidSignatureException"
    );
    let too_long = presign(NOW, 700_000);
    assert_eq!(
        run(&too_long).unwrap_err().aws_type(),
        "IncompleteSignatureException"
    );
}

#[test]
fn uri_encoding_keeps_only_unreserved_characters() {
    assert_eq!(uri_encode("a b/c~d", false), "a%20b%2Fc~d");
    assert_eq!(uri_encode("/a b", true), "/a%20b");
    assert_eq!(percent_decode("a%2Fb+c%zz"), "a/b c%zz");
}

#[test]
fn a_multi_byte_character_in_a_date_is_refused_not_a_panic() {
    // 16 bytes with 'T' at byte 8 and a final 'Z', but 'é' straddles the month's digits.
    let date = "20150é0T123600Z";
    assert_eq!(date.len(), 16);
    assert_eq!(parse_amz_date(date), None);
    let query = presign(NOW, 60).replace(&format_amz_date(NOW), "20150%C3%A90T123600Z");
    let hs = headers(&[("Host", "127.0.0.1:4599")]);
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        headers: &hs,
        body: b"{}",
    };
    let refused = verify(&request, &expect(), secret).unwrap_err();
    assert_eq!(refused.aws_type(), "IncompleteSignatureException");
}

/// A small deterministic generator (xorshift), so that the sweep below is the same every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `value` with a run of one to three of its characters replaced by a piece of [`text`]:
    /// values that keep their shape but not their bytes.
    fn mutate(&mut self, value: &str) -> String {
        let chars: Vec<char> = value.chars().collect();
        if chars.is_empty() {
            return self.text();
        }
        let at = (self.next() % chars.len() as u64) as usize;
        let end = (at + 1 + (self.next() % 3) as usize).min(chars.len());
        let piece = self.text();
        let head: String = chars[..at].iter().collect();
        let tail: String = chars[end..].iter().collect();
        format!("{head}{piece}{tail}")
    }

    /// A short string of ASCII, separators, percent escapes and multi-byte characters.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "0",
            "9",
            "T",
            "Z",
            "/",
            "=",
            "&",
            ";",
            ",",
            "%",
            "%C3%A9",
            "%2F",
            "é",
            "日本",
            "🔑",
            " ",
            "aws4_request",
            "AWS4-HMAC-SHA256",
            "host",
            "x-amz-date",
            "us-east-1",
            "kms",
            "20150830",
            "T123600Z",
            "\u{0}",
            "\u{202e}",
            "-1",
            "99999999999999999999",
        ];
        let len = (self.next() % 4) as usize;
        (0..len)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn no_header_or_query_value_makes_verification_panic() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let signed = kms_request(NOW, SECRET, b"{}");
    let presigned = presign(NOW, 60);
    for round in 0..20_000 {
        // Replace one header value, or one query parameter, with noise.
        let mut hs = signed.clone();
        let mut query = presigned.clone();
        if round % 2 == 0 {
            let i = (noise.next() % hs.len() as u64) as usize;
            let value = String::from_utf8_lossy(&hs[i].1).into_owned();
            hs[i].1 = noise.mutate(&value).into_bytes();
        } else {
            let mut pairs: Vec<String> = query.split('&').map(str::to_string).collect();
            let i = (noise.next() % pairs.len() as u64) as usize;
            let (name, value) = pairs[i].split_once('=').unwrap_or((&pairs[i], ""));
            pairs[i] = format!("{name}={}", noise.mutate(value));
            query = pairs.join("&");
        }
        let request = SignedRequest {
            method: "POST",
            path: "/",
            query: if round % 2 == 0 { "" } else { &query },
            headers: &hs,
            body: b"{}",
        };
        let outcome = std::panic::catch_unwind(|| verify(&request, &expect(), secret).is_ok());
        assert!(outcome.is_ok(), "round {round} panicked: {hs:?} {query}");
    }
}

#[test]
fn the_operation_and_every_x_amz_header_must_be_signed() {
    // Signed over host alone, then given an operation: a replay as another operation.
    let base = headers(&[("Host", "127.0.0.1:4599")]);
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body: b"{}",
    };
    let mut hs = base.clone();
    for (k, v) in sign_request(AKID, SECRET, "us-east-1", "kms", NOW, &req) {
        hs.push((k, v.into_bytes()));
    }
    check(&hs, b"{}").unwrap();
    for (name, value) in [
        ("X-Amz-Target", "TrentService.GenerateRandom"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Security-Token", "anything"),
    ] {
        let mut extended = hs.clone();
        extended.push((name.to_string(), value.as_bytes().to_vec()));
        let refused = check(&extended, b"{}").unwrap_err();
        assert_eq!(refused.aws_type(), "IncompleteSignatureException", "{name}");
    }
}

#[test]
fn a_presigned_request_is_bound_to_its_body() {
    // As a client that claims UNSIGNED-PAYLOAD would sign it: over host and the claim.
    let amz_date = format_amz_date(NOW);
    let date = &amz_date[..8];
    let query = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AKID}%2F{date}%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date={amz_date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-amz-content-sha256"
    );
    let hs = headers(&[
        ("Host", "127.0.0.1:4599"),
        ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
    ]);
    let any_body = br#"{"NumberOfBytes":1024}"#;
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: &query,
        headers: &hs,
        body: any_body,
    };
    let signed = ["host".to_string(), "x-amz-content-sha256".to_string()];
    let canonical = canonical_request(&req, &signed, "UNSIGNED-PAYLOAD", true).unwrap();
    let sig = signature(SECRET, date, "us-east-1", "kms", &amz_date, &canonical);
    let query = format!("{query}&X-Amz-Signature={sig}");
    let refused = verify(
        &SignedRequest {
            query: &query,
            ..req
        },
        &expect(),
        secret,
    )
    .unwrap_err();
    assert_eq!(refused.aws_type(), "InvalidSignatureException");
}
