//! ML-KEM key encapsulation: Encapsulate (a fresh shared secret and its ciphertext under a key's
//! public key) and Decapsulate (the shared secret back with the private key). The private key
//! never leaves the host.

use serde::{Deserialize, Serialize};

use super::*;
use kms_core::types::{EncapsulationAlgorithmSpec, KeyUsage};

use super::api::{SecretBytes, b64};
use super::asymmetric_ops::among;

/// Encapsulate.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncapsulateRequest {
    /// The ENCAPSULATE_DECAPSULATE (ML-KEM) key.
    pub key_id: String,
    /// ML_KEM, the only value.
    pub encapsulation_algorithm: Option<EncapsulationAlgorithmSpec>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only.
    #[serde(default)]
    pub dry_run: bool,
}

/// Encapsulate's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncapsulateResponse {
    /// The key ARN.
    pub key_id: String,
    /// The 32-byte shared secret.
    #[serde(with = "b64")]
    pub shared_secret: SecretBytes,
    /// Its encapsulation: 768, 1088 or 1568 bytes for ML_KEM_512, 768 or 1024.
    #[serde(with = "b64")]
    pub shared_secret_ciphertext_blob: Vec<u8>,
    /// The algorithm used.
    pub encapsulation_algorithm: EncapsulationAlgorithmSpec,
}

/// Decapsulate.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecapsulateRequest {
    /// The ENCAPSULATE_DECAPSULATE (ML-KEM) key.
    pub key_id: String,
    /// The encapsulated shared secret.
    #[serde(with = "b64")]
    pub shared_secret_ciphertext_blob: Vec<u8>,
    /// ML_KEM, the only value.
    pub encapsulation_algorithm: Option<EncapsulationAlgorithmSpec>,
    /// Grant tokens for grants not yet visible (accepted if this service issued them).
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    /// Check permissions only.
    #[serde(default)]
    pub dry_run: bool,
}

/// Decapsulate's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecapsulateResponse {
    /// The key ARN.
    pub key_id: String,
    /// The 32-byte shared secret. A ciphertext that is not this key's still gives 32 bytes
    /// (ML-KEM's implicit rejection), which match nothing the other party holds.
    #[serde(with = "b64")]
    pub shared_secret: SecretBytes,
    /// The algorithm used.
    pub encapsulation_algorithm: EncapsulationAlgorithmSpec,
}

impl Service {
    /// Encapsulate: a fresh shared secret and its ML-KEM ciphertext under the key's public key.
    pub fn encapsulate(
        &self,
        caller: &Caller,
        req: EncapsulateRequest,
    ) -> KmsResult<EncapsulateResponse> {
        self.audited(caller, "Encapsulate", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let algorithm = req
                .encapsulation_algorithm
                .ok_or_else(|| KmsError::required("EncapsulationAlgorithm"))?;
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:Encapsulate",
                KeyUsage::EncapsulateDecapsulate,
                |a| among(&a.encapsulation, algorithm),
            )?;
            let (ciphertext, shared_secret) = key.encapsulate(algorithm)?;
            Ok(EncapsulateResponse {
                key_id: self.key_arn(&record.key_id),
                shared_secret: shared_secret.into(),
                shared_secret_ciphertext_blob: ciphertext,
                encapsulation_algorithm: algorithm,
            })
        })
    }

    /// Decapsulate: the shared secret of an ML-KEM ciphertext, with the key's private key.
    pub fn decapsulate(
        &self,
        caller: &Caller,
        req: DecapsulateRequest,
    ) -> KmsResult<DecapsulateResponse> {
        self.audited(caller, "Decapsulate", |note| {
            self.check_grant_tokens(&req.grant_tokens)?;
            note.dry_run = req.dry_run;
            let algorithm = req
                .encapsulation_algorithm
                .ok_or_else(|| KmsError::required("EncapsulationAlgorithm"))?;
            let (record, key) = self.key_of_usage(
                caller,
                note,
                &req.key_id,
                "kms:Decapsulate",
                KeyUsage::EncapsulateDecapsulate,
                |a| among(&a.encapsulation, algorithm),
            )?;
            Ok(DecapsulateResponse {
                key_id: self.key_arn(&record.key_id),
                shared_secret: key
                    .decapsulate(algorithm, &req.shared_secret_ciphertext_blob)?
                    .into(),
                encapsulation_algorithm: algorithm,
            })
        })
    }
}
