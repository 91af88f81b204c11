//! `kms:vault/types`: the vocabulary shared by every interface, translated once between the WIT
//! types and the façade's — the error (both ways), key metadata, algorithms, data-key specs and
//! encryption contexts.

use kms_core::error::{Invalid, KmsError, KmsResult, Missing};
use kms_core::types::{
    DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, EncryptionContext, KeyId, KeySpec, KeyState,
    KeyUsage, MacAlgorithmSpec, MessageType, Origin, SigningAlgorithmSpec,
};
use kms_service::{GenerateDataKeyPairRequest, GenerateDataKeyRequest, KeyMetadata};

use crate::bindings::types as wit;
use crate::ctx::KmsCtxView;

// The interface defines types only; it has no functions to implement.
impl wit::Host for KmsCtxView<'_> {}

/// A `kms-error` case, as the function that builds it from its detail.
type WitCase = fn(wit::ErrorDetail) -> wit::KmsError;

/// The WIT error for a façade error: the case a guest matches on, carrying the exact AWS
/// exception name and the message. The WIT has fewer cases than AWS has exceptions: request
/// errors share `validation`, told apart by their `aws-type`.
pub(crate) fn to_wit_error(error: KmsError) -> wit::KmsError {
    use wit::KmsError as W;
    let case: WitCase = match &error {
        KmsError::NotFound(_) => W::NotFound,
        KmsError::Disabled(_) => W::Disabled,
        KmsError::InvalidState(_) | KmsError::KeyStore(..) => W::InvalidState,
        KmsError::InvalidCiphertext(_) => W::InvalidCiphertext,
        KmsError::IncorrectKey(_) => W::IncorrectKey,
        KmsError::InvalidKeyUsage(_) => W::InvalidKeyUsage,
        KmsError::Validation(_)
        | KmsError::IncorrectKeyMaterial(_)
        | KmsError::InvalidImportToken(_)
        | KmsError::ExpiredImportToken(_)
        | KmsError::InvalidAliasName(_)
        | KmsError::InvalidArn(_)
        | KmsError::InvalidMarker(_)
        | KmsError::AlreadyExists(_)
        | KmsError::Tag(_)
        | KmsError::UnsupportedOperation(_)
        | KmsError::MalformedPolicyDocument(_)
        | KmsError::InvalidGrantToken(_)
        | KmsError::InvalidGrantId(_)
        | KmsError::DryRunOperation(_) => W::Validation,
        KmsError::LimitExceeded(_) => W::LimitExceeded,
        KmsError::AccessDenied(_) | KmsError::NotAuthorized(_) => W::AccessDenied,
        KmsError::Throttling(_) => W::Throttled,
        KmsError::InvalidSignature(_) => W::InvalidSignature,
        KmsError::InvalidMac(_) => W::InvalidMac,
        KmsError::Internal(_) => W::Internal,
    };
    case(wit::ErrorDetail {
        aws_type: error.aws_type().to_string(),
        message: error.message().to_string(),
    })
}

/// The façade error for a WIT error a guest returned (from a data-key wrapper's `envelope`).
///
/// The guest's `aws-type` is kept when it is an exception its case stands for, so a wrapper
/// that passes on the host's error keeps its exact name. Any other name (unknown, or one of
/// another case) gives way to the case's own exception: a guest cannot turn a `validation`
/// into an `AccessDeniedException` by naming it.
pub(crate) fn from_wit_error(error: wit::KmsError) -> KmsError {
    use wit::KmsError as W;
    let case = std::mem::discriminant(&error);
    let (own, detail): (fn(String) -> KmsError, _) = match error {
        W::NotFound(d) => (|m| KmsError::NotFound(Missing::Described(m)), d),
        W::Disabled(d) => (KmsError::Disabled, d),
        W::InvalidState(d) => (KmsError::InvalidState, d),
        W::AccessDenied(d) => (KmsError::AccessDenied, d),
        W::InvalidCiphertext(d) => (KmsError::InvalidCiphertext, d),
        W::IncorrectKey(d) => (KmsError::IncorrectKey, d),
        W::InvalidKeyUsage(d) => (KmsError::InvalidKeyUsage, d),
        W::Validation(d) => (|m| KmsError::Validation(Invalid::from(m)), d),
        W::LimitExceeded(d) => (KmsError::LimitExceeded, d),
        W::Throttled(d) => (KmsError::Throttling, d),
        W::InvalidSignature(d) => (KmsError::InvalidSignature, d),
        W::InvalidMac(d) => (KmsError::InvalidMac, d),
        W::Internal(d) => (KmsError::Internal, d),
    };
    match KmsError::from_aws_type(&detail.aws_type, detail.message.as_str()) {
        Some(named) if std::mem::discriminant(&to_wit_error(named.clone())) == case => named,
        _ => own(detail.message),
    }
}

