//! Cryptographic operations with symmetric keys: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext and GenerateRandom. Key material never leaves this module's
//! calls into `crypto`; only ciphertexts, data keys and random bytes are returned.

use zeroize::Zeroizing;

use super::*;
use authorization::condition;
use kms_core::types::{DataKeySpec, EncryptionAlgorithm, KeySpec, KeyUsage};
use kms_crypto::asymmetric::OaepHash;
use kms_crypto::{self as crypto, blob, blob::BlobKind};

const MAX_PLAINTEXT: usize = 4096;
const MAX_CIPHERTEXT_BLOB: usize = 6144;
const MAX_DATA_KEY_BYTES: u32 = 1024;
const MAX_RANDOM_BYTES: u32 = 1024;

/// Checks that a requested algorithm (if any) is the one symmetric keys use.
fn require_symmetric_algorithm(
    algorithm: Option<EncryptionAlgorithm>,
) -> KmsResult<EncryptionAlgorithm> {
    match algorithm {
        None | Some(EncryptionAlgorithm::SymmetricDefault) => {
            Ok(EncryptionAlgorithm::SymmetricDefault)
        }
        Some(other) => Err(KmsError::InvalidKeyUsage(format!(
            "Encryption algorithm {other} is not compatible with a SYMMETRIC_DEFAULT key"
        ))),
    }
}

/// A data key made by GenerateDataKey*: the key it is encrypted under, its plaintext and blob.
struct NewDataKey {
    record: KeyRecord,
    plaintext: Zeroizing<Vec<u8>>,
    blob: Vec<u8>,
    material_id: String,
}

/// The outcome of decrypting a blob inside the host.
struct Opened {
    record: KeyRecord,
    plaintext: Zeroizing<Vec<u8>>,
    material_id: String,
    kind: BlobKind,
}

/// Which kinds of blob a decryption accepts; any other answers `InvalidCiphertextException`,
/// exactly as an altered blob does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Ciphertexts and data keys (the AWS API's Decrypt).
    Any,
    /// Only ciphertexts: a guest without `reveal` may not read a data key's bytes.
    CiphertextOnly,
    /// Only data keys: what `data-keys.unwrap` turns into a handle.
    DataKeyOnly,
}

impl Accept {
    fn allows(self, kind: BlobKind) -> bool {
        match self {
            Accept::Any => true,
            Accept::CiphertextOnly => kind == BlobKind::Ciphertext,
            Accept::DataKeyOnly => kind == BlobKind::DataKey,
        }
    }
}

/// How a blob is to be opened: the key the caller expects (if it named one), the action to
/// authorize with the condition keys of the request's parameters, and the kinds of blob
/// accepted.
struct OpenAs<'a> {
    expected_key: Option<&'a str>,
    action: &'a str,
    conditions: &'a [(String, Vec<String>)],
    accept: Accept,
}

/// The algorithm an encryption uses: the one named, or AWS's default, SYMMETRIC_DEFAULT
/// (`kms:EncryptionAlgorithm` holds it whether or not the request names it).
fn algorithm_or_default(algorithm: Option<EncryptionAlgorithm>) -> EncryptionAlgorithm {
    algorithm.unwrap_or(EncryptionAlgorithm::SymmetricDefault)
}

/// The context as the plain pairs policy plugins see.
pub(super) fn context_pairs(context: &EncryptionContext) -> Vec<(String, String)> {
    context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The RSAES-OAEP hash an RSA key is asked to use; SYMMETRIC_DEFAULT or none is refused.
fn require_rsa_algorithm(
    spec: KeySpec,
    algorithm: Option<EncryptionAlgorithm>,
) -> KmsResult<(EncryptionAlgorithm, OaepHash)> {
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithm::SymmetricDefault);
    asymmetric_ops::oaep_hash(algorithm)
        .map(|hash| (algorithm, hash))
        .ok_or_else(|| {
            KmsError::InvalidKeyUsage(format!(
                "Encryption algorithm {algorithm} is not compatible with a {spec} key; use {} or {}",
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256
            ))
        })
}

