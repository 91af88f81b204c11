//! `kms:vault/types`: the vocabulary shared by every interface, translated once between the WIT
//! types and the façade's — the error (both ways), key metadata, algorithms, data-key specs and
//! encryption contexts.

use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{
    DataKeySpec, EncryptionAlgorithm, EncryptionContext, KeyId, KeySpec, KeyState, KeyUsage,
    MacAlgorithmSpec, MessageType, Origin, SigningAlgorithmSpec,
};
use kms_service::{GenerateDataKeyRequest, KeyMetadata};

use crate::bindings::types as wit;
use crate::ctx::KmsCtxView;

// The interface defines types only; it has no functions to implement.
impl wit::Host for KmsCtxView<'_> {}

/// The WIT error for a façade error. The WIT has fewer cases than AWS's exception list; request
/// errors all become `validation`.
pub(crate) fn to_wit_error(error: KmsError) -> wit::KmsError {
    use wit::KmsError as W;
    match error {
        KmsError::NotFound(m) => W::NotFound(m),
        KmsError::Disabled(m) => W::Disabled(m),
        KmsError::InvalidState(m) => W::InvalidState(m),
        KmsError::InvalidCiphertext(m) => W::InvalidCiphertext(m),
        KmsError::IncorrectKey(m) => W::IncorrectKey(m),
        KmsError::InvalidKeyUsage(m) => W::InvalidKeyUsage(m),
        KmsError::Validation(m)
        | KmsError::InvalidAliasName(m)
        | KmsError::InvalidArn(m)
        | KmsError::InvalidMarker(m)
        | KmsError::AlreadyExists(m)
        | KmsError::Tag(m)
        | KmsError::UnsupportedOperation(m)
        | KmsError::MalformedPolicyDocument(m)
        | KmsError::InvalidGrantToken(m)
        | KmsError::InvalidGrantId(m)
        | KmsError::DryRunOperation(m) => W::Validation(m),
        KmsError::LimitExceeded(m) => W::LimitExceeded(m),
        KmsError::AccessDenied(m) => W::AccessDenied(m),
        KmsError::Throttling(m) => W::Throttled(m),
        KmsError::InvalidSignature(_) => W::InvalidSignature,
        KmsError::InvalidMac(_) => W::InvalidMac,
        KmsError::Internal(m) => W::Internal(m),
    }
}

/// The façade error for a WIT error a guest returned (from a data-key wrapper's `envelope`).
pub(crate) fn from_wit_error(error: wit::KmsError) -> KmsError {
    use wit::KmsError as W;
    match error {
        W::NotFound(m) => KmsError::NotFound(m),
        W::Disabled(m) => KmsError::Disabled(m),
        W::InvalidState(m) => KmsError::InvalidState(m),
        W::AccessDenied(m) => KmsError::AccessDenied(m),
        W::InvalidCiphertext(m) => KmsError::InvalidCiphertext(m),
        W::IncorrectKey(m) => KmsError::IncorrectKey(m),
        W::InvalidKeyUsage(m) => KmsError::InvalidKeyUsage(m),
        W::Validation(m) => KmsError::Validation(m),
        W::LimitExceeded(m) => KmsError::LimitExceeded(m),
        W::Throttled(m) => KmsError::Throttling(m),
        W::InvalidSignature => KmsError::InvalidSignature("The signature is not valid".into()),
        W::InvalidMac => KmsError::InvalidMac("The MAC is not valid".into()),
        W::Internal(m) => KmsError::Internal(m),
    }
}

/// A guest's encryption context, checked (no empty or duplicate keys, size capped) and sorted.
pub(crate) fn from_wit_context(pairs: wit::EncryptionContext) -> KmsResult<EncryptionContext> {
    EncryptionContext::from_pairs(pairs)
}

