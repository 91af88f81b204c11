//! The one error type every front door speaks. Each variant is an AWS KMS exception: the HTTP API
//! sends [`KmsError::aws_type`] as `__type`, the WIT layer maps variants onto `kms-error`, and the CLI
//! prints both. Messages name keys and principals, never key material.

use std::borrow::Cow;
use std::fmt;

/// A failed KMS operation, named after the AWS KMS exception it corresponds to.
///
/// ```
/// use kms_core::KmsError;
/// use kms_core::error::Missing;
/// let err = KmsError::key_not_found("alias/missing");
/// assert_eq!(err, KmsError::NotFound(Missing::Key("alias/missing".into())));
/// assert_eq!(err.aws_type(), "NotFoundException");
/// assert_eq!(err.message(), "Key 'alias/missing' does not exist");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The key, alias or other resource does not exist (or is not visible to the caller);
    /// which one, in [`Missing`].
    #[error("{0}")]
    NotFound(Missing),
    /// The key is disabled.
    #[error("{0}")]
    Disabled(String),
    /// The key is in a state (e.g. pending deletion) that does not allow the operation.
    #[error("{0}")]
    InvalidState(String),
    /// The ciphertext, its encryption context or its key could not be used to decrypt.
    /// Deliberately undifferentiated so that it is no oracle.
    #[error("{0}")]
    InvalidCiphertext(String),
    /// A key id was given that does not match the key the ciphertext was encrypted under.
    #[error("{0}")]
    IncorrectKey(String),
    /// Imported key material is not what the key expects: not of its key spec, or not the
    /// material imported before.
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    /// An import token (ImportKeyMaterial) that this service did not issue, that was altered,
    /// or that was issued for another key.
    #[error("{0}")]
    InvalidImportToken(String),
    /// An import token whose 24 hours have passed: get new parameters for import.
    #[error("{0}")]
    ExpiredImportToken(String),
    /// The key's usage (e.g. SIGN_VERIFY) does not allow the operation.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// A request parameter is missing, malformed or out of range; which one, in [`Invalid`].
    #[error("{0}")]
    Validation(Invalid),
    /// An alias name breaks the naming rules or uses a reserved prefix.
    #[error("{0}")]
    InvalidAliasName(String),
    /// An ARN is malformed.
    #[error("{0}")]
    InvalidArn(String),
    /// A pagination marker was not issued by this service.
    #[error("{0}")]
    InvalidMarker(String),
    /// The resource (e.g. an alias) already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// A quota would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// A tag key or value is malformed, or too many tags.
    #[error("{0}")]
    Tag(String),
    /// The operation is not supported for this key.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// A key policy or identity policy is not a valid IAM policy document.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// The caller is not allowed to perform the operation.
    #[error("{0}")]
    AccessDenied(String),
    /// The request touches what only AWS may change: an alias under `alias/aws/`, which names
    /// an AWS managed key, on CreateAlias, UpdateAlias or DeleteAlias.
    #[error("{0}")]
    NotAuthorized(String),
    /// A grant token is not one this service issued.
    #[error("{0}")]
    InvalidGrantToken(String),
    /// A grant id does not name a grant of the key.
    #[error("{0}")]
    InvalidGrantId(String),
    /// The request had `DryRun` set and would have succeeded.
    #[error("{0}")]
    DryRunOperation(String),
    /// The request rate is too high.
    #[error("{0}")]
    Throttling(String),
    /// A signature did not verify.
    #[error("{0}")]
    InvalidSignature(String),
    /// A MAC did not verify.
    #[error("{0}")]
    InvalidMac(String),
    /// Something went wrong with a custom key store; which AWS exception, in [`KeyStoreFault`].
    #[error("{1}")]
    KeyStore(KeyStoreFault, String),
    /// Something went wrong inside the service (storage, corrupted state). Never caused by input.
    #[error("{0}")]
    Internal(String),
}