/// What an RSAES-OAEP decryption needs besides the key.
struct RsaOpen<'a> {
    action: &'a str,
    algorithm: Option<EncryptionAlgorithm>,
    context: &'a EncryptionContext,
    ciphertext: &'a [u8],
    /// The condition keys of the request's parameters for this key.
    conditions: &'a [(String, Vec<String>)],
}

fn refuse_context_for_rsa(context: &EncryptionContext) -> KmsResult<()> {
    if context.is_empty() {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "EncryptionContext",
            "EncryptionContext is not supported with asymmetric KMS keys".into(),
        ))
    }
}

impl Service {
    /// The identifier of one backing-key version's material (empty if the version is gone).
    fn material_id(&self, key_id: &KeyId, version: u32) -> KmsResult<String> {
        Ok(self
            .shared
            .vault
            .store()
            .version(key_id, version)?
            .map(|v| v.material_id)
            .unwrap_or_default())
    }

    /// RSAES-OAEP encryption with the public half of an RSA ENCRYPT_DECRYPT key.
    fn rsa_encrypt(
        &self,
        record: &KeyRecord,
        algorithm: Option<EncryptionAlgorithm>,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> KmsResult<(Vec<u8>, EncryptionAlgorithm)> {
        self.require_enabled(record)?;
        self.require_encrypt_usage(record)?;
        let (algorithm, hash) = require_rsa_algorithm(record.key_spec, algorithm)?;
        refuse_context_for_rsa(context)?;
        let material = self.shared.vault.key_material(
            &record.key_id,
            record.key_spec,
            record.current_version,
        )?;
        Ok((material.oaep_encrypt(hash, plaintext)?, algorithm))
    }

    /// RSAES-OAEP decryption under the RSA key `key`, authorized for `action`.
    fn rsa_open(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        how: RsaOpen<'_>,
    ) -> KmsResult<(KeyRecord, Zeroizing<Vec<u8>>, EncryptionAlgorithm)> {
        let pairs = context_pairs(how.context);
        let facts = RequestFacts {
            context: &pairs,
            alias: request_alias(key),
            conditions: how.conditions,
        };
        let record = self.key_for_facts(caller, note, key, how.action, facts)?;
        self.require_enabled(&record)?;
        self.encryption_with(&record, how.algorithm, how.context)?;
        note.end_dry_run()?;
        let (algorithm, hash) = require_rsa_algorithm(record.key_spec, how.algorithm)?;
        let material = self.shared.vault.key_material(
            &record.key_id,
            record.key_spec,
            record.current_version,
        )?;
        let plaintext = material.oaep_decrypt(hash, how.ciphertext)?;
        Ok((record, plaintext, algorithm))
    }

    /// Decrypt under the RSA key `req` names.
    fn rsa_decrypt(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        req: &DecryptRequest,
    ) -> KmsResult<DecryptResponse> {
        let key = req.key_id.as_deref().unwrap_or_default();
        let conditions = [condition(
            ConditionKey::EncryptionAlgorithm,
            [algorithm_or_default(req.encryption_algorithm)],
        )];
        let (record, plaintext, algorithm) = self.rsa_open(
            caller,
            note,
            key,
            RsaOpen {
                action: "kms:Decrypt",
                algorithm: req.encryption_algorithm,
                context: &req.encryption_context,
                ciphertext: &req.ciphertext_blob,
                conditions: &conditions,
            },
        )?;
        let material_id = self.material_id(&record.key_id, record.current_version)?;
        Ok(DecryptResponse {
            key_id: self.key_arn(&record.key_id),
            plaintext: plaintext.into(),
            encryption_algorithm: algorithm,
            key_material_id: material_id,
        })
    }

    /// The algorithm an encryption under `record` uses, or what the call answers when it cannot:
    /// the key must be for ENCRYPT_DECRYPT, and the algorithm (and a context) fit its spec.
    fn encryption_with(
        &self,
        record: &KeyRecord,
        algorithm: Option<EncryptionAlgorithm>,
        context: &EncryptionContext,
    ) -> KmsResult<EncryptionAlgorithm> {
        self.require_encrypt_usage(record)?;
        if record.key_spec == KeySpec::SymmetricDefault {
            return require_symmetric_algorithm(algorithm);
        }
        let (algorithm, _) = require_rsa_algorithm(record.key_spec, algorithm)?;
        refuse_context_for_rsa(context)?;
        Ok(algorithm)
    }

    /// Data keys and the private keys of data key pairs are encrypted only under
    /// SYMMETRIC_DEFAULT keys.
    pub(super) fn require_data_key_encryption(&self, record: &KeyRecord) -> KmsResult<()> {
        if record.key_spec != KeySpec::SymmetricDefault {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} is a {} key; data keys and data key pairs are encrypted only under SYMMETRIC_DEFAULT keys",
                self.key_arn(&record.key_id),
                record.key_spec
            )));
        }
        self.require_encrypt_usage(record)
    }

    fn require_encrypt_usage(&self, record: &KeyRecord) -> KmsResult<()> {
        if record.key_usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} key usage is {}, not ENCRYPT_DECRYPT",
                self.key_arn(&record.key_id),
                record.key_usage
            )));
        }
        Ok(())
    }

    /// Encrypts under the key's current backing version. Returns the blob and the material id.
    pub(super) fn seal_under(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
        kind: BlobKind,
    ) -> KmsResult<(Vec<u8>, String)> {
        self.require_enabled(record)?;
        self.require_encrypt_usage(record)?;
        if record.xks_key_id.is_some() {
            let blob = self.seal_external(caller, record, kind, plaintext, context)?;
            return Ok((
                blob,
                self.material_id(&record.key_id, record.current_version)?,
            ));
        }
        if record.in_hsm() {
            // Inside the HSM: the blob is the same format, sealed by the token.
            let label = custom_key_stores::token_key_label(&record.key_id, record.current_version);
            let token = self.token_of(record)?;
            let ciphertext = kms_core::blocking::section(|| {
                let key = token.key(&label)?.ok_or_else(|| lost_from_hsm(&label))?;
                blob::seal_with(
                    kind,
                    &record.key_id,
                    record.current_version,
                    &key,
                    plaintext,
                    context,
                )
            })?;
            return Ok((ciphertext, label));
        }
        let ciphertext = self.seal_in_vault(record, kind, plaintext, context)?;
        let material_id = self.material_id(&record.key_id, record.current_version)?;
        Ok((ciphertext, material_id))
    }

    /// A blob sealed under the key's current material in the vault (for a key of an external
    /// key store, the inner layer).
    pub(super) fn seal_in_vault(
        &self,
        record: &KeyRecord,
        kind: BlobKind,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> KmsResult<Vec<u8>> {
        let material = self.shared.vault.key_material(
            &record.key_id,
            KeySpec::SymmetricDefault,
            record.current_version,
        )?;
        blob::seal(
            kind,
            &record.key_id,
            record.current_version,
            material.symmetric()?,
            plaintext,
            context,
        )
    }

    /// Opens a blob sealed under version `version` of the key's material in the vault.
    pub(super) fn open_in_vault(
        &self,
        record: &KeyRecord,
        version: u32,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        let material =
            self.shared
                .vault
                .key_material(&record.key_id, KeySpec::SymmetricDefault, version)?;
        blob::open(ciphertext, material.symmetric()?, context)
    }

    /// Decrypts a blob: resolves the key named in its header, checks `expected_key` if given,
    /// authorizes `action`, and opens it.
    fn open_blob(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        ciphertext: &[u8],
        context: &EncryptionContext,
        how: OpenAs<'_>,
    ) -> KmsResult<Opened> {
        let OpenAs {
            expected_key,
            action,
            conditions,
            accept,
        } = how;
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_BLOB {
            return Err(KmsError::invalid(
                "CiphertextBlob",
                format!("CiphertextBlob must be between 1 and {MAX_CIPHERTEXT_BLOB} bytes"),
            ));
        }
        let header = blob::parse_header(ciphertext)?;
        // A header naming a key that does not exist is just another invalid ciphertext.
        let record = self
            .resolve(&header.key_id.to_string())
            .map_err(|e| match e {
                KmsError::NotFound(_) => KmsError::invalid_ciphertext(),
                other => other,
            })?;
        note.key(self.key_arn(&record.key_id));
        if let Some(expected) = expected_key {
            let expected_id = self.resolve_id(expected)?;
            if expected_id != record.key_id {
                return Err(KmsError::IncorrectKey(format!(
                    "The key ID in the request ({expected}) does not identify the KMS key that was used to encrypt the ciphertext"
                )));
            }
        }
        let pairs = context_pairs(context);
        let facts = RequestFacts {
            context: &pairs,
            alias: expected_key.and_then(request_alias),
            conditions,
        };
        let basis = self.authorize(caller, action, Resource::Key(&record, facts))?;
        note.allowed_by(basis);
        self.require_enabled(&record)?;
        self.require_encrypt_usage(&record)?;
        note.end_dry_run()?;
        if header.version == 0 || header.version > record.current_version {
            return Err(KmsError::invalid_ciphertext());
        }
        let (plaintext, material_id) = if record.xks_key_id.is_some() {
            (
                self.open_external(caller, &record, ciphertext, context)?,
                self.material_id(&record.key_id, header.version)?,
            )
        } else if record.in_hsm() {
            let label = custom_key_stores::token_key_label(&record.key_id, header.version);
            let token = self.token_of(&record)?;
            let plaintext = kms_core::blocking::section(|| {
                let key = token.key(&label)?.ok_or_else(|| lost_from_hsm(&label))?;
                blob::open_with(ciphertext, &key, context)
            })?;
            (plaintext, label)
        } else {
            let plaintext = self.open_in_vault(&record, header.version, ciphertext, context)?;
            (plaintext, self.material_id(&record.key_id, header.version)?)
        };
        // Judged only now that the header is authenticated; refused like any bad blob.
        if !accept.allows(header.kind) {
            return Err(KmsError::invalid_ciphertext());
        }
        Ok(Opened {
            record,
            plaintext,
            material_id,
            kind: header.kind,
        })
    }

    /// Encrypt: up to 4096 bytes directly under a KMS key.
    pub fn encrypt(&self, caller: &Caller, req: EncryptRequest) -> KmsResult<EncryptResponse> {
        self.audited(caller, "Encrypt", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            note.context(&req.encryption_context)?;
            if req.plaintext.is_empty() || req.plaintext.len() > MAX_PLAINTEXT {
                return Err(KmsError::invalid(
                    "Plaintext",
                    format!("Plaintext must be between 1 and {MAX_PLAINTEXT} bytes"),
                ));
            }
            note.condition(
                ConditionKey::EncryptionAlgorithm,
                [algorithm_or_default(req.encryption_algorithm)],
            );
            let record = self.key_to_use(caller, note, &req.key_id, "kms:Encrypt", |r| {
                self.encryption_with(r, req.encryption_algorithm, &req.encryption_context)
                    .map(drop)
            })?;
            if record.key_spec != KeySpec::SymmetricDefault {
                let (ciphertext_blob, encryption_algorithm) = self.rsa_encrypt(
                    &record,
                    req.encryption_algorithm,
                    &req.plaintext,
                    &req.encryption_context,
                )?;
                return Ok(EncryptResponse {
                    ciphertext_blob,
                    key_id: self.key_arn(&record.key_id),
                    encryption_algorithm,
                });
            }
            let algorithm = require_symmetric_algorithm(req.encryption_algorithm)?;
            let (ciphertext_blob, _) = self.seal_under(
                caller,
                &record,
                &req.plaintext,
                &req.encryption_context,
                BlobKind::Ciphertext,
            )?;
            Ok(EncryptResponse {
                ciphertext_blob,
                key_id: self.key_arn(&record.key_id),
                encryption_algorithm: algorithm,
            })
        })
    }

    /// Decrypt: the key comes from the blob; `KeyId`, if given, must match it.
    pub fn decrypt(&self, caller: &Caller, req: DecryptRequest) -> KmsResult<DecryptResponse> {
        self.decrypt_accepting(caller, req, Accept::Any)
    }

    /// Decrypt, answering `InvalidCiphertextException` for blobs of a kind `accept` excludes.
    pub fn decrypt_accepting(
        &self,
        caller: &Caller,
        req: DecryptRequest,
        accept: Accept,
    ) -> KmsResult<DecryptResponse> {
        self.audited(caller, "Decrypt", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            note.context(&req.encryption_context)?;
            // An RSA ciphertext names no key: the caller names it, and only then is it RSA.
            if let Some(key) = req.key_id.as_deref() {
                let record = self.resolve(key)?;
                if record.key_spec != KeySpec::SymmetricDefault {
                    if accept == Accept::DataKeyOnly {
                        return Err(KmsError::invalid_ciphertext());
                    }
                    return self.rsa_decrypt(caller, note, &req);
                }
            }
            let algorithm = require_symmetric_algorithm(req.encryption_algorithm)?;
            let conditions = [condition(ConditionKey::EncryptionAlgorithm, [algorithm])];
            let opened = self.open_blob(
                caller,
                note,
                &req.ciphertext_blob,
                &req.encryption_context,
                OpenAs {
                    expected_key: req.key_id.as_deref(),
                    action: "kms:Decrypt",
                    conditions: &conditions,
                    accept,
                },
            )?;
            Ok(DecryptResponse {
                key_id: self.key_arn(&opened.record.key_id),
                plaintext: opened.plaintext.into(),
                encryption_algorithm: algorithm,
                key_material_id: opened.material_id,
            })
        })
    }

    /// ReEncrypt: decrypts and re-encrypts inside the host; no plaintext is returned.
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        req: ReEncryptRequest,
    ) -> KmsResult<ReEncryptResponse> {
        self.re_encrypt_accepting(caller, req, Accept::Any)
    }

    /// [`re_encrypt`](Self::re_encrypt) for a caller that may not read data keys (a guest
    /// without `reveal`): re-encrypting to an RSA key, whose ciphertexts carry no kind, accepts
    /// only a source blob of the kinds `accept` names, so a data key cannot be laundered into
    /// a ciphertext its holder could decrypt. Refusals are the same `InvalidCiphertextException`
    /// as any undecryptable blob.
    pub fn re_encrypt_accepting(
        &self,
        caller: &Caller,
        req: ReEncryptRequest,
        accept: Accept,
    ) -> KmsResult<ReEncryptResponse> {
        self.audited(caller, "ReEncrypt", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            note.context(&req.destination_encryption_context)?;
            req.source_encryption_context.require_no_empty_pairs()?;
            let destination = self.resolve(&req.destination_key_id)?;
            // The source is an RSA ciphertext when the caller names an RSA source key; a
            // symmetric one names its key in the blob's header.
            let named_source = req
                .source_key_id
                .as_deref()
                .map(|key| self.resolve(key))
                .transpose()?;
            let rsa_source = named_source
                .as_ref()
                .is_some_and(|r| r.key_spec != KeySpec::SymmetricDefault);
            let source_key_id = match named_source {
                Some(record) if rsa_source => Some(record.key_id),
                _ => blob::parse_header(&req.ciphertext_blob)
                    .ok()
                    .map(|h| h.key_id),
            };
            let same_key = source_key_id == Some(destination.key_id);
            let on_same_key = condition(ConditionKey::ReEncryptOnSameKey, [same_key]);
            let to_conditions = [
                condition(
                    ConditionKey::EncryptionAlgorithm,
                    [algorithm_or_default(req.destination_encryption_algorithm)],
                ),
                on_same_key.clone(),
            ];
            let from_conditions = [
                condition(
                    ConditionKey::EncryptionAlgorithm,
                    [algorithm_or_default(req.source_encryption_algorithm)],
                ),
                on_same_key,
            ];
            let destination_pairs = context_pairs(&req.destination_encryption_context);
            let basis = self.authorize(
                caller,
                "kms:ReEncryptTo",
                Resource::Key(
                    &destination,
                    RequestFacts {
                        context: &destination_pairs,
                        alias: request_alias(&req.destination_key_id),
                        conditions: &to_conditions,
                    },
                ),
            )?;
            note.allowed_by(basis);
            if note.dry_run {
                // The dry run ends once the source is opened; it answers for the destination
                // too, which the real call checks only when it seals under it.
                self.require_enabled(&destination)?;
                self.encryption_with(
                    &destination,
                    req.destination_encryption_algorithm,
                    &req.destination_encryption_context,
                )?;
            }
            let (source, plaintext, source_algorithm, kind) = if rsa_source {
                let (record, plaintext, algorithm) = self.rsa_open(
                    caller,
                    note,
                    req.source_key_id.as_deref().unwrap_or_default(),
                    RsaOpen {
                        action: "kms:ReEncryptFrom",
                        algorithm: req.source_encryption_algorithm,
                        context: &req.source_encryption_context,
                        ciphertext: &req.ciphertext_blob,
                        conditions: &from_conditions,
                    },
                )?;
                (record, plaintext, algorithm, BlobKind::Ciphertext)
            } else {
                let algorithm = require_symmetric_algorithm(req.source_encryption_algorithm)?;
                let opened = self.open_blob(
                    caller,
                    note,
                    &req.ciphertext_blob,
                    &req.source_encryption_context,
                    OpenAs {
                        expected_key: req.source_key_id.as_deref(),
                        action: "kms:ReEncryptFrom",
                        conditions: &from_conditions,
                        // A symmetric destination keeps the blob's kind; an RSA one cannot.
                        accept: if destination.key_spec == KeySpec::SymmetricDefault {
                            Accept::Any
                        } else {
                            accept
                        },
                    },
                )?;
                (opened.record, opened.plaintext, algorithm, opened.kind)
            };
            let (ciphertext_blob, destination_algorithm) = if destination.key_spec
                != KeySpec::SymmetricDefault
            {
                self.rsa_encrypt(
                    &destination,
                    req.destination_encryption_algorithm,
                    &plaintext,
                    &req.destination_encryption_context,
                )?
            } else {
                let algorithm = require_symmetric_algorithm(req.destination_encryption_algorithm)?;
                // A data key stays a data key: re-encrypting must not launder it into a
                // ciphertext that guests without `reveal` could decrypt.
                let (blob, _) = self.seal_under(
                    caller,
                    &destination,
                    &plaintext,
                    &req.destination_encryption_context,
                    kind,
                )?;
                (blob, algorithm)
            };
            note.also_used = Some(destination.key_id);
            Ok(ReEncryptResponse {
                ciphertext_blob,
                source_key_id: self.key_arn(&source.key_id),
                key_id: self.key_arn(&destination.key_id),
                source_encryption_algorithm: source_algorithm,
                destination_encryption_algorithm: destination_algorithm,
            })
        })
    }

    /// The shared body of GenerateDataKey and GenerateDataKeyWithoutPlaintext.
    fn new_data_key(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        req: &GenerateDataKeyRequest,
        action: &str,
    ) -> KmsResult<NewDataKey> {
        note.context(&req.encryption_context)?;
        let len = match (req.key_spec, req.number_of_bytes) {
            (Some(spec), None) => spec.byte_len(),
            (None, Some(n)) if (1..=MAX_DATA_KEY_BYTES).contains(&n) => n as usize,
            (None, Some(n)) => {
                return Err(KmsError::invalid(
                    "NumberOfBytes",
                    format!(
                        "NumberOfBytes {n} is out of range; it must be between 1 and {MAX_DATA_KEY_BYTES}"
                    ),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(KmsError::invalid(
                    "KeySpec",
                    "Specify either KeySpec or NumberOfBytes, not both".into(),
                ));
            }
            (None, None) => {
                return Err(KmsError::invalid(
                    "KeySpec",
                    format!(
                        "Specify KeySpec ({} or {}) or NumberOfBytes",
                        DataKeySpec::Aes128,
                        DataKeySpec::Aes256
                    ),
                ));
            }
        };
        note.condition(
            ConditionKey::EncryptionAlgorithm,
            [EncryptionAlgorithm::SymmetricDefault],
        );
        let record = self.key_to_use(caller, note, &req.key_id, action, |r| {
            self.require_data_key_encryption(r)
        })?;
        let data_key = crypto::random_bytes(len)?;
        let (blob, material_id) = self.seal_under(
            caller,
            &record,
            &data_key,
            &req.encryption_context,
            BlobKind::DataKey,
        )?;
        Ok(NewDataKey {
            record,
            plaintext: data_key,
            blob,
            material_id,
        })
    }

    /// GenerateDataKey: a fresh data key, in plaintext and encrypted under the KMS key.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> KmsResult<GenerateDataKeyResponse> {
        self.audited(caller, "GenerateDataKey", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let key = self.new_data_key(caller, note, &req, "kms:GenerateDataKey")?;
            Ok(GenerateDataKeyResponse {
                ciphertext_blob: key.blob,
                plaintext: key.plaintext.into(),
                key_id: self.key_arn(&key.record.key_id),
                key_material_id: key.material_id,
            })
        })
    }

    /// GenerateDataKeyWithoutPlaintext: a fresh data key, only encrypted.
    pub fn generate_data_key_without_plaintext(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> KmsResult<GenerateDataKeyWithoutPlaintextResponse> {
        self.audited(caller, "GenerateDataKeyWithoutPlaintext", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let key =
                self.new_data_key(caller, note, &req, "kms:GenerateDataKeyWithoutPlaintext")?;
            Ok(GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: key.blob,
                key_id: self.key_arn(&key.record.key_id),
                key_material_id: key.material_id,
            })
        })
    }

    /// GenerateRandom: 1–1024 bytes from the host's CSPRNG.
    pub fn generate_random(
        &self,
        caller: &Caller,
        req: GenerateRandomRequest,
    ) -> KmsResult<GenerateRandomResponse> {
        self.audited(caller, "GenerateRandom", |_| {
            // Not about any key: the caller's own account decides.
            self.authorize(caller, "kms:GenerateRandom", Resource::CallerAccount)?;
            let n = req
                .number_of_bytes
                .ok_or_else(|| KmsError::required("NumberOfBytes"))?;
            if !(1..=MAX_RANDOM_BYTES).contains(&n) {
                return Err(KmsError::invalid("NumberOfBytes", format!(
                    "NumberOfBytes {n} is out of range; it must be between 1 and {MAX_RANDOM_BYTES}"
                )));
            }
            Ok(GenerateRandomResponse {
                plaintext: crypto::random_bytes(n as usize)?.into(),
            })
        })
    }
}

/// The error for a key whose material its HSM no longer holds (deleted there by hand).
fn lost_from_hsm(label: &str) -> KmsError {
    KmsError::Internal(format!(
        "The HSM of this key no longer holds its material ({label})"
    ))
}
