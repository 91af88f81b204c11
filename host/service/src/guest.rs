//! What the component runtime asks of the façade besides the public operations: opening a key
//! handle, finding the key a ciphertext names, data keys held in the host for a guest (sealing,
//! opening and revealing them) and the audit records of refusals the runtime makes itself.
//! Capability sets belong to the runtime, which passes its verdict in; the façade resolves,
//! authorizes, runs the cryptography and audits.

use super::*;
use kms_core::types::{KeyUsage, Tag};
use kms_crypto::{DataKeyCipher, blob};

/// Longest reason a guest refusal's audit record keeps, in bytes: a guest chooses the names it
/// asks for, and the audit trail must not echo kilobytes of them.
pub const MAX_REFUSAL_REASON_BYTES: usize = 256;

/// The refusals of one guest instance and how many of them the audit trail records one by one.
/// Past [`max_individual`](Self::new), refusals are only counted, and
/// [`Service::record_suppressed_refusals`] writes one record with the count when the instance
/// ends: a guest cannot fill the audit trail by asking for what it may not have.
#[derive(Debug)]
pub struct GuestRefusals {
    max_individual: u32,
    audited: u32,
    suppressed: u64,
}

impl GuestRefusals {
    /// Records the first `max_individual` refusals one by one, then counts the rest.
    pub fn new(max_individual: u32) -> Self {
        GuestRefusals {
            max_individual,
            audited: 0,
            suppressed: 0,
        }
    }