/// The AWS exceptions of custom key stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStoreFault {
    /// `CustomKeyStoreNotFoundException`: no store of that id or name.
    NotFound,
    /// `CustomKeyStoreNameInUseException`: the region holds a store of that name.
    NameInUse,
    /// `CustomKeyStoreInvalidStateException`: the store's connection state does not allow it.
    InvalidState,
    /// `CustomKeyStoreHasCMKsException`: a store that holds KMS keys cannot be deleted.
    HasKeys,
    /// `CloudHsmClusterNotFoundException`: no cluster (registered token) of that id.
    ClusterNotFound,
    /// `CloudHsmClusterInUseException`: another store uses the cluster.
    ClusterInUse,
    /// `CloudHsmClusterNotRelatedException`: a cluster that is not the store's.
    ClusterNotRelated,
    /// `CloudHsmClusterNotActiveException`: the cluster cannot be used now.
    ClusterNotActive,
    /// `CloudHsmClusterInvalidConfigurationException`: the cluster cannot serve a key store.
    ClusterInvalidConfiguration,
    /// `IncorrectTrustAnchorException`: the certificate is not the cluster's trust anchor.
    IncorrectTrustAnchor,
    /// `XksProxyUriInUseException`: another store uses the proxy's endpoint and path.
    XksProxyUriInUse,
    /// `XksProxyUriUnreachableException`: the proxy did not answer (down, refused, too slow).
    XksProxyUriUnreachable,
    /// `XksProxyIncorrectAuthenticationCredentialException`: the proxy refused the credential.
    XksProxyIncorrectAuthenticationCredential,
    /// `XksProxyInvalidResponseException`: the proxy's answer could not be understood.
    XksProxyInvalidResponse,
    /// `XksProxyInvalidConfigurationException`: the proxy's path or settings are wrong.
    XksProxyInvalidConfiguration,
    /// `XksKeyNotFoundException`: the proxy knows no external key of that id.
    XksKeyNotFound,
    /// `XksKeyInvalidConfigurationException`: the external key is not an enabled AES-256 key for
    /// encryption and decryption.
    XksKeyInvalidConfiguration,
    /// `XksKeyAlreadyInUseException`: another KMS key of the store uses the external key.
    XksKeyAlreadyInUse,
}

impl KeyStoreFault {
    /// Every fault, for reading one back by name.
    pub const ALL: [KeyStoreFault; 18] = [
        KeyStoreFault::XksProxyUriInUse,
        KeyStoreFault::XksProxyUriUnreachable,
        KeyStoreFault::XksProxyIncorrectAuthenticationCredential,
        KeyStoreFault::XksProxyInvalidResponse,
        KeyStoreFault::XksProxyInvalidConfiguration,
        KeyStoreFault::XksKeyNotFound,
        KeyStoreFault::XksKeyInvalidConfiguration,
        KeyStoreFault::XksKeyAlreadyInUse,
        KeyStoreFault::NotFound,
        KeyStoreFault::NameInUse,
        KeyStoreFault::InvalidState,
        KeyStoreFault::HasKeys,
        KeyStoreFault::ClusterNotFound,
        KeyStoreFault::ClusterInUse,
        KeyStoreFault::ClusterNotRelated,
        KeyStoreFault::ClusterNotActive,
        KeyStoreFault::ClusterInvalidConfiguration,
        KeyStoreFault::IncorrectTrustAnchor,
    ];

