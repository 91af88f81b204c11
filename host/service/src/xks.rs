//! External key stores (`EXTERNAL_KEY_STORE`): keys whose second layer of encryption is done by
//! an external key manager through an XKS proxy (AWS's "External Key Store Proxy API"). The
//! service knows the proxy only through [`XksClient`], which the server crate implements over
//! HTTP with SigV4 (service `kms-xks-proxy`) and `kms serve` installs.
//!
//! Encryption is doubled as AWS does it: the plaintext is sealed as an ordinary blob under the
//! KMS key's own material in the vault, and the body of that blob is then encrypted by the proxy
//! under the external key. A blob of such a key is the 34-byte header followed by the proxy's
//! answer (see [`ExternalLayer`]); neither the vault's material nor the external key alone opens
//! it, and the external key manager revokes every use by refusing.

use zeroize::Zeroizing;

use super::*;
use kms_core::error::KeyStoreFault;
use kms_core::types::{KeySpec, Origin};
use kms_crypto::blob::BlobKey;
use kms_vault::CustomKeyStoreRecord;

/// What a request to the proxy says about the KMS call it serves (`requestMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XksRequestMeta {
    /// The caller's principal ARN.
    pub principal: String,
    /// The KMS operation (`Encrypt`, `CreateKey`, `ConnectCustomKeyStore`, …).
    pub operation: String,
    /// The KMS request id.
    pub request_id: String,
    /// The KMS key, for Encrypt and Decrypt.
    pub key_arn: Option<String>,
}

/// A proxy and the credential to sign to it with.
pub struct XksProxy {
    /// `https://host[:port]`, or `http://` on loopback.
    pub uri_endpoint: String,
    /// The path prefix ending in `/kms/xks/v1`.
    pub uri_path: String,
    /// The region the requests are scoped to.
    pub region: String,
    /// The credential's access key id.
    pub access_key_id: String,
    /// The credential's secret.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for XksProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XksProxy")
            .field("uri_endpoint", &self.uri_endpoint)
            .field("uri_path", &self.uri_path)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// An external key as GetKeyMetadata describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XksKeyMetadata {
    /// `AES_256` for a key KMS can use.
    pub key_spec: String,
    /// What the key may do (`ENCRYPT`, `DECRYPT`, …).
    pub key_usage: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub key_status: String,
}

/// The proxy's answer to Encrypt, which Decrypt hands back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalLayer {
    /// The ciphertext (as long as the plaintext).
    pub ciphertext: Vec<u8>,
    /// 12 or 16 bytes.
    pub initialization_vector: Vec<u8>,
    /// 16 bytes.
    pub authentication_tag: Vec<u8>,
    /// The proxy's own data (at most 20 bytes).
    pub ciphertext_metadata: Vec<u8>,
}

/// Why a call to the proxy failed: its `errorName`, or what kept it from answering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XksFailure {
    /// It could not be reached (refused, reset, TLS).
    Unreachable(String),
    /// It did not answer within the timeout.
    TimedOut,
    /// `AuthenticationFailedException`: it refused the signature.
    AuthenticationFailed,
    /// `AccessDeniedException`: its own authorization refused the call.
    AccessDenied,
    /// `KeyNotFoundException`.
    KeyNotFound,
    /// `InvalidStateException`: the external key or the proxy is disabled.
    InvalidState,
    /// `InvalidKeyUsageException`.
    InvalidKeyUsage,
    /// `InvalidCiphertextException`.
    InvalidCiphertext,
    /// `InvalidUriPathException`: no XKS API at that path.
    InvalidUriPath,
    /// `ValidationException`, `UnsupportedOperationException` and the like: it refused the
    /// request as malformed.
    Refused(String),
    /// `ThrottlingException` or `DependencyTimeoutException`.
    Busy(String),
    /// `InternalException`.
    Internal(String),
    /// An answer that is not what the API specifies.
    InvalidResponse(String),
}

