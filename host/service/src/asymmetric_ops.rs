//! Operations with key pairs and MAC keys: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac,
//! DeriveSharedSecret, GenerateDataKeyPair(WithoutPlaintext), and RSAES-OAEP for Encrypt and
//! Decrypt under RSA keys. Private keys never leave the host; data key pairs do, as AWS returns
//! them.

use serde::{Deserialize, Serialize};

use super::*;
use kms_core::types::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, EncryptionAlgorithm, KeyAgreementAlgorithmSpec,
    KeySpec, KeyUsage, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use kms_crypto::asymmetric::{self, KeyMaterial, OaepHash};
use kms_crypto::blob::BlobKind;

use super::api::{SecretBytes, b64};

/// The largest RAW message Sign, Verify, GenerateMac and VerifyMac take.
const MAX_MESSAGE: usize = 4096;

/// Sign.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignRequest {
    /// The SIGN_VERIFY key.
    pub key_id: String,
    /// The message (RAW, up to 4096 bytes), its digest (DIGEST) or an ML-DSA mu (EXTERNAL_MU).
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// How to read `message`; RAW by default.
    #[serde(default)]
    pub message_type: Option<MessageType>,
    /// Must suit the key.
    pub signing_algorithm: Option<SigningAlgorithmSpec>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Sign's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    /// The key ARN.
    pub key_id: String,
    /// The signature (DER for ECDSA).
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// The algorithm used.
    pub signing_algorithm: SigningAlgorithmSpec,
}

/// Verify.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyRequest {
    /// The SIGN_VERIFY key.
    pub key_id: String,
    /// As for Sign.
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// RAW by default.
    #[serde(default)]
    pub message_type: Option<MessageType>,
    /// The signature to check.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// Must suit the key.
    pub signing_algorithm: Option<SigningAlgorithmSpec>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Verify's response; an invalid signature is `KMSInvalidSignatureException` instead.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    /// The key ARN.
    pub key_id: String,
    /// Always true.
    pub signature_valid: bool,
    /// The algorithm used.
    pub signing_algorithm: SigningAlgorithmSpec,
}

/// GetPublicKey's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    /// The key ARN.
    pub key_id: String,
    /// DER SubjectPublicKeyInfo.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// Deprecated twin of `key_spec`.
    pub customer_master_key_spec: KeySpec,
    /// The key spec.
    pub key_spec: KeySpec,
    /// The key usage.
    pub key_usage: KeyUsage,
    /// For ENCRYPT_DECRYPT keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    /// For SIGN_VERIFY keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<SigningAlgorithmSpec>,
    /// For KEY_AGREEMENT keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_agreement_algorithms: Vec<KeyAgreementAlgorithmSpec>,
    /// For ENCAPSULATE_DECAPSULATE keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encapsulation_algorithms: Vec<EncapsulationAlgorithmSpec>,
}

/// GenerateMac.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacRequest {
    /// The GENERATE_VERIFY_MAC key.
    pub key_id: String,
    /// 1 to 4096 bytes.
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// Must match the key.
    pub mac_algorithm: Option<MacAlgorithmSpec>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// GenerateMac's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse {
    /// The key ARN.
    pub key_id: String,
    /// The MAC.
    #[serde(with = "b64")]
    pub mac: Vec<u8>,
    /// The algorithm used.
    pub mac_algorithm: MacAlgorithmSpec,
}

/// VerifyMac.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacRequest {
    /// The GENERATE_VERIFY_MAC key.
    pub key_id: String,
    /// 1 to 4096 bytes.
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// The MAC to check.
    #[serde(with = "b64")]
    pub mac: Vec<u8>,
    /// Must match the key.
    pub mac_algorithm: Option<MacAlgorithmSpec>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// VerifyMac's response; an invalid MAC is `KMSInvalidMacException` instead.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    /// The key ARN.
    pub key_id: String,
    /// Always true.
    pub mac_valid: bool,
    /// The algorithm used.
    pub mac_algorithm: MacAlgorithmSpec,
}