    /// The AWS exception name.
    pub fn aws_type(self) -> &'static str {
        match self {
            KeyStoreFault::NotFound => "CustomKeyStoreNotFoundException",
            KeyStoreFault::NameInUse => "CustomKeyStoreNameInUseException",
            KeyStoreFault::InvalidState => "CustomKeyStoreInvalidStateException",
            KeyStoreFault::HasKeys => "CustomKeyStoreHasCMKsException",
            KeyStoreFault::ClusterNotFound => "CloudHsmClusterNotFoundException",
            KeyStoreFault::ClusterInUse => "CloudHsmClusterInUseException",
            KeyStoreFault::ClusterNotRelated => "CloudHsmClusterNotRelatedException",
            KeyStoreFault::ClusterNotActive => "CloudHsmClusterNotActiveException",
            KeyStoreFault::ClusterInvalidConfiguration => {
                "CloudHsmClusterInvalidConfigurationException"
            }
            KeyStoreFault::IncorrectTrustAnchor => "IncorrectTrustAnchorException",
            KeyStoreFault::XksProxyUriInUse => "XksProxyUriInUseException",
            KeyStoreFault::XksProxyUriUnreachable => "XksProxyUriUnreachableException",
            KeyStoreFault::XksProxyIncorrectAuthenticationCredential => {
                "XksProxyIncorrectAuthenticationCredentialException"
            }
            KeyStoreFault::XksProxyInvalidResponse => "XksProxyInvalidResponseException",
            KeyStoreFault::XksProxyInvalidConfiguration => "XksProxyInvalidConfigurationException",
            KeyStoreFault::XksKeyNotFound => "XksKeyNotFoundException",
            KeyStoreFault::XksKeyInvalidConfiguration => "XksKeyInvalidConfigurationException",
            KeyStoreFault::XksKeyAlreadyInUse => "XksKeyAlreadyInUseException",
        }
    }
}