impl std::fmt::Display for XksFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XksFailure::Unreachable(why) => write!(f, "the XKS proxy cannot be reached: {why}"),
            XksFailure::TimedOut => f.write_str("the XKS proxy did not answer in time"),
            XksFailure::AuthenticationFailed => {
                f.write_str("the XKS proxy refused the authentication credential")
            }
            XksFailure::AccessDenied => f.write_str("the XKS proxy denied the request"),
            XksFailure::KeyNotFound => f.write_str("the external key manager has no such key"),
            XksFailure::InvalidState => f.write_str("the external key or its proxy is disabled"),
            XksFailure::InvalidKeyUsage => {
                f.write_str("the external key may not be used for this operation")
            }
            XksFailure::InvalidCiphertext => {
                f.write_str("the external key manager could not decrypt the ciphertext")
            }
            XksFailure::InvalidUriPath => f.write_str("the XKS proxy serves no API at that path"),
            XksFailure::Refused(why) => write!(f, "the XKS proxy refused the request: {why}"),
            XksFailure::Busy(why) => write!(f, "the XKS proxy is busy: {why}"),
            XksFailure::Internal(why) => write!(f, "the XKS proxy failed: {why}"),
            XksFailure::InvalidResponse(why) => {
                write!(f, "the XKS proxy's answer cannot be understood: {why}")
            }
        }
    }
}

impl XksFailure {
    /// AWS's `ConnectionErrorCode` when connecting failed so.
    pub fn connection_error_code(&self) -> &'static str {
        match self {
            XksFailure::Unreachable(_) | XksFailure::Busy(_) => "XKS_PROXY_NOT_REACHABLE",
            XksFailure::TimedOut => "XKS_PROXY_TIMED_OUT",
            XksFailure::AuthenticationFailed => "INVALID_CREDENTIALS",
            XksFailure::AccessDenied => "XKS_PROXY_ACCESS_DENIED",
            XksFailure::InvalidUriPath => "XKS_PROXY_INVALID_CONFIGURATION",
            _ => "XKS_PROXY_INVALID_RESPONSE",
        }
    }

    /// The error of CreateCustomKeyStore or UpdateCustomKeyStore, as AWS maps it.
    fn for_store(&self) -> KmsError {
        let fault = match self {
            XksFailure::Unreachable(_) | XksFailure::TimedOut | XksFailure::Busy(_) => {
                KeyStoreFault::XksProxyUriUnreachable
            }
            XksFailure::AuthenticationFailed => {
                KeyStoreFault::XksProxyIncorrectAuthenticationCredential
            }
            XksFailure::InvalidUriPath => KeyStoreFault::XksProxyInvalidConfiguration,
            _ => KeyStoreFault::XksProxyInvalidResponse,
        };
        KmsError::KeyStore(fault, self.to_string())
    }

    /// The error of CreateKey, as AWS maps it.
    fn for_create_key(&self) -> KmsError {
        match self {
            XksFailure::KeyNotFound => {
                KmsError::KeyStore(KeyStoreFault::XksKeyNotFound, self.to_string())
            }
            XksFailure::InvalidState | XksFailure::InvalidKeyUsage => {
                KmsError::KeyStore(KeyStoreFault::XksKeyInvalidConfiguration, self.to_string())
            }
            XksFailure::AccessDenied => KmsError::InvalidState(self.to_string()),
            _ => KmsError::KeyStore(KeyStoreFault::InvalidState, self.to_string()),
        }
    }

    /// The error of a cryptographic operation: always `KMSInvalidStateException`, the cause in
    /// its message.
    fn for_crypto(&self, key_arn: &str) -> KmsError {
        KmsError::InvalidState(format!(
            "{key_arn} is in an external key store and cannot be used now: {self}"
        ))
    }
}