/// A guest's encryption context, checked (no duplicate keys, size capped) and sorted; the
/// operation that takes it refuses empty keys and values.
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

/// The façade request for a data key pair of `spec` under `key_id`.
pub(crate) fn data_key_pair_request(
    key_id: &KeyId,
    spec: wit::DataKeyPairSpec,
    encryption_context: wit::EncryptionContext,
) -> KmsResult<GenerateDataKeyPairRequest> {
    Ok(GenerateDataKeyPairRequest {
        key_id: key_id.to_string(),
        key_pair_spec: Some(from_wit_key_pair_spec(spec)),
        encryption_context: from_wit_context(encryption_context)?,
        ..Default::default()
    })
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
        MlDsaShake256, Ed25519Sha512, Ed25519PhSha512,
    }
);
same_cases!(
    /// AWS signing algorithm to WIT's.
    to_wit_signing: SigningAlgorithmSpec => wit::SigningAlgorithm {
        RsassaPssSha256, RsassaPssSha384, RsassaPssSha512, RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384, RsassaPkcs1V15Sha512, EcdsaSha256, EcdsaSha384, EcdsaSha512,
        MlDsaShake256, Ed25519Sha512, Ed25519PhSha512,
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
same_cases!(
    /// WIT data key pair spec to AWS's.
    from_wit_key_pair_spec: wit::DataKeyPairSpec => DataKeyPairSpec {
        Rsa2048, Rsa3072, Rsa4096, EccNistP256, EccNistP384, EccNistP521, EccSecgP256k1,
        EccNistEdwards25519, MlKem512, MlKem768, MlKem1024,
    }
);
same_cases!(
    /// AWS key spec to WIT's.
    to_wit_key_spec: KeySpec => wit::KeySpec {
        SymmetricDefault, Rsa2048, Rsa3072, Rsa4096, EccNistP256, EccNistP384, EccNistP521,
        EccSecgP256k1, Hmac224, Hmac256, Hmac384, Hmac512, MlDsa44, MlDsa65, MlDsa87,
        EccNistEdwards25519, MlKem512, MlKem768, MlKem1024,
    }
);
same_cases!(
    /// AWS key usage to WIT's.
    to_wit_key_usage: KeyUsage => wit::KeyUsage {
        EncryptDecrypt, SignVerify, GenerateVerifyMac, KeyAgreement, EncapsulateDecapsulate,
    }
);
same_cases!(
    /// AWS key state to WIT's.
    to_wit_key_state: KeyState => wit::KeyState {
        Enabled, Disabled, PendingDeletion, PendingImport, PendingReplicaDeletion, Unavailable,
    }
);
same_cases!(
    /// AWS origin to WIT's.
    to_wit_origin: Origin => wit::Origin { AwsKms, External, AwsCloudhsm, ExternalKeyStore }
);
same_cases!(
    /// AWS encryption algorithm to WIT's.
    to_wit_encryption: EncryptionAlgorithm => wit::EncryptionAlgorithm {
        SymmetricDefault, RsaesOaepSha1, RsaesOaepSha256,
    }
);

/// A key's metadata as a guest sees it.
pub(crate) fn to_wit_metadata(m: KeyMetadata) -> wit::KeyMetadata {
    wit::KeyMetadata {
        key_id: m.key_id,
        arn: m.arn,
        account_id: m.aws_account_id,
        description: m.description,
        key_spec: to_wit_key_spec(m.key_spec),
        key_usage: to_wit_key_usage(m.key_usage),
        key_state: to_wit_key_state(m.key_state),
        origin: to_wit_origin(m.origin),
        created_at: m.creation_date,
        deletion_date: m.deletion_date,
        enabled: m.enabled,
        encryption_algorithms: m
            .encryption_algorithms
            .iter()
            .map(|a| to_wit_encryption(*a))
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
    fn every_service_error_reaches_the_guest_with_its_case_and_exact_aws_name() {
        use wit::KmsError as W;
        let message = || String::from("m");
        let cases: [(KmsError, WitCase); 27] = [
            (KmsError::key_not_found(message()), W::NotFound),
            (KmsError::Disabled(message()), W::Disabled),
            (KmsError::InvalidState(message()), W::InvalidState),
            (KmsError::InvalidCiphertext(message()), W::InvalidCiphertext),
            (KmsError::IncorrectKey(message()), W::IncorrectKey),
            (KmsError::IncorrectKeyMaterial(message()), W::Validation),
            (KmsError::InvalidImportToken(message()), W::Validation),
            (KmsError::ExpiredImportToken(message()), W::Validation),
            (KmsError::InvalidKeyUsage(message()), W::InvalidKeyUsage),
            (KmsError::invalid("KeyId", message()), W::Validation),
            (KmsError::InvalidAliasName(message()), W::Validation),
            (KmsError::InvalidArn(message()), W::Validation),
            (KmsError::InvalidMarker(message()), W::Validation),
            (KmsError::AlreadyExists(message()), W::Validation),
            (KmsError::LimitExceeded(message()), W::LimitExceeded),
            (KmsError::Tag(message()), W::Validation),
            (KmsError::UnsupportedOperation(message()), W::Validation),
            (KmsError::MalformedPolicyDocument(message()), W::Validation),
            (KmsError::AccessDenied(message()), W::AccessDenied),
            (KmsError::NotAuthorized(message()), W::AccessDenied),
            (KmsError::InvalidGrantToken(message()), W::Validation),
            (KmsError::InvalidGrantId(message()), W::Validation),
            (KmsError::DryRunOperation(message()), W::Validation),
            (KmsError::Throttling(message()), W::Throttled),
            (KmsError::InvalidSignature(message()), W::InvalidSignature),
            (KmsError::InvalidMac(message()), W::InvalidMac),
            (KmsError::Internal(message()), W::Internal),
        ];
        for (error, case) in cases {
            let expected = case(wit::ErrorDetail {
                aws_type: error.aws_type().into(),
                message: error.message().into_owned(),
            });
            assert_eq!(to_wit_error(error), expected);
        }
    }

    #[test]
    fn a_guest_facing_unsupported_operation_carries_its_aws_name() {
        let error = to_wit_error(KmsError::UnsupportedOperation(
            "A SYMMETRIC_DEFAULT key has no public key".into(),
        ));
        let wit::KmsError::Validation(detail) = error else {
            panic!("{error:?} is not validation");
        };
        assert_eq!(detail.aws_type, "UnsupportedOperationException");
        assert_eq!(detail.message, "A SYMMETRIC_DEFAULT key has no public key");
    }

    #[test]
    fn an_error_a_guest_passes_on_keeps_its_aws_name() {
        for error in [
            KmsError::UnsupportedOperation("m".into()),
            KmsError::InvalidSignature("The signature is not valid".into()),
            KmsError::NotFound(Missing::Described("m".into())),
        ] {
            assert_eq!(from_wit_error(to_wit_error(error.clone())), error);
        }
        // A structured error comes back with the same name and words.
        let missing = KmsError::key_not_found("alias/gone");
        let back = from_wit_error(to_wit_error(missing.clone()));
        assert_eq!(
            (back.aws_type(), back.message()),
            (missing.aws_type(), missing.message())
        );
    }

    #[test]
    fn a_guest_cannot_name_an_exception_outside_its_case() {
        let claimed = |aws_type: &str| {
            from_wit_error(wit::KmsError::Validation(wit::ErrorDetail {
                aws_type: aws_type.into(),
                message: "m".into(),
            }))
        };
        assert_eq!(
            claimed("AccessDeniedException"),
            KmsError::Validation("m".into())
        );
        assert_eq!(claimed("TeapotException"), KmsError::Validation("m".into()));
        assert_eq!(claimed("TagException"), KmsError::Tag("m".into()));
    }
}