impl KmsError {
    /// The AWS exception name, as sent in the `__type` field of an AWS JSON error response.
    pub fn aws_type(&self) -> &'static str {
        match self {
            KmsError::NotFound(_) => "NotFoundException",
            KmsError::Disabled(_) => "DisabledException",
            KmsError::InvalidState(_) => "KMSInvalidStateException",
            KmsError::InvalidCiphertext(_) => "InvalidCiphertextException",
            KmsError::IncorrectKey(_) => "IncorrectKeyException",
            KmsError::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
            KmsError::InvalidImportToken(_) => "InvalidImportTokenException",
            KmsError::ExpiredImportToken(_) => "ExpiredImportTokenException",
            KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            KmsError::Validation(_) => "ValidationException",
            KmsError::InvalidAliasName(_) => "InvalidAliasNameException",
            KmsError::InvalidArn(_) => "InvalidArnException",
            KmsError::InvalidMarker(_) => "InvalidMarkerException",
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::LimitExceeded(_) => "LimitExceededException",
            KmsError::Tag(_) => "TagException",
            KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
            KmsError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            KmsError::AccessDenied(_) => "AccessDeniedException",
            KmsError::NotAuthorized(_) => "NotAuthorizedException",
            KmsError::InvalidGrantToken(_) => "InvalidGrantTokenException",
            KmsError::InvalidGrantId(_) => "InvalidGrantIdException",
            KmsError::DryRunOperation(_) => "DryRunOperationException",
            KmsError::Throttling(_) => "ThrottlingException",
            KmsError::InvalidSignature(_) => "KMSInvalidSignatureException",
            KmsError::InvalidMac(_) => "KMSInvalidMacException",
            KmsError::KeyStore(fault, _) => fault.aws_type(),
            KmsError::Internal(_) => "KMSInternalException",
        }
    }

    /// The error an AWS exception name stands for, carrying `message`: the inverse of
    /// [`aws_type`](Self::aws_type), for errors that come back across a boundary by name (a
    /// guest's `kms-error`). `None` for a name that is none of ours.
    ///
    /// ```
    /// use kms_core::KmsError;
    /// let err = KmsError::from_aws_type("UnsupportedOperationException", "No public key");
    /// assert_eq!(err, Some(KmsError::UnsupportedOperation("No public key".into())));
    /// assert_eq!(KmsError::from_aws_type("TeapotException", "short and stout"), None);
    /// ```
    pub fn from_aws_type(aws_type: &str, message: impl Into<String>) -> Option<Self> {
        let variant: fn(String) -> KmsError = match aws_type {
            "NotFoundException" => |m| KmsError::NotFound(Missing::Described(m)),
            "DisabledException" => KmsError::Disabled,
            "KMSInvalidStateException" => KmsError::InvalidState,
            "InvalidCiphertextException" => KmsError::InvalidCiphertext,
            "IncorrectKeyException" => KmsError::IncorrectKey,
            "IncorrectKeyMaterialException" => KmsError::IncorrectKeyMaterial,
            "InvalidImportTokenException" => KmsError::InvalidImportToken,
            "ExpiredImportTokenException" => KmsError::ExpiredImportToken,
            "InvalidKeyUsageException" => KmsError::InvalidKeyUsage,
            "ValidationException" => |m| KmsError::Validation(Invalid::from(m)),
            "InvalidAliasNameException" => KmsError::InvalidAliasName,
            "InvalidArnException" => KmsError::InvalidArn,
            "InvalidMarkerException" => KmsError::InvalidMarker,
            "AlreadyExistsException" => KmsError::AlreadyExists,
            "LimitExceededException" => KmsError::LimitExceeded,
            "TagException" => KmsError::Tag,
            "UnsupportedOperationException" => KmsError::UnsupportedOperation,
            "MalformedPolicyDocumentException" => KmsError::MalformedPolicyDocument,
            "AccessDeniedException" => KmsError::AccessDenied,
            "NotAuthorizedException" => KmsError::NotAuthorized,
            "InvalidGrantTokenException" => KmsError::InvalidGrantToken,
            "InvalidGrantIdException" => KmsError::InvalidGrantId,
            "DryRunOperationException" => KmsError::DryRunOperation,
            "ThrottlingException" => KmsError::Throttling,
            "KMSInvalidSignatureException" => KmsError::InvalidSignature,
            "KMSInvalidMacException" => KmsError::InvalidMac,
            "KMSInternalException" => KmsError::Internal,
            other => {
                let fault = KeyStoreFault::ALL
                    .into_iter()
                    .find(|f| f.aws_type() == other)?;
                return Some(KmsError::KeyStore(fault, message.into()));
            }
        };
        Some(variant(message.into()))
    }

    /// The human-readable message.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            KmsError::NotFound(missing) => Cow::Owned(missing.to_string()),
            KmsError::Validation(invalid) => Cow::Borrowed(&invalid.problem),
            KmsError::Disabled(m)
            | KmsError::InvalidState(m)
            | KmsError::InvalidCiphertext(m)
            | KmsError::IncorrectKey(m)
            | KmsError::IncorrectKeyMaterial(m)
            | KmsError::InvalidImportToken(m)
            | KmsError::ExpiredImportToken(m)
            | KmsError::InvalidKeyUsage(m)
            | KmsError::InvalidAliasName(m)
            | KmsError::InvalidArn(m)
            | KmsError::InvalidMarker(m)
            | KmsError::AlreadyExists(m)
            | KmsError::LimitExceeded(m)
            | KmsError::Tag(m)
            | KmsError::UnsupportedOperation(m)
            | KmsError::MalformedPolicyDocument(m)
            | KmsError::AccessDenied(m)
            | KmsError::NotAuthorized(m)
            | KmsError::Throttling(m)
            | KmsError::InvalidSignature(m)
            | KmsError::InvalidMac(m)
            | KmsError::InvalidGrantToken(m)
            | KmsError::InvalidGrantId(m)
            | KmsError::DryRunOperation(m)
            | KmsError::KeyStore(_, m)
            | KmsError::Internal(m) => Cow::Borrowed(m),
        }
    }

    /// A request that lacks a parameter this use of it needs (`SigningAlgorithm`, …).
    pub fn required(parameter: &'static str) -> Self {
        KmsError::invalid(parameter, format!("{parameter} is required"))
    }

    /// A parameter that is malformed or out of range: `parameter` as the API names it,
    /// `problem` a sentence that names it.
    ///
    /// ```
    /// use kms_core::KmsError;
    /// let err = KmsError::invalid("NumberOfBytes", "NumberOfBytes 0 is out of range".into());
    /// let KmsError::Validation(invalid) = &err else { unreachable!() };
    /// assert_eq!(invalid.parameter, "NumberOfBytes");
    /// assert_eq!(err.to_string(), "NumberOfBytes 0 is out of range");
    /// ```
    pub fn invalid(parameter: impl Into<Cow<'static, str>>, problem: String) -> Self {
        KmsError::Validation(Invalid {
            parameter: parameter.into(),
            problem,
        })
    }

    /// A pagination marker this service did not issue (or issued for another list).
    pub fn invalid_marker(marker: &str) -> Self {
        KmsError::InvalidMarker(format!("Marker '{marker}' is not valid"))
    }

    /// A key that does not exist, or that the caller may not know of, named as the request
    /// named it (id, ARN or alias).
    pub fn key_not_found(key: impl fmt::Display) -> Self {
        KmsError::NotFound(Missing::Key(key.to_string()))
    }

    /// An alias that does not exist, by its ARN or name.
    pub fn alias_not_found(alias: impl fmt::Display) -> Self {
        KmsError::NotFound(Missing::Alias(alias.to_string()))
    }

    /// An account the vault does not know.
    pub fn account_not_found(account: &str) -> Self {
        KmsError::NotFound(Missing::Account(account.into()))
    }

    /// A principal (user or role) that does not exist.
    pub fn principal_not_found(arn: &str) -> Self {
        KmsError::NotFound(Missing::Principal(arn.into()))
    }

    /// An access key that does not exist.
    pub fn access_key_not_found(access_key_id: &str) -> Self {
        KmsError::NotFound(Missing::AccessKey(access_key_id.into()))
    }

    /// A grant that does not exist.
    pub fn grant_not_found(grant_id: &str) -> Self {
        KmsError::NotFound(Missing::Grant(grant_id.into()))
    }

    /// The one error every failed decryption returns, whatever the cause.
    pub fn invalid_ciphertext() -> Self {
        KmsError::InvalidCiphertext(
            "The ciphertext is invalid, was altered, or does not match the encryption context or key"
                .into(),
        )
    }
}