/// DeriveSharedSecret.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretRequest {
    /// The KEY_AGREEMENT key.
    pub key_id: String,
    /// ECDH.
    pub key_agreement_algorithm: Option<KeyAgreementAlgorithmSpec>,
    /// The other party's public key, DER SubjectPublicKeyInfo on the same curve.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// DeriveSharedSecret's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse {
    /// The key ARN.
    pub key_id: String,
    /// The raw ECDH shared secret (the x-coordinate).
    #[serde(with = "b64")]
    pub shared_secret: SecretBytes,
    /// ECDH.
    pub key_agreement_algorithm: KeyAgreementAlgorithmSpec,
    /// AWS_KMS.
    pub key_origin: kms_core::types::Origin,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairRequest {
    /// The symmetric key that encrypts the private key.
    pub key_id: String,
    /// The pair to generate.
    pub key_pair_spec: Option<DataKeyPairSpec>,
    /// Bound to the encrypted private key.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only: answer `DryRunOperationException` once authorized, do nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// GenerateDataKeyPair(WithoutPlaintext)'s response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    /// The ARN of the symmetric key.
    pub key_id: String,
    /// The pair's spec.
    pub key_pair_spec: DataKeyPairSpec,
    /// The private key (PKCS#8 DER) encrypted under the symmetric key.
    #[serde(with = "b64")]
    pub private_key_ciphertext_blob: Vec<u8>,
    /// The private key, PKCS#8 DER; absent from GenerateDataKeyPairWithoutPlaintext.
    #[serde(skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub private_key_plaintext: Option<SecretBytes>,
    /// The public key, DER SubjectPublicKeyInfo.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
}

mod b64_opt {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(
        bytes: &Option<super::SecretBytes>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }
}

/// The usages a key spec allows, first the default one.
pub fn usages_of(spec: KeySpec) -> &'static [KeyUsage] {
    use KeySpec::*;
    match spec {
        SymmetricDefault => &[KeyUsage::EncryptDecrypt],
        Rsa2048 | Rsa3072 | Rsa4096 => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
        EccNistP256 | EccNistP384 | EccNistP521 => &[KeyUsage::SignVerify, KeyUsage::KeyAgreement],
        EccSecgP256k1 | EccNistEdwards25519 | MlDsa44 | MlDsa65 | MlDsa87 => {
            &[KeyUsage::SignVerify]
        }
        MlKem512 | MlKem768 | MlKem1024 => &[KeyUsage::EncapsulateDecapsulate],
        Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[KeyUsage::GenerateVerifyMac],
    }
}

/// The algorithms a key of `spec` and `usage` supports, as DescribeKey lists them.
pub(crate) struct Algorithms {
    pub encryption: Vec<EncryptionAlgorithm>,
    pub signing: Vec<SigningAlgorithmSpec>,
    pub mac: Vec<MacAlgorithmSpec>,
    pub key_agreement: Vec<KeyAgreementAlgorithmSpec>,
    pub encapsulation: Vec<EncapsulationAlgorithmSpec>,
}

pub(crate) fn algorithms_of(spec: KeySpec, usage: KeyUsage) -> Algorithms {
    let mut algorithms = Algorithms {
        encryption: Vec::new(),
        signing: Vec::new(),
        mac: Vec::new(),
        key_agreement: Vec::new(),
        encapsulation: Vec::new(),
    };
    match usage {
        KeyUsage::EncryptDecrypt if spec == KeySpec::SymmetricDefault => {
            algorithms.encryption = vec![EncryptionAlgorithm::SymmetricDefault];
        }
        KeyUsage::EncryptDecrypt => {
            algorithms.encryption = vec![
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ];
        }
        KeyUsage::SignVerify => {
            algorithms.signing = asymmetric::signing_algorithms_for(spec).to_vec()
        }
        KeyUsage::GenerateVerifyMac => {
            algorithms.mac = asymmetric::mac_algorithm_for(spec).into_iter().collect();
        }
        KeyUsage::KeyAgreement => algorithms.key_agreement = vec![KeyAgreementAlgorithmSpec::Ecdh],
        KeyUsage::EncapsulateDecapsulate => {
            algorithms.encapsulation = asymmetric::encapsulation_algorithms_for(spec).to_vec()
        }
    }
    algorithms
}

/// The OAEP hash of an RSA encryption algorithm.
pub(crate) fn oaep_hash(algorithm: EncryptionAlgorithm) -> Option<OaepHash> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Some(OaepHash::Sha1),
        EncryptionAlgorithm::RsaesOaepSha256 => Some(OaepHash::Sha256),
        EncryptionAlgorithm::SymmetricDefault => None,
    }
}

/// `Ok` if the key supports `algorithm`, else the algorithm's name for the refusal.
pub(crate) fn among<A: PartialEq + std::fmt::Display>(
    supported: &[A],
    algorithm: A,
) -> Result<(), String> {
    if supported.contains(&algorithm) {
        Ok(())
    } else {
        Err(algorithm.to_string())
    }
}

fn check_message(message: &[u8], message_type: MessageType) -> KmsResult<()> {
    if message.is_empty() || (message_type == MessageType::Raw && message.len() > MAX_MESSAGE) {
        return Err(KmsError::invalid(
            "Message",
            format!("Message must be between 1 and {MAX_MESSAGE} bytes"),
        ));
    }
    Ok(())
}