    /// Refusals counted but not yet recorded.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Whether the next refusal gets its own record; if not, it is counted.
    fn individual(&mut self) -> bool {
        if self.audited < self.max_individual {
            self.audited += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary, marked when cut.
fn truncated(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

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
    /// The encryption context the data key was generated or unwrapped under: revealing it is
    /// authorized under the same context.
    context: EncryptionContext,
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
    fn new(
        key_id: KeyId,
        context: EncryptionContext,
        plaintext: SecretBytes,
        wrapped: Vec<u8>,
    ) -> Self {
        let cipher = DataKeyCipher::new(&plaintext);
        DataKey {
            key_id,
            context,
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
    /// service (a capability denial, a handle limit), or counts it once the instance has had
    /// its individually recorded refusals.
    pub fn record_refusal(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
        operation: &str,
        key_arn: Option<String>,
        error: &KmsError,
    ) -> KmsResult<()> {
        let reason = || error.message().to_string();
        self.record_guest_refusal(caller, refusals, operation, key_arn, error, reason)
    }

    /// Writes one record counting the refusals of a guest instance that were not recorded one
    /// by one (nothing if there were none); called when the instance ends.
    pub fn record_suppressed_refusals(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
    ) -> KmsResult<()> {
        let count = std::mem::take(&mut refusals.suppressed);
        if count == 0 {
            return Ok(());
        }
        self.record_outcome(
            caller,
            "GuestRefusals",
            None,
            "RefusalsCounted",
            Some(format!(
                "{count} more refusals of this instance were counted, not recorded one by one \
                 (its first {} were)",
                refusals.max_individual
            )),
        )
    }

    /// The record of a refusal, with `reason` cut to [`MAX_REFUSAL_REASON_BYTES`], if the
    /// instance has individual records left; otherwise only counted.
    fn record_guest_refusal(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
        operation: &str,
        key_arn: Option<String>,
        error: &KmsError,
        reason: impl FnOnce() -> String,
    ) -> KmsResult<()> {
        if !refusals.individual() {
            return Ok(());
        }
        let reason = truncated(&reason(), MAX_REFUSAL_REASON_BYTES);
        self.record_outcome(caller, operation, key_arn, error.aws_type(), Some(reason))
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

    /// What a capability set is matched against for the key `name` names, looked up with the
    /// same store reads in the same order whether that key exists or not: an alias name's
    /// alias, the key record only if `needs_tags` (tag selectors), then the key's aliases — of
    /// a key id no key has when the name resolves to none. `None` beside the facts when the
    /// name is known to name no key; a key is known to exist only when its record was read.
    fn probe_key(&self, name: &str, needs_tags: bool) -> KmsResult<(Option<KeyId>, KeyFacts)> {
        let reference = KeyReference::parse(name)?;
        let elsewhere = reference.arn().is_some_and(|arn| {
            arn.region() != self.region.as_str() || arn.account() != self.shared.vault.account()
        });
        let key_id = match reference.target()? {
            KeyTarget::Key(id) => Some(id),
            KeyTarget::Alias(alias) => self
                .shared
                .vault
                .store()
                .alias(&self.region, alias)?
                .map(|a| a.key_id),
        };
        self.probe_key_id(key_id.filter(|_| !elsewhere), needs_tags)
    }

    /// [`probe_key`](Self::probe_key) by key id; `None` probes a key id no key has.
    fn probe_key_id(
        &self,
        key_id: Option<KeyId>,
        needs_tags: bool,
    ) -> KmsResult<(Option<KeyId>, KeyFacts)> {
        let probe = key_id.unwrap_or_else(|| KeyId::from_bytes([0; 16], false));
        let store = self.shared.vault.store();
        let record = match needs_tags {
            true => store.key(&self.region, &probe)?,
            false => None,
        };
        let aliases = store.aliases_after(&self.region, None, Some(&probe), 1000)?;
        let exists = key_id.filter(|_| !needs_tags || record.is_some());
        let facts = KeyFacts {
            arn: self.key_arn(&probe),
            key_id: probe,
            aliases: aliases.into_iter().map(|a| a.name).collect(),
            tags: record.map(|r| r.tags).unwrap_or_default(),
            // Capability sets do not select by usage; the facts handed out after admission are
            // read whole.
            usage: KeyUsage::EncryptDecrypt,
        };
        Ok((exists, facts))
    }

    /// Opens a key for a guest (`keys.open`): looks `name` up, asks `admit` (the runtime's
    /// capability set and handle limit; `needs_tags` when it selects keys by tag) and audits an
    /// `OpenKey` record either way (refusals through `refusals`). A key that does not exist and
    /// one outside the capability set both answer `NotFound` naming only what the guest asked
    /// for, after the same store reads and the same capability match; the audit record says
    /// which it was. Only an admitted key's record is read whole.
    pub fn open_key(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
        name: &str,
        needs_tags: bool,
        admit: impl FnOnce(&KeyFacts) -> Admission,
    ) -> KmsResult<KeyFacts> {
        let not_found = || KmsError::key_not_found(name);
        let (exists, facts) = match self.probe_key(name, needs_tags) {
            Ok(probed) => probed,
            Err(error) => {
                let error = match error {
                    invalid @ KmsError::Validation(_) => invalid,
                    _ => not_found(),
                };
                let reason = error.message().to_string();
                return self.refused(caller, refusals, "OpenKey", None, error, || reason);
            }
        };
        let verdict = admit(&facts);
        let Some(key_id) = exists else {
            let reason = || format!("{name} does not exist");
            return self.refused(caller, refusals, "OpenKey", None, not_found(), reason);
        };
        match verdict {
            Admission::Admit => {}
            Admission::OutsideCapability => {
                let arn = facts.arn;
                let reason = || format!("{arn} is outside this component's capability set");
                let recorded = Some(arn.clone());
                return self.refused(caller, refusals, "OpenKey", recorded, not_found(), reason);
            }
            Admission::Refuse(error) => {
                let reason = error.message().to_string();
                let arn = Some(facts.arn);
                return self.refused(caller, refusals, "OpenKey", arn, error, || reason);
            }
        }
        match self.key_facts(&key_id.to_string()) {
            Ok(facts) => {
                self.record_guest_event(caller, "OpenKey", Some(facts.arn.clone()), None)?;
                Ok(facts)
            }
            Err(_) => {
                let reason = || format!("{name} does not exist");
                self.refused(caller, refusals, "OpenKey", None, not_found(), reason)
            }
        }
    }

    /// Refuses `keys.open` of `name` for a guest whose capability set grants no key at all:
    /// before any store read, alike for every name (only a malformed name answers otherwise).
    pub fn refuse_open(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
        name: &str,
    ) -> KmsResult<KeyFacts> {
        let error = match KeyReference::parse(name) {
            Err(invalid @ KmsError::Validation(_)) => invalid,
            _ => KmsError::key_not_found(name),
        };
        let reason = format!(
            "{}: this component's capability set grants no key",
            error.message()
        );
        self.refused(caller, refusals, "OpenKey", None, error, || reason)
    }

    /// The key a ciphertext names, for a guest about to decrypt or re-encrypt it under
    /// `operation`, if `admit` (the runtime's capability set; `needs_tags` when it selects keys
    /// by tag) allows; otherwise the same `InvalidCiphertextException` as any undecryptable
    /// blob, with the reason (`admit`'s, or why the blob names no usable key) in the audit
    /// record only. Nothing is decrypted and no key is used before `admit` agrees, and a
    /// ciphertext of a key outside the capability costs the same store reads and capability
    /// match as one of a key that does not exist.
    pub fn ciphertext_key(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
        operation: &str,
        ciphertext: &[u8],
        needs_tags: bool,
        admit: impl FnOnce(&KeyFacts) -> Result<(), String>,
    ) -> KmsResult<KeyFacts> {
        let mut invalid = |arn: Option<String>, why: &dyn Fn() -> String| {
            let error = KmsError::invalid_ciphertext();
            self.refused(caller, refusals, operation, arn, error, why)
        };
        let Ok(header) = blob::parse_header(ciphertext) else {
            return invalid(None, &|| "the ciphertext is malformed".into());
        };
        let (exists, facts) = match self.probe_key_id(Some(header.key_id), needs_tags) {
            Ok(probed) => probed,
            Err(e) => return invalid(None, &|| format!("the ciphertext's key: {e}")),
        };
        let verdict = admit(&facts);
        let missing = || format!("the ciphertext's key {} does not exist", header.key_id);
        if exists.is_none() {
            return invalid(None, &missing);
        }
        if let Err(why) = verdict {
            return invalid(Some(facts.arn), &|| why.clone());
        }
        match self.key_facts(&header.key_id.to_string()) {
            Ok(facts) => Ok(facts),
            Err(_) => invalid(None, &missing),
        }
    }

    /// GenerateDataKey whose plaintext stays in the host, as a [`DataKey`] a guest holds a
    /// handle to (`data-keys.generate`).
    pub fn generate_data_key_held(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> KmsResult<DataKey> {
        let context = req.encryption_context.clone();
        let response = self.generate_data_key(caller, req)?;
        Ok(DataKey::new(
            self.resolve_id(&response.key_id)?,
            context,
            response.plaintext,
            response.ciphertext_blob,
        ))
    }

    /// Decrypt of a wrapped data key (and only of a data key) into a [`DataKey`] held in the
    /// host (`data-keys.unwrap`).
    pub fn unwrap_data_key(&self, caller: &Caller, req: DecryptRequest) -> KmsResult<DataKey> {
        let wrapped = req.ciphertext_blob.clone();
        let context = req.encryption_context.clone();
        let response = self.decrypt_accepting(caller, req, Accept::DataKeyOnly)?;
        Ok(DataKey::new(
            self.resolve_id(&response.key_id)?,
            context,
            response.plaintext,
            wrapped,
        ))
    }

    /// The plaintext of a data key held for a guest (`reveal.export-plaintext`), if its
    /// capability set includes reveal (`capability_allows`) and `caller` may
    /// `kms:GenerateDataKey` on the data key's KMS key under the encryption context the data key
    /// was generated or unwrapped under (key policy and grant conditions on the context, grant
    /// constraints, plugins). Audited as `RevealDataKey` either way, with that context.
    pub fn reveal_data_key(
        &self,
        caller: &Caller,
        data_key: &DataKey,
        capability_allows: bool,
    ) -> KmsResult<SecretBytes> {
        let arn = self.key_arn(&data_key.key_id);
        let context = crypto_ops::context_pairs(&data_key.context);
        let outcome = if capability_allows {
            self.resolve(&data_key.key_id.to_string())
                .and_then(|record| {
                    let facts = RequestFacts {
                        context: &context,
                        ..RequestFacts::default()
                    };
                    self.authorize(caller, "kms:GenerateDataKey", Resource::Key(&record, facts))
                })
        } else {
            Err(KmsError::AccessDenied(
                "This component's capability set does not include reveal".into(),
            ))
        };
        let note = AuditNote {
            key_arn: Some(arn),
            encryption_context: Some(context),
            ..AuditNote::default()
        };
        self.record(caller, "RevealDataKey", note, outcome.as_ref().err())?;
        outcome.map(|_| data_key.plaintext.clone())
    }

    /// Audits (or counts) a refusal whose audit record says more (`reason`) than the error the
    /// guest gets; a failure to audit becomes the error.
    fn refused<T>(
        &self,
        caller: &Caller,
        refusals: &mut GuestRefusals,
        operation: &str,
        key_arn: Option<String>,
        error: KmsError,
        reason: impl FnOnce() -> String,
    ) -> KmsResult<T> {
        self.record_guest_refusal(caller, refusals, operation, key_arn, &error, reason)?;
        Err(error)
    }
}