impl fmt::Debug for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.aws_type(), self.message())
    }
}

/// Which request parameter a `ValidationException` is about, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The parameter as the API names it (`NumberOfBytes`, `KeyId`, `PolicyName`); for input
    /// that is no request parameter, what it is (`root key file`, `capability grant`); empty
    /// when the error came back by name only, from a component.
    pub parameter: Cow<'static, str>,
    /// What is wrong, as a sentence that names the parameter.
    pub problem: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl From<String> for Invalid {
    /// A problem whose parameter is not known (an error a component reported by name).
    fn from(problem: String) -> Self {
        Invalid {
            parameter: Cow::Borrowed(""),
            problem,
        }
    }
}

impl From<&str> for Invalid {
    fn from(problem: &str) -> Self {
        Invalid::from(problem.to_string())
    }
}

/// What a `NotFoundException` is about. Each message is written here, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A key, named as the request named it (id, ARN or alias).
    Key(String),
    /// Text that is no key id at all.
    MalformedKeyId(String),
    /// An alias, by its ARN or name.
    Alias(String),
    /// An account the vault does not know.
    Account(String),
    /// A user or role, by its ARN.
    Principal(String),
    /// An access key, by its id.
    AccessKey(String),
    /// A grant, by its id.
    Grant(String),
    /// A grant that exists, but not on the key the request named.
    GrantOfKey {
        /// The grant id the request named.
        grant_id: String,
        /// The ARN of the key the request named.
        key_arn: String,
    },
    /// An identity policy of a principal.
    PrincipalPolicy {
        /// The principal's ARN.
        arn: String,
        /// The policy's name.
        policy_name: String,
    },
    /// A policy plugin attachment.
    Plugin {
        /// `key/<id>` or `account/<id>`.
        scope: String,
        /// The attachment's name.
        name: String,
    },
    /// Something a component reported missing, in its own words.
    Described(String),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Key(key) => write!(f, "Key '{key}' does not exist"),
            Missing::MalformedKeyId(text) => write!(f, "Invalid keyId '{text}'"),
            Missing::Alias(alias) => write!(f, "Alias {alias} is not found."),
            Missing::Account(account) => write!(f, "Account {account} does not exist"),
            Missing::Principal(arn) => write!(f, "The principal '{arn}' does not exist"),
            Missing::AccessKey(id) => write!(f, "The access key '{id}' does not exist"),
            Missing::Grant(id) => write!(f, "Grant '{id}' does not exist"),
            Missing::GrantOfKey { grant_id, key_arn } => {
                write!(f, "Grant '{grant_id}' does not exist for {key_arn}")
            }
            Missing::PrincipalPolicy { arn, policy_name } => {
                write!(f, "'{arn}' has no policy named '{policy_name}'")
            }
            Missing::Plugin { scope, name } => {
                write!(f, "No policy plugin named '{name}' is attached to {scope}")
            }
            Missing::Described(message) => f.write_str(message),
        }
    }
}