/// An encryption context as the WIT list a guest export takes.
pub(crate) fn to_wit_context(context: &EncryptionContext) -> wit::EncryptionContext {
    context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The façade request for a data key of `spec` under `key_id`.
pub(crate) fn data_key_request(
    key_id: &KeyId,
    spec: wit::DataKeySpec,
    encryption_context: EncryptionContext,
) -> GenerateDataKeyRequest {
    let mut req = GenerateDataKeyRequest::new(key_id.to_string(), DataKeySpec::Aes256)
        .with_context(encryption_context);
    match spec {
        wit::DataKeySpec::Aes128 => req.key_spec = Some(DataKeySpec::Aes128),
        wit::DataKeySpec::Aes256 => req.key_spec = Some(DataKeySpec::Aes256),
        wit::DataKeySpec::NumberOfBytes(n) => {
            req.key_spec = None;
            req.number_of_bytes = Some(n);
        }
    }
    req
}

macro_rules! same_cases {
    ($(#[$meta:meta])* $name:ident: $from:ty => $to:ty { $($case:ident),+ $(,)? }) => {
        $(#[$meta])*
        pub(crate) fn $name(value: $from) -> $to {
            match value {
                $(<$from>::$case => <$to>::$case),+
            }
        }
    };
}

same_cases!(
    /// WIT signing algorithm to AWS's.
    from_wit_signing: wit::SigningAlgorithm => SigningAlgorithmSpec {
        RsassaPssSha256, RsassaPssSha384, RsassaPssSha512, RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384, RsassaPkcs1V15Sha512, EcdsaSha256, EcdsaSha384, EcdsaSha512,
        MlDsaShake256,
    }
);
same_cases!(
    /// AWS signing algorithm to WIT's.
    to_wit_signing: SigningAlgorithmSpec => wit::SigningAlgorithm {
        RsassaPssSha256, RsassaPssSha384, RsassaPssSha512, RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384, RsassaPkcs1V15Sha512, EcdsaSha256, EcdsaSha384, EcdsaSha512,
        MlDsaShake256,
    }
);
same_cases!(
    /// WIT MAC algorithm to AWS's.
    from_wit_mac: wit::MacAlgorithm => MacAlgorithmSpec { HmacSha224, HmacSha256, HmacSha384, HmacSha512 }
);
same_cases!(
    /// AWS MAC algorithm to WIT's.
    to_wit_mac: MacAlgorithmSpec => wit::MacAlgorithm { HmacSha224, HmacSha256, HmacSha384, HmacSha512 }
);
same_cases!(
    /// WIT message type to AWS's.
    from_wit_message_type: wit::MessageType => MessageType { Raw, Digest, ExternalMu }
);

/// A key's metadata as a guest sees it.
pub(crate) fn to_wit_metadata(m: KeyMetadata) -> wit::KeyMetadata {
    wit::KeyMetadata {
        key_id: m.key_id,
        arn: m.arn,
        account_id: m.aws_account_id,
        description: m.description,
        key_spec: match m.key_spec {
            KeySpec::SymmetricDefault => wit::KeySpec::SymmetricDefault,
            KeySpec::Rsa2048 => wit::KeySpec::Rsa2048,
            KeySpec::Rsa3072 => wit::KeySpec::Rsa3072,
            KeySpec::Rsa4096 => wit::KeySpec::Rsa4096,
            KeySpec::EccNistP256 => wit::KeySpec::EccNistP256,
            KeySpec::EccNistP384 => wit::KeySpec::EccNistP384,
            KeySpec::EccNistP521 => wit::KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1 => wit::KeySpec::EccSecgP256k1,
            KeySpec::Hmac224 => wit::KeySpec::Hmac224,
            KeySpec::Hmac256 => wit::KeySpec::Hmac256,
            KeySpec::Hmac384 => wit::KeySpec::Hmac384,
            KeySpec::Hmac512 => wit::KeySpec::Hmac512,
            KeySpec::MlDsa44 => wit::KeySpec::MlDsa44,
            KeySpec::MlDsa65 => wit::KeySpec::MlDsa65,
            KeySpec::MlDsa87 => wit::KeySpec::MlDsa87,
        },
        key_usage: match m.key_usage {
            KeyUsage::EncryptDecrypt => wit::KeyUsage::EncryptDecrypt,
            KeyUsage::SignVerify => wit::KeyUsage::SignVerify,
            KeyUsage::GenerateVerifyMac => wit::KeyUsage::GenerateVerifyMac,
            KeyUsage::KeyAgreement => wit::KeyUsage::KeyAgreement,
        },
        key_state: match m.key_state {
            KeyState::Enabled => wit::KeyState::Enabled,
            KeyState::Disabled => wit::KeyState::Disabled,
            KeyState::PendingDeletion => wit::KeyState::PendingDeletion,
            KeyState::PendingImport => wit::KeyState::PendingImport,
            KeyState::Unavailable => wit::KeyState::Unavailable,
        },
        origin: match m.origin {
            Origin::AwsKms => wit::Origin::AwsKms,
            Origin::External => wit::Origin::External,
            Origin::AwsCloudhsm => wit::Origin::AwsCloudhsm,
            Origin::ExternalKeyStore => wit::Origin::ExternalKeyStore,
        },
        created_at: m.creation_date,
        deletion_date: m.deletion_date,
        enabled: m.enabled,
        encryption_algorithms: m
            .encryption_algorithms
            .iter()
            .map(|a| match a {
                EncryptionAlgorithm::SymmetricDefault => wit::EncryptionAlgorithm::SymmetricDefault,
                EncryptionAlgorithm::RsaesOaepSha1 => wit::EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256 => wit::EncryptionAlgorithm::RsaesOaepSha256,
            })
            .collect(),
        signing_algorithms: m
            .signing_algorithms
            .iter()
            .map(|a| to_wit_signing(*a))
            .collect(),
        mac_algorithms: m.mac_algorithms.iter().map(|a| to_wit_mac(*a)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_error_has_a_wit_case() {
        let cases = [
            (KmsError::NotFound("m".into()), "NotFound"),
            (KmsError::Disabled("m".into()), "Disabled"),
            (KmsError::InvalidState("m".into()), "InvalidState"),
            (KmsError::InvalidCiphertext("m".into()), "InvalidCiphertext"),
            (KmsError::IncorrectKey("m".into()), "IncorrectKey"),
            (KmsError::InvalidKeyUsage("m".into()), "InvalidKeyUsage"),
            (KmsError::InvalidArn("m".into()), "Validation"),
            (KmsError::AlreadyExists("m".into()), "Validation"),
            (KmsError::LimitExceeded("m".into()), "LimitExceeded"),
            (KmsError::AccessDenied("m".into()), "AccessDenied"),
            (KmsError::Throttling("m".into()), "Throttled"),
            (KmsError::InvalidSignature("m".into()), "InvalidSignature"),
            (KmsError::InvalidMac("m".into()), "InvalidMac"),
            (KmsError::Internal("m".into()), "Internal"),
        ];
        for (error, case) in cases {
            let wit = format!("{:?}", to_wit_error(error));
            assert!(
                wit.starts_with(&format!("KmsError::{case}")),
                "{wit} is not {case}"
            );
        }
    }
}
