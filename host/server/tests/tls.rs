//! TLS for `kms serve`: what it reads from the certificate and key files (and what it says when
//! they are wrong), where it refuses plain HTTP, and requests served over TLS. The hostile side
//! of TLS (garbage, half handshakes, silence) is in `hostile_clients.rs`.

mod common;

use std::sync::Arc;

use common::certs::TestCertificates;
use common::{TestServer, assert_no_server_panicked};
use kms_server::{BindError, Server, ServerConfig, TlsFileError, TlsIdentity};
use kms_service::Service;

fn load_error(certificates: &TestCertificates, cert: &str, key: &str) -> TlsFileError {
    TlsIdentity::from_pem_files(&certificates.path(cert), &certificates.path(key))
        .expect_err("the files should be refused")
}

#[test]
fn a_certificate_and_key_made_with_openssl_serve_a_signed_request_over_tls() {
    let certificates = TestCertificates::issue();
    let server = TestServer::start_tls(&certificates, |_| {});
    server.assert_serves_a_well_behaved_client();
    assert_no_server_panicked();
}

#[test]
fn an_rsa_key_in_pkcs1_form_is_accepted() {
    let certificates = TestCertificates::issue();
    certificates.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "rsa.key",
        "-out",
        "rsa.pem",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
    ]);
    certificates.openssl(&[
        "pkey",
        "-in",
        "rsa.key",
        "-traditional",
        "-out",
        "rsa-pkcs1.key",
    ]);
    let pkcs1 = std::fs::read_to_string(certificates.path("rsa-pkcs1.key")).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    TlsIdentity::from_pem_files(
        &certificates.path("rsa.pem"),
        &certificates.path("rsa-pkcs1.key"),
    )
    .unwrap();
}

#[test]
fn a_missing_certificate_file_is_named_in_the_error() {
    let certificates = TestCertificates::issue();
    let error = load_error(&certificates, "absent.pem", "server.key");
    assert!(
        matches!(
            error,
            TlsFileError::Unreadable {
                what: "certificate",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("absent.pem"), "{error}");
}

#[test]
fn a_certificate_file_without_a_certificate_is_refused() {
    let certificates = TestCertificates::issue();
    // The key given where the certificate belongs.
    let error = load_error(&certificates, "server.key", "server.key");
    assert!(
        matches!(&error, TlsFileError::NoCertificate { path } if path.ends_with("server.key")),
        "{error:?}"
    );
}

#[test]
fn a_key_file_without_a_private_key_is_refused() {
    let certificates = TestCertificates::issue();
    let error = load_error(&certificates, "server.pem", "server.pem");
    assert!(
        matches!(&error, TlsFileError::NoPrivateKey { path } if path.ends_with("server.pem")),
        "{error:?}"
    );
}

#[test]
fn an_encrypted_private_key_is_refused_with_how_to_decrypt_it() {
    let certificates = TestCertificates::issue();
    certificates.openssl(&[
        "pkey",
        "-in",
        "server.key",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        "encrypted.key",
    ]);
    let error = load_error(&certificates, "server.pem", "encrypted.key");
    assert!(
        matches!(error, TlsFileError::EncryptedKey { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("openssl pkey"), "{error}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let certificates = TestCertificates::issue();
    // The CA's key beside the server's certificate.
    let error = load_error(&certificates, "server.pem", "ca.key");
    assert!(
        matches!(error, TlsFileError::KeyMismatch { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("ca.key") && message.contains("server.pem"),
        "{message}"
    );
}

#[test]
fn a_chain_whose_first_certificate_is_the_issuer_is_refused_as_a_mismatch() {
    let certificates = TestCertificates::issue();
    let ca = std::fs::read_to_string(certificates.ca()).unwrap();
    let server = std::fs::read_to_string(certificates.server_cert()).unwrap();
    certificates.write("reversed.pem", format!("{ca}{server}"));
    let error = load_error(&certificates, "reversed.pem", "server.key");
    assert!(
        matches!(error, TlsFileError::KeyMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("must come first"), "{error}");
}

#[test]
fn pem_that_does_not_decode_is_refused() {
    let certificates = TestCertificates::issue();
    certificates.write(
        "garbled.key",
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
    );
    let error = load_error(&certificates, "server.pem", "garbled.key");
    assert!(
        matches!(
            error,
            TlsFileError::NotPem {
                what: "private key",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_private_key_section_that_holds_no_key_is_refused() {
    let certificates = TestCertificates::issue();
    certificates.write(
        "empty.key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let error = load_error(&certificates, "server.pem", "empty.key");
    assert!(
        matches!(&error, TlsFileError::UnusableKey { path, .. } if path.ends_with("empty.key")),
        "{error:?}"
    );
}

#[test]
fn a_certificate_section_that_holds_no_certificate_is_refused() {
    let certificates = TestCertificates::issue();
    certificates.write(
        "empty.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let error = load_error(&certificates, "empty.pem", "server.key");
    assert!(
        matches!(&error, TlsFileError::BadCertificate { path, .. } if path.ends_with("empty.pem")),
        "{error:?}"
    );
}

fn bind(listen: &str, configure: impl FnOnce(&mut ServerConfig)) -> anyhow::Result<Server> {
    let mut config = ServerConfig {
        listen: listen.parse().unwrap(),
        ..Default::default()
    };
    configure(&mut config);
    Server::bind(Arc::new(Service::in_memory().unwrap()), config)
}

#[test]
fn plain_http_beyond_loopback_is_refused() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let error = bind(listen, |_| {}).err().expect("refused");
        assert!(
            matches!(
                error.downcast_ref::<BindError>(),
                Some(BindError::PlainHttpBeyondLoopback(_))
            ),
            "{error:#}"
        );
        assert!(error.to_string().contains("--allow-plain-http"), "{error}");
    }
}

#[test]
fn plain_http_beyond_loopback_is_served_when_explicitly_allowed() {
    let server = bind("0.0.0.0:0", |config| config.allow_plain_http = true).unwrap();
    assert_eq!(server.scheme(), "http");
}

#[test]
fn tls_beyond_loopback_needs_no_permission() {
    let certificates = TestCertificates::issue();
    let server = bind("0.0.0.0:0", |config| {
        config.tls = Some(
            TlsIdentity::from_pem_files(&certificates.server_cert(), &certificates.server_key())
                .unwrap(),
        )
    })
    .unwrap();
    assert_eq!(server.scheme(), "https");
}

#[test]
fn plain_http_on_loopback_is_the_default() {
    for listen in ["127.0.0.1:0", "[::ffff:127.0.0.1]:0"] {
        let server = bind(listen, |_| {}).unwrap();
        assert_eq!(server.scheme(), "http");
    }
}
