//! TLS for `kms serve`: the server's certificate chain and private key read from PEM files, and
//! the rustls configuration built from them. The crypto provider is named here (ring), not taken
//! from whatever the process has installed, so a second provider compiled in by another crate
//! can neither change nor break it. Every fault in the files is an error naming the file and
//! what is wrong with it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

/// What is wrong with the certificate or key files given to `kms serve`.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    /// The file could not be read.
    #[error("cannot read the TLS {what} file {}: {problem}", path.display())]
    Unreadable {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        problem: std::io::Error,
    },
    /// The file is not well-formed PEM.
    #[error("the TLS {what} file {} is not valid PEM: {problem}", path.display())]
    NotPem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The PEM parser's words.
        problem: String,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    #[error(
        "the TLS certificate file {} holds no certificate: expected one or more \
         '-----BEGIN CERTIFICATE-----' sections, the server's own certificate first",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no unencrypted private key.
    #[error(
        "the TLS private key file {} holds no private key: expected an unencrypted \
         'PRIVATE KEY' (PKCS#8), 'RSA PRIVATE KEY' or 'EC PRIVATE KEY' section",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds an encrypted private key.
    #[error(
        "the TLS private key in {} is encrypted; kms serve needs it unencrypted (decrypt it \
         with `openssl pkey -in <encrypted> -out <plain>` and keep that file readable only by \
         the server)",
        path.display()
    )]
    EncryptedKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a kind or shape rustls cannot sign with.
    #[error("the TLS private key in {} cannot be used: {problem}", path.display())]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// rustls's words.
        problem: String,
    },
    /// The private key is not the one of the first certificate of the chain.
    #[error(
        "the TLS private key in {} does not belong to the first certificate in {} (the \
         server's own certificate must come first, then the certificates that issued it)",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The first certificate could not be parsed.
    #[error("the first certificate in {} cannot be used: {problem}", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// rustls's words.
        problem: String,
    },
}

/// A server identity ready to serve TLS 1.3 and 1.2: the rustls configuration made from a
/// certificate chain and its private key.
///
/// ```no_run
/// use std::path::Path;
/// use kms_server::{ServerConfig, TlsIdentity};
///
/// let tls = TlsIdentity::from_pem_files(Path::new("kms.pem"), Path::new("kms.key"))?;
/// let config = ServerConfig {
///     listen: "0.0.0.0:4599".parse()?,
///     tls: Some(tls),
///     ..Default::default()
/// };
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<rustls::ServerConfig>,
    cert_file: PathBuf,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Reads a PEM certificate chain (the server's certificate first, then its issuers) and
    /// the PEM private key of its first certificate.
    pub fn from_pem_files(cert_file: &Path, key_file: &Path) -> Result<Self, TlsFileError> {
        let chain = read_chain(cert_file)?;
        let key = read_key(key_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring offers suites for TLS 1.3 and 1.2")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => TlsFileError::KeyMismatch {
                    cert: cert_file.to_path_buf(),
                    key: key_file.to_path_buf(),
                },
                rustls::Error::InvalidCertificate(why) => TlsFileError::BadCertificate {
                    path: cert_file.to_path_buf(),
                    problem: format!("it is not a well-formed X.509 certificate ({why:?})"),
                },
                rustls::Error::General(why) => TlsFileError::UnusableKey {
                    path: key_file.to_path_buf(),
                    problem: why,
                },
                other => TlsFileError::UnusableKey {
                    path: key_file.to_path_buf(),
                    problem: other.to_string(),
                },
            })?;
        // Only HTTP/1.1 is served; a client that offers ALPN learns so in the handshake.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            config: Arc::new(config),
            cert_file: cert_file.to_path_buf(),
        })
    }

    /// The acceptor that runs server handshakes with this identity.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config))
    }
}

fn read(what: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsFileError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|problem| TlsFileError::Unreadable {
            what,
            path: path.to_path_buf(),
            problem,
        })
}

fn not_pem(what: &'static str, path: &Path, e: pem::Error) -> TlsFileError {
    TlsFileError::NotPem {
        what,
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read("certificate", path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem("certificate", path, e))?;
    if chain.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = read("private key", path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let encrypted =
                String::from_utf8_lossy(&bytes).contains("-----BEGIN ENCRYPTED PRIVATE KEY-----");
            let path = path.to_path_buf();
            Err(if encrypted {
                TlsFileError::EncryptedKey { path }
            } else {
                TlsFileError::NoPrivateKey { path }
            })
        }
        Err(e) => Err(not_pem("private key", path, e)),
    }
}
