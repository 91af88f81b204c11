//! What the component runtime asks of the façade besides the public operations: opening a key
//! handle, finding the key a ciphertext names, data keys held in the host for a guest (sealing,
//! opening and revealing them) and the audit records of refusals the runtime makes itself.
//! Capability sets belong to the runtime, which passes its verdict in; the façade resolves,
//! authorizes, runs the cryptography and audits.

use super::*;
use kms_core::types::{KeyUsage, Tag};
use kms_crypto::{DataKeyCipher, blob};

/// What the component runtime may know about a key to match it against a capability set: its
/// identity, names, tags and state. Never its material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key id.
    pub key_id: KeyId,
    /// The key ARN.
    pub arn: String,
    /// Every alias pointing at the key.
    pub aliases: Vec<String>,
    /// The key's tags.
    pub tags: Vec<Tag>,
    /// The key's usage.
    pub usage: KeyUsage,
}

/// The runtime's verdict on opening a key, given the key's facts.
#[derive(Debug)]
pub enum Admission {
    /// The capability set allows something on the key, and a handle slot is free.
    Admit,
    /// The capability set allows nothing on the key: answered exactly as a key that does not
    /// exist, so that a guest cannot probe for keys.
    OutsideCapability,
    /// Refused for another reason (a handle limit), with this error.
    Refuse(KmsError),
}

/// A data key held in the host for a guest: the guest holds a handle, the plaintext stays here
/// and is zeroized when this is dropped. Sealing and opening with it happen here too.
pub struct DataKey {
    key_id: KeyId,
    plaintext: SecretBytes,
    cipher: KmsResult<DataKeyCipher>,
    wrapped: Vec<u8>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.key_id)
            .field("len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

impl DataKey {
    fn new(key_id: KeyId, plaintext: SecretBytes, wrapped: Vec<u8>) -> Self {
        let cipher = DataKeyCipher::new(&plaintext);
        DataKey {
            key_id,
            plaintext,
            cipher,
            wrapped,
        }
    }

    /// The KMS key the data key is encrypted under.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The data key encrypted under its KMS key: what a guest stores beside its data.
    pub fn wrapped(&self) -> &[u8] {
        &self.wrapped
    }

    /// AES-GCM under the data key with a fresh nonce: `nonce || ciphertext || tag`.
    /// `InvalidKeyUsage` for a data key whose length AES cannot use.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> KmsResult<Vec<u8>> {
        match &self.cipher {
            Ok(cipher) => cipher.seal(plaintext, aad),
            Err(e) => Err(e.clone()),
        }
    }

    /// Opens what [`seal`](Self::seal) produced; every failure is the same invalid ciphertext.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> KmsResult<SecretBytes> {
        match &self.cipher {
            Ok(cipher) => cipher.open(sealed, aad).map(Into::into),
            Err(e) => Err(e.clone()),
        }
    }
}

impl Service {
    /// Writes one audit record with a free-form outcome (plugin verdicts, guest traps, opened
    /// handles): events that are not an operation's own record.
    pub fn record_outcome(
        &self,
        caller: &Caller,
        operation: &str,
        key_arn: Option<String>,
        outcome: &str,
        message: Option<String>,
    ) -> KmsResult<()> {
        let note = AuditNote {
            key_arn,
            ..AuditNote::default()
        };
        self.append_event(caller, operation, note, outcome, message)
    }

    /// Writes the audit record of an operation that the runtime refused before reaching the
    /// service (a capability denial, a handle limit).
    pub fn record_refusal(
        &self,
        caller: &Caller,
        operation: &str,
        key_arn: Option<String>,
        error: &KmsError,
    ) -> KmsResult<()> {
        self.record_guest_event(caller, operation, key_arn, Some(error))
    }

    /// The audit record of a guest event (an opened handle, a revealed data key) that failed
    /// with `error`, or succeeded without one.
    fn record_guest_event(
        &self,
        caller: &Caller,
        operation: &str,
        key_arn: Option<String>,
        error: Option<&KmsError>,
    ) -> KmsResult<()> {
        let note = AuditNote {
            key_arn,
            ..AuditNote::default()
        };
        self.record(caller, operation, note, error)
    }

    /// Identity, names, tags and usage of a key, for capability matching. Not audited and not
    /// authorized: the runtime audits the open, and every operation on the key authorizes.
    pub fn key_facts(&self, key: &str) -> KmsResult<KeyFacts> {
        let record = self.resolve(key)?;
        let aliases = self
            .shared
            .vault
            .store()
            .aliases_after(&self.region, None, Some(&record.key_id), 1000)?
            .into_iter()
            .map(|a| a.name)
            .collect();
        Ok(KeyFacts {
            arn: self.key_arn(&record.key_id),
            key_id: record.key_id,
            aliases,
            tags: record.tags,
            usage: record.key_usage,
        })
    }