impl Service {
    /// Resolves, authorizes, checks state, usage and the requested algorithm (`algorithm`
    /// picks it out of the key's [`Algorithms`] and names it), and loads the current material.
    pub(super) fn key_of_usage(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: &str,
        action: &str,
        usage: KeyUsage,
        algorithm: impl FnOnce(&Algorithms) -> Result<(), String>,
    ) -> KmsResult<(KeyRecord, Arc<KeyMaterial>)> {
        let record = self.key_to_use(caller, note, key, action, |record| {
            if record.key_usage != usage {
                return Err(KmsError::InvalidKeyUsage(format!(
                    "{} key usage is {}, not {usage}",
                    self.key_arn(&record.key_id),
                    record.key_usage
                )));
            }
            algorithm(&algorithms_of(record.key_spec, record.key_usage)).map_err(|name| {
                KmsError::InvalidKeyUsage(format!(
                    "{name} is not compatible with {}, a {} key",
                    self.key_arn(&record.key_id),
                    record.key_spec
                ))
            })
        })?;
        let material = self.shared.vault.key_material(
            &record.key_id,
            record.key_spec,
            record.current_version,
        )?;
        Ok((record, material))
    }

    /// Sign.
    pub fn sign(&self, caller: &Caller, req: SignRequest) -> KmsResult<SignResponse> {
        self.audited(caller, "Sign", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let message_type = req.message_type.unwrap_or(MessageType::Raw);
            check_message(&req.message, message_type)?;
            let algorithm = req
                .signing_algorithm
                .ok_or_else(|| KmsError::required("SigningAlgorithm"))?;
            note.condition(ConditionKey::MessageType, [message_type]);
            note.condition(ConditionKey::SigningAlgorithm, [algorithm]);
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:Sign",
                KeyUsage::SignVerify,
                |a| among(&a.signing, algorithm),
            )?;
            Ok(SignResponse {
                key_id: self.key_arn(&record.key_id),
                signature: key.sign(algorithm, message_type, &req.message)?,
                signing_algorithm: algorithm,
            })
        })
    }

    /// Verify.
    pub fn verify(&self, caller: &Caller, req: VerifyRequest) -> KmsResult<VerifyResponse> {
        self.audited(caller, "Verify", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let message_type = req.message_type.unwrap_or(MessageType::Raw);
            check_message(&req.message, message_type)?;
            let algorithm = req
                .signing_algorithm
                .ok_or_else(|| KmsError::required("SigningAlgorithm"))?;
            note.condition(ConditionKey::MessageType, [message_type]);
            note.condition(ConditionKey::SigningAlgorithm, [algorithm]);
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:Verify",
                KeyUsage::SignVerify,
                |a| among(&a.signing, algorithm),
            )?;
            key.verify(algorithm, message_type, &req.message, &req.signature)?;
            Ok(VerifyResponse {
                key_id: self.key_arn(&record.key_id),
                signature_valid: true,
                signing_algorithm: algorithm,
            })
        })
    }

    /// GetPublicKey: the public half of an asymmetric key, with its usage and algorithms.
    pub fn get_public_key(
        &self,
        caller: &Caller,
        req: KeyRequest,
    ) -> KmsResult<GetPublicKeyResponse> {
        self.audited(caller, "GetPublicKey", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            let record = self.key_for(caller, note, &req.key_id, "kms:GetPublicKey")?;
            self.require_enabled(&record)?;
            let material = self.shared.vault.key_material(
                &record.key_id,
                record.key_spec,
                record.current_version,
            )?;
            let public_key = material.public_key_der().map_err(|_| {
                KmsError::UnsupportedOperation(format!(
                    "{} is a {} key, which has no public key",
                    self.key_arn(&record.key_id),
                    record.key_spec
                ))
            })?;
            let algorithms = algorithms_of(record.key_spec, record.key_usage);
            Ok(GetPublicKeyResponse {
                key_id: self.key_arn(&record.key_id),
                public_key,
                customer_master_key_spec: record.key_spec,
                key_spec: record.key_spec,
                key_usage: record.key_usage,
                encryption_algorithms: algorithms.encryption,
                signing_algorithms: algorithms.signing,
                key_agreement_algorithms: algorithms.key_agreement,
                encapsulation_algorithms: algorithms.encapsulation,
            })
        })
    }

    /// GenerateMac.
    pub fn generate_mac(
        &self,
        caller: &Caller,
        req: GenerateMacRequest,
    ) -> KmsResult<GenerateMacResponse> {
        self.audited(caller, "GenerateMac", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            check_message(&req.message, MessageType::Raw)?;
            let algorithm = req
                .mac_algorithm
                .ok_or_else(|| KmsError::required("MacAlgorithm"))?;
            note.condition(ConditionKey::MacAlgorithm, [algorithm]);
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:GenerateMac",
                KeyUsage::GenerateVerifyMac,
                |a| among(&a.mac, algorithm),
            )?;
            Ok(GenerateMacResponse {
                key_id: self.key_arn(&record.key_id),
                mac: key.generate_mac(algorithm, &req.message)?,
                mac_algorithm: algorithm,
            })
        })
    }

    /// VerifyMac.
    pub fn verify_mac(
        &self,
        caller: &Caller,
        req: VerifyMacRequest,
    ) -> KmsResult<VerifyMacResponse> {
        self.audited(caller, "VerifyMac", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            check_message(&req.message, MessageType::Raw)?;
            let algorithm = req
                .mac_algorithm
                .ok_or_else(|| KmsError::required("MacAlgorithm"))?;
            note.condition(ConditionKey::MacAlgorithm, [algorithm]);
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:VerifyMac",
                KeyUsage::GenerateVerifyMac,
                |a| among(&a.mac, algorithm),
            )?;
            key.verify_mac(algorithm, &req.message, &req.mac)?;
            Ok(VerifyMacResponse {
                key_id: self.key_arn(&record.key_id),
                mac_valid: true,
                mac_algorithm: algorithm,
            })
        })
    }

    /// DeriveSharedSecret: ECDH between a KEY_AGREEMENT key and a peer's public key.
    pub fn derive_shared_secret(
        &self,
        caller: &Caller,
        req: DeriveSharedSecretRequest,
    ) -> KmsResult<DeriveSharedSecretResponse> {
        self.audited(caller, "DeriveSharedSecret", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let algorithm = req
                .key_agreement_algorithm
                .ok_or_else(|| KmsError::required("KeyAgreementAlgorithm"))?;
            note.condition(ConditionKey::KeyAgreementAlgorithm, [algorithm]);
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:DeriveSharedSecret",
                KeyUsage::KeyAgreement,
                |a| among(&a.key_agreement, algorithm),
            )?;
            Ok(DeriveSharedSecretResponse {
                key_id: self.key_arn(&record.key_id),
                shared_secret: key.derive_shared_secret(&req.public_key)?.into(),
                key_agreement_algorithm: algorithm,
                key_origin: record.origin,
            })
        })
    }

    /// A fresh key pair with its private key encrypted under `req`'s symmetric key; the
    /// response carries the plaintext private key too.
    fn data_key_pair(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        req: &GenerateDataKeyPairRequest,
        action: &str,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        note.context(&req.encryption_context)?;
        let spec = req
            .key_pair_spec
            .ok_or_else(|| KmsError::required("KeyPairSpec"))?;
        note.condition(ConditionKey::DataKeyPairSpec, [spec]);
        // Data key pairs are always encrypted under a symmetric key.
        note.condition(
            ConditionKey::EncryptionAlgorithm,
            [EncryptionAlgorithm::SymmetricDefault],
        );
        let record = self.key_to_use(caller, note, &req.key_id, action, |r| {
            self.require_data_key_encryption(r)
        })?;
        let pair = KeyMaterial::generate(spec.key_spec())?;
        let private = pair.private_key_pkcs8()?;
        let (blob, _) = self.seal_under(
            caller,
            &record,
            &private,
            &req.encryption_context,
            BlobKind::DataKey,
        )?;
        Ok(GenerateDataKeyPairResponse {
            key_id: self.key_arn(&record.key_id),
            key_pair_spec: spec,
            private_key_ciphertext_blob: blob,
            private_key_plaintext: Some(private.into()),
            public_key: pair.public_key_der()?,
        })
    }

    /// GenerateDataKeyPair: a key pair whose private key is returned in plaintext and encrypted.
    pub fn generate_data_key_pair(
        &self,
        caller: &Caller,
        req: GenerateDataKeyPairRequest,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        self.audited(caller, "GenerateDataKeyPair", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            self.data_key_pair(caller, note, &req, "kms:GenerateDataKeyPair")
        })
    }

    /// GenerateDataKeyPairWithoutPlaintext: the same, the private key only encrypted.
    pub fn generate_data_key_pair_without_plaintext(
        &self,
        caller: &Caller,
        req: GenerateDataKeyPairRequest,
    ) -> KmsResult<GenerateDataKeyPairResponse> {
        self.audited(caller, "GenerateDataKeyPairWithoutPlaintext", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let pair = self.data_key_pair(
                caller,
                note,
                &req,
                "kms:GenerateDataKeyPairWithoutPlaintext",
            )?;
            Ok(GenerateDataKeyPairResponse {
                private_key_plaintext: None,
                ..pair
            })
        })
    }
}