/// Result of a KMS operation.
pub type KmsResult<T> = Result<T, KmsError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every variant. The match has no wildcard, so a new variant does not compile
    /// until it is handled there, which is the reminder to list it here too.
    fn one_of_each() -> Vec<KmsError> {
        let mut all: Vec<KmsError> = [
            |m| KmsError::NotFound(Missing::Described(m)),
            KmsError::Disabled,
            KmsError::InvalidState,
            KmsError::InvalidCiphertext,
            KmsError::IncorrectKey,
            KmsError::IncorrectKeyMaterial,
            KmsError::InvalidImportToken,
            KmsError::ExpiredImportToken,
            KmsError::InvalidKeyUsage,
            |m| KmsError::Validation(Invalid::from(m)),
            KmsError::InvalidAliasName,
            KmsError::InvalidArn,
            KmsError::InvalidMarker,
            KmsError::AlreadyExists,
            KmsError::LimitExceeded,
            KmsError::Tag,
            KmsError::UnsupportedOperation,
            KmsError::MalformedPolicyDocument,
            KmsError::AccessDenied,
            KmsError::NotAuthorized,
            KmsError::InvalidGrantToken,
            KmsError::InvalidGrantId,
            KmsError::DryRunOperation,
            KmsError::Throttling,
            KmsError::InvalidSignature,
            KmsError::InvalidMac,
            KmsError::Internal,
        ]
        .into_iter()
        .map(|variant: fn(String) -> KmsError| variant("m".into()))
        .collect();
        all.extend(
            KeyStoreFault::ALL
                .into_iter()
                .map(|fault| KmsError::KeyStore(fault, "m".into())),
        );
        for error in &all {
            match error {
                KmsError::NotFound(_)
                | KmsError::Disabled(_)
                | KmsError::InvalidState(_)
                | KmsError::InvalidCiphertext(_)
                | KmsError::IncorrectKey(_)
                | KmsError::IncorrectKeyMaterial(_)
                | KmsError::InvalidImportToken(_)
                | KmsError::ExpiredImportToken(_)
                | KmsError::InvalidKeyUsage(_)
                | KmsError::Validation(_)
                | KmsError::InvalidAliasName(_)
                | KmsError::InvalidArn(_)
                | KmsError::InvalidMarker(_)
                | KmsError::AlreadyExists(_)
                | KmsError::LimitExceeded(_)
                | KmsError::Tag(_)
                | KmsError::UnsupportedOperation(_)
                | KmsError::MalformedPolicyDocument(_)
                | KmsError::AccessDenied(_)
                | KmsError::NotAuthorized(_)
                | KmsError::InvalidGrantToken(_)
                | KmsError::InvalidGrantId(_)
                | KmsError::DryRunOperation(_)
                | KmsError::Throttling(_)
                | KmsError::InvalidSignature(_)
                | KmsError::InvalidMac(_)
                | KmsError::KeyStore(..)
                | KmsError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_error_is_found_again_by_its_aws_name() {
        for error in one_of_each() {
            assert_eq!(
                KmsError::from_aws_type(error.aws_type(), error.message()),
                Some(error.clone()),
                "{error:?}"
            );
        }
    }

    #[test]
    fn every_error_has_its_own_aws_name() {
        let names: std::collections::BTreeSet<&str> =
            one_of_each().iter().map(KmsError::aws_type).collect();
        assert_eq!(names.len(), one_of_each().len());
    }
}