/// The external key manager's side: an XKS proxy client. `kms serve` installs the HTTP one.
pub trait XksClient: Send + Sync {
    /// GetHealthStatus: whether the proxy and its key manager can serve.
    fn health(&self, proxy: &XksProxy, meta: &XksRequestMeta) -> Result<(), XksFailure>;
    /// GetKeyMetadata of the external key `key_id`.
    fn key_metadata(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        meta: &XksRequestMeta,
    ) -> Result<XksKeyMetadata, XksFailure>;
    /// Encrypt under the external key `key_id`, binding `aad`.
    fn encrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        meta: &XksRequestMeta,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<ExternalLayer, XksFailure>;
    /// Decrypt what [`encrypt`](Self::encrypt) answered.
    fn decrypt(
        &self,
        proxy: &XksProxy,
        key_id: &str,
        meta: &XksRequestMeta,
        layer: &ExternalLayer,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, XksFailure>;
}

/// The external layer's bytes after a blob header: `u16 len(ciphertext) || ciphertext ||
/// u8 len(iv) || iv || tag (16) || u8 len(metadata) || metadata`.
fn encode_layer(layer: &ExternalLayer) -> KmsResult<Vec<u8>> {
    let too_long = || KmsError::Internal("The XKS proxy's answer is too long to store".into());
    let mut out = Vec::with_capacity(layer.ciphertext.len() + 64);
    out.extend_from_slice(
        &u16::try_from(layer.ciphertext.len())
            .map_err(|_| too_long())?
            .to_be_bytes(),
    );
    out.extend_from_slice(&layer.ciphertext);
    out.push(u8::try_from(layer.initialization_vector.len()).map_err(|_| too_long())?);
    out.extend_from_slice(&layer.initialization_vector);
    out.extend_from_slice(&layer.authentication_tag);
    out.push(u8::try_from(layer.ciphertext_metadata.len()).map_err(|_| too_long())?);
    out.extend_from_slice(&layer.ciphertext_metadata);
    Ok(out)
}

/// Reads [`encode_layer`]'s bytes back; any malformation is an invalid ciphertext.
fn decode_layer(bytes: &[u8]) -> KmsResult<ExternalLayer> {
    let bad = KmsError::invalid_ciphertext;
    let mut rest = bytes;
    let mut take = |n: usize| -> KmsResult<&[u8]> {
        if rest.len() < n {
            return Err(bad());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let len = u16::from_be_bytes(take(2)?.try_into().map_err(|_| bad())?) as usize;
    let ciphertext = take(len)?.to_vec();
    let iv_len = take(1)?[0] as usize;
    let initialization_vector = take(iv_len)?.to_vec();
    let authentication_tag = take(16)?.to_vec();
    let meta_len = take(1)?[0] as usize;
    let ciphertext_metadata = take(meta_len)?.to_vec();
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(ExternalLayer {
        ciphertext,
        initialization_vector,
        authentication_tag,
        ciphertext_metadata,
    })
}

impl Service {
    /// Installs the client that reaches XKS proxies; without one, external key stores cannot
    /// be created or used.
    pub fn set_xks_client(&self, client: Arc<dyn XksClient>) {
        *self
            .shared
            .xks_client
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    fn xks_client(&self) -> KmsResult<Arc<dyn XksClient>> {
        self.shared
            .xks_client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                KmsError::UnsupportedOperation(
                    "This kms has no XKS proxy client installed (kms serve installs one)".into(),
                )
            })
    }

    /// The proxy of an external key store, with its credential.
    pub(crate) fn xks_proxy(&self, store: &CustomKeyStoreRecord) -> KmsResult<XksProxy> {
        let settings = store.xks.as_ref().ok_or_else(|| {
            KmsError::Internal(format!("Custom key store {} has no XKS proxy", store.id))
        })?;
        let secret = self
            .shared
            .vault
            .open_key_store_secret(store)?
            .ok_or_else(|| {
                KmsError::Internal(format!("Custom key store {} has no credential", store.id))
            })?;
        let secret = String::from_utf8(secret.to_vec()).map_err(|_| {
            KmsError::Internal(format!("The credential of {} is corrupt", store.id))
        })?;
        Ok(XksProxy {
            uri_endpoint: settings.uri_endpoint.clone(),
            uri_path: settings.uri_path.clone(),
            region: store.region.clone(),
            access_key_id: settings.access_key_id.clone(),
            secret: Zeroizing::new(secret),
        })
    }

    fn xks_meta(
        &self,
        caller: &Caller,
        operation: &str,
        key_arn: Option<String>,
    ) -> XksRequestMeta {
        XksRequestMeta {
            principal: caller.principal.clone(),
            operation: operation.to_string(),
            request_id: request_id_of(caller),
            key_arn,
        }
    }

    /// GetHealthStatus for a store being created, updated (an error AWS's way) or connected (a
    /// connection error code).
    pub(crate) fn xks_health(
        &self,
        caller: &Caller,
        operation: &str,
        store: &CustomKeyStoreRecord,
    ) -> Result<(), XksFailure> {
        let client = self
            .xks_client()
            .map_err(|e| XksFailure::Unreachable(e.to_string()))?;
        let proxy = self
            .xks_proxy(store)
            .map_err(|e| XksFailure::Internal(e.to_string()))?;
        let meta = self.xks_meta(caller, operation, None);
        kms_core::blocking::section(|| client.health(&proxy, &meta))
    }

    /// The store-level error of a failed health check (CreateCustomKeyStore,
    /// UpdateCustomKeyStore).
    pub(crate) fn xks_store_error(failure: &XksFailure) -> KmsError {
        failure.for_store()
    }

    /// Checks the external key a new KMS key of `store` would use: GetKeyMetadata must say an
    /// enabled AES-256 key for encryption and decryption, and no other key of the region may
    /// use it.
    pub(crate) fn check_external_key(
        &self,
        caller: &Caller,
        store: &CustomKeyStoreRecord,
        xks_key_id: &str,
    ) -> KmsResult<()> {
        let valid = (1..=128).contains(&xks_key_id.len())
            && xks_key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(KmsError::invalid(
                "XksKeyId",
                format!("XksKeyId '{xks_key_id}' must be 1 to 128 letters, digits or -_."),
            ));
        }
        if self.keys_matching(|k| {
            k.custom_key_store_id.as_deref() == Some(store.id.as_str())
                && k.xks_key_id.as_deref() == Some(xks_key_id)
        })? > 0
        {
            return Err(KmsError::KeyStore(
                KeyStoreFault::XksKeyAlreadyInUse,
                format!(
                    "Another KMS key of {} uses external key {xks_key_id}",
                    store.id
                ),
            ));
        }
        let client = self.xks_client()?;
        let proxy = self.xks_proxy(store)?;
        let meta = self.xks_meta(caller, "CreateKey", None);
        let described =
            kms_core::blocking::section(|| client.key_metadata(&proxy, xks_key_id, &meta))
                .map_err(|f| f.for_create_key())?;
        let usable = described.key_spec == "AES_256"
            && ["ENCRYPT", "DECRYPT"]
                .iter()
                .all(|u| described.key_usage.iter().any(|k| k == u))
            && described.key_status == "ENABLED";
        if !usable {
            return Err(KmsError::KeyStore(
                KeyStoreFault::XksKeyInvalidConfiguration,
                format!(
                    "External key {xks_key_id} is {} {} with usage {:?}; a KMS key needs an \
                     ENABLED AES_256 key for ENCRYPT and DECRYPT",
                    described.key_status, described.key_spec, described.key_usage
                ),
            ));
        }
        Ok(())
    }

    /// Seals `plaintext` under a key of an external key store: the vault's layer, then the
    /// external key manager's.
    pub(crate) fn seal_external(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        kind: kms_crypto::blob::BlobKind,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> KmsResult<Vec<u8>> {
        let key_arn = self.key_arn(&record.key_id);
        let (client, proxy, xks_key_id) = self.external_key_of(record)?;
        let inner = self.seal_in_vault(record, kind, plaintext, context)?;
        let (header, body) = inner.split_at(kms_crypto::blob::HEADER_LEN);
        let meta = self.xks_meta(caller, "Encrypt", Some(key_arn.clone()));
        let layer = kms_core::blocking::section(|| {
            client.encrypt(&proxy, &xks_key_id, &meta, body, header)
        })
        .map_err(|f| f.for_crypto(&key_arn))?;
        if layer.authentication_tag.len() != 16
            || !(layer.initialization_vector.len() == 12 || layer.initialization_vector.len() == 16)
            || layer.ciphertext_metadata.len() > 20
            || layer.ciphertext.len() != body.len()
        {
            return Err(XksFailure::InvalidResponse(
                "Encrypt answered a ciphertext, IV, tag or metadata of the wrong size".into(),
            )
            .for_crypto(&key_arn));
        }
        let mut blob = header.to_vec();
        blob.extend_from_slice(&encode_layer(&layer)?);
        Ok(blob)
    }

    /// Opens a blob of a key of an external key store: the external key manager's layer, then
    /// the vault's.
    pub(crate) fn open_external(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        let header = kms_crypto::blob::parse_header(blob)?;
        let (head, rest) = blob.split_at(kms_crypto::blob::HEADER_LEN);
        let layer = decode_layer(rest)?;
        let key_arn = self.key_arn(&record.key_id);
        let (client, proxy, xks_key_id) = self.external_key_of(record)?;
        let meta = self.xks_meta(caller, "Decrypt", Some(key_arn.clone()));
        let body = kms_core::blocking::section(|| {
            client.decrypt(&proxy, &xks_key_id, &meta, &layer, head)
        })
        .map_err(|f| f.for_crypto(&key_arn))?;
        let mut inner = head.to_vec();
        inner.extend_from_slice(&body);
        self.open_in_vault(record, header.version, &inner, context)
    }

    /// The client, proxy and external key id of a key in a connected external key store.
    fn external_key_of(
        &self,
        record: &KeyRecord,
    ) -> KmsResult<(Arc<dyn XksClient>, XksProxy, String)> {
        let store = self.connected_store_of(record)?;
        let xks_key_id = record.xks_key_id.clone().ok_or_else(|| {
            KmsError::Internal(format!("{} has no external key id", record.key_id))
        })?;
        Ok((self.xks_client()?, self.xks_proxy(&store)?, xks_key_id))
    }
}

/// The spec's recommended data for the key manager to authenticate: the request's AAD and the
/// ciphertext metadata, each after its length.
fn proxy_aad(aad: &[u8], metadata: &[u8]) -> KmsResult<Vec<u8>> {
    let too_long = || KmsError::invalid("additionalAuthenticatedData", "too long".into());
    let mut out = Vec::with_capacity(aad.len() + metadata.len() + 3);
    out.extend_from_slice(
        &u16::try_from(aad.len())
            .map_err(|_| too_long())?
            .to_be_bytes(),
    );
    out.extend_from_slice(aad);
    out.push(u8::try_from(metadata.len()).map_err(|_| too_long())?);
    out.extend_from_slice(metadata);
    Ok(out)
}

impl Service {
    /// The proxy side (`kms xks-proxy`): a key of this vault as an external key manager's key.
    /// GetKeyMetadata answers what a KMS key's CreateKey checks.
    pub fn external_key_metadata(&self, caller: &Caller, key: &str) -> KmsResult<XksKeyMetadata> {
        self.audited(caller, "XksProxyGetKeyMetadata", |note| {
            let record = self.key_for(caller, note, key, "kms:DescribeKey")?;
            let usable = record.key_spec == KeySpec::SymmetricDefault
                && matches!(record.origin, Origin::AwsKms | Origin::AwsCloudhsm)
                && record.key_usage == kms_core::types::KeyUsage::EncryptDecrypt;
            Ok(XksKeyMetadata {
                key_spec: if usable { "AES_256" } else { "OTHER" }.into(),
                key_usage: if usable {
                    vec!["ENCRYPT".into(), "DECRYPT".into()]
                } else {
                    Vec::new()
                },
                key_status: if record.state == KeyState::Enabled {
                    "ENABLED"
                } else {
                    "DISABLED"
                }
                .into(),
            })
        })
    }

    /// The proxy side: AES-256-GCM of `plaintext` under the key's current material, binding
    /// `aad`; the ciphertext metadata names the material's version.
    pub fn external_key_encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        aad: &[u8],
    ) -> KmsResult<ExternalLayer> {
        self.audited(caller, "XksProxyEncrypt", |note| {
            let record = self.key_for(caller, note, key, "kms:Encrypt")?;
            self.require_proxy_key(&record)?;
            let version = record.current_version;
            let metadata = version.to_be_bytes().to_vec();
            let mut nonce = [0u8; kms_crypto::NONCE_LEN];
            kms_crypto::fill_random(&mut nonce)?;
            let aad = proxy_aad(aad, &metadata)?;
            let sealed = self.with_proxy_key(&record, version, |key| {
                key.seal_gcm(&nonce, &aad, plaintext)
            })?;
            let (ciphertext, tag) = sealed.split_at(sealed.len() - kms_crypto::TAG_LEN);
            Ok(ExternalLayer {
                ciphertext: ciphertext.to_vec(),
                initialization_vector: nonce.to_vec(),
                authentication_tag: tag.to_vec(),
                ciphertext_metadata: metadata,
            })
        })
    }

    /// Runs `f` with the AES-256-GCM key of one version of a key this proxy serves: the vault's
    /// material, or the key inside its HSM for a key of an HSM key store (the proxy then backed
    /// by a PKCS#11 token).
    fn with_proxy_key<T>(
        &self,
        record: &KeyRecord,
        version: u32,
        f: impl FnOnce(&dyn BlobKey) -> KmsResult<T>,
    ) -> KmsResult<T> {
        if record.in_hsm() {
            let token = self.token_of(record)?;
            let label = crate::custom_key_stores::token_key_label(&record.key_id, version);
            return kms_core::blocking::section(|| {
                let key = token.key(&label)?.ok_or_else(|| {
                    KmsError::Internal(format!("The HSM no longer holds {label}"))
                })?;
                f(&key)
            });
        }
        let material =
            self.shared
                .vault
                .key_material(&record.key_id, KeySpec::SymmetricDefault, version)?;
        f(material.symmetric()?)
    }

    /// The proxy side: the reverse of [`external_key_encrypt`](Self::external_key_encrypt).
    pub fn external_key_decrypt(
        &self,
        caller: &Caller,
        key: &str,
        layer: &ExternalLayer,
        aad: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.audited(caller, "XksProxyDecrypt", |note| {
            let record = self.key_for(caller, note, key, "kms:Decrypt")?;
            self.require_proxy_key(&record)?;
            let version = <[u8; 4]>::try_from(layer.ciphertext_metadata.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| KmsError::invalid_ciphertext())?;
            if version == 0
                || version > record.current_version
                || layer.initialization_vector.len() != kms_crypto::NONCE_LEN
            {
                return Err(KmsError::invalid_ciphertext());
            }
            let nonce: [u8; kms_crypto::NONCE_LEN] = layer
                .initialization_vector
                .as_slice()
                .try_into()
                .map_err(|_| KmsError::invalid_ciphertext())?;
            let mut sealed = layer.ciphertext.clone();
            sealed.extend_from_slice(&layer.authentication_tag);
            let aad = proxy_aad(aad, &layer.ciphertext_metadata)?;
            self.with_proxy_key(&record, version, |key| key.open_gcm(&nonce, &aad, &sealed))
        })
    }

    /// A key this vault may serve as an external key: enabled, symmetric, its material in the
    /// vault or in an HSM key store's token.
    fn require_proxy_key(&self, record: &KeyRecord) -> KmsResult<()> {
        self.require_enabled(record)?;
        if record.key_spec != KeySpec::SymmetricDefault
            || !matches!(record.origin, Origin::AwsKms | Origin::AwsCloudhsm)
            || record.key_usage != kms_core::types::KeyUsage::EncryptDecrypt
        {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} is not an AES-256 key for encryption this proxy can serve",
                self.key_arn(&record.key_id)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_external_layer_reads_back_and_refuses_any_malformation() {
        let layer = ExternalLayer {
            ciphertext: vec![1; 40],
            initialization_vector: vec![2; 12],
            authentication_tag: vec![3; 16],
            ciphertext_metadata: b"v1".to_vec(),
        };
        let bytes = encode_layer(&layer).unwrap();
        assert_eq!(decode_layer(&bytes).unwrap(), layer);
        for cut in 0..bytes.len() {
            assert!(decode_layer(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_layer(&longer).is_err());
    }
}