    /// Opens a key for a guest (`keys.open`): resolves `name`, asks `admit` (the runtime's
    /// capability set and handle limit) and audits an `OpenKey` record either way. A key that
    /// does not exist and one outside the capability set both answer `NotFound` naming only
    /// what the guest asked for; the audit record says which it was.
    pub fn open_key(
        &self,
        caller: &Caller,
        name: &str,
        admit: impl FnOnce(&KeyFacts) -> Admission,
    ) -> KmsResult<KeyFacts> {
        let not_found = || KmsError::key_not_found(name);
        let facts = match self.key_facts(name) {
            Ok(facts) => facts,
            Err(error) => {
                let error = match error {
                    invalid @ KmsError::Validation(_) => invalid,
                    _ => not_found(),
                };
                let reason = error.message().to_string();
                return self.guest_refusal(caller, "OpenKey", None, error, reason);
            }
        };
        let outcome = match admit(&facts) {
            Admission::Admit => Ok(()),
            Admission::OutsideCapability => {
                let reason = format!("{} is outside this component's capability set", facts.arn);
                return self.guest_refusal(caller, "OpenKey", Some(facts.arn), not_found(), reason);
            }
            Admission::Refuse(error) => Err(error),
        };
        self.record_guest_event(
            caller,
            "OpenKey",
            Some(facts.arn.clone()),
            outcome.as_ref().err(),
        )?;
        outcome.map(|()| facts)
    }

    /// The key a ciphertext names, for a guest about to decrypt or re-encrypt it under
    /// `operation`, if `admit` (the runtime's capability set) allows; otherwise the same
    /// `InvalidCiphertextException` as any undecryptable blob, with the reason (`admit`'s, or
    /// why the blob names no usable key) in the audit record only.
    pub fn ciphertext_key(
        &self,
        caller: &Caller,
        operation: &str,
        ciphertext: &[u8],
        admit: impl FnOnce(&KeyFacts) -> Result<(), String>,
    ) -> KmsResult<KeyFacts> {
        let invalid = |arn: Option<String>, why: String| {
            self.guest_refusal(caller, operation, arn, KmsError::invalid_ciphertext(), why)
        };
        let Ok(header) = blob::parse_header(ciphertext) else {
            return invalid(None, "the ciphertext is malformed".into());
        };
        let facts = match self.key_facts(&header.key_id.to_string()) {
            Ok(facts) => facts,
            Err(e) => return invalid(None, format!("the ciphertext's key: {e}")),
        };
        match admit(&facts) {
            Ok(()) => Ok(facts),
            Err(why) => invalid(Some(facts.arn), why),
        }
    }

    /// GenerateDataKey whose plaintext stays in the host, as a [`DataKey`] a guest holds a
    /// handle to (`data-keys.generate`).
    pub fn generate_data_key_held(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> KmsResult<DataKey> {
        let response = self.generate_data_key(caller, req)?;
        Ok(DataKey::new(
            self.resolve_id(&response.key_id)?,
            response.plaintext,
            response.ciphertext_blob,
        ))
    }

    /// Decrypt of a wrapped data key (and only of a data key) into a [`DataKey`] held in the
    /// host (`data-keys.unwrap`).
    pub fn unwrap_data_key(&self, caller: &Caller, req: DecryptRequest) -> KmsResult<DataKey> {
        let wrapped = req.ciphertext_blob.clone();
        let response = self.decrypt_accepting(caller, req, Accept::DataKeyOnly)?;
        Ok(DataKey::new(
            self.resolve_id(&response.key_id)?,
            response.plaintext,
            wrapped,
        ))
    }

    /// The plaintext of a data key held for a guest (`reveal.export-plaintext`), if its
    /// capability set includes reveal (`capability_allows`) and `caller` may
    /// `kms:GenerateDataKey` on the data key's KMS key, plugins included. Audited as
    /// `RevealDataKey` either way.
    pub fn reveal_data_key(
        &self,
        caller: &Caller,
        data_key: &DataKey,
        capability_allows: bool,
    ) -> KmsResult<SecretBytes> {
        let arn = self.key_arn(&data_key.key_id);
        let outcome = if capability_allows {
            self.resolve(&data_key.key_id.to_string())
                .and_then(|record| {
                    self.authorize(
                        caller,
                        "kms:GenerateDataKey",
                        Resource::Key(&record, RequestFacts::default()),
                    )
                })
        } else {
            Err(KmsError::AccessDenied(
                "This component's capability set does not include reveal".into(),
            ))
        };
        self.record_guest_event(caller, "RevealDataKey", Some(arn), outcome.as_ref().err())?;
        outcome.map(|_| data_key.plaintext.clone())
    }

    /// Audits a refusal whose audit record says more (`reason`) than the error the guest gets;
    /// a failure to audit becomes the error.
    fn guest_refusal<T>(
        &self,
        caller: &Caller,
        operation: &str,
        key_arn: Option<String>,
        error: KmsError,
        reason: String,
    ) -> KmsResult<T> {
        self.record_outcome(caller, operation, key_arn, error.aws_type(), Some(reason))?;
        Err(error)
    }
}
