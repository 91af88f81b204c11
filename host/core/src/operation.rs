//! Every operation the service knows, once: its AWS name, its IAM action, how request quotas
//! count it, whether a grant can allow it, whether it takes an encryption context, whether it
//! uses key material and which condition keys its requests carry. The HTTP table, grants,
//! authorization, quotas and `kms analyze` read this list; none keeps its own.

use std::fmt;
use std::str::FromStr;

use crate::condition::ConditionKey;

/// How AWS KMS shares request-rate quotas among operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaClass {
    /// Counted by the type of the key it uses (symmetric, RSA, ECC, HMAC).
    ByKeyType,
    /// Counted with symmetric cryptographic operations although it uses no key (GenerateRandom).
    Symmetric,
    /// Creating, describing, listing, tagging, policies, grants …
    Management,
}

macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident { quota: $quota:ident, grantable: $grantable:literal, context: $context:literal,
                         crypto: $crypto:literal, served: $served:literal, keys: [$($key:ident),*] }
    ),+ $(,)?) => {
        /// A KMS operation (or, for [`ReEncryptFrom`](Operation::ReEncryptFrom) and
        /// [`ReEncryptTo`](Operation::ReEncryptTo), a permission that only grants and policies
        /// name).
        ///
        /// ```
        /// use kms_core::Operation;
        /// let op: Operation = "GenerateDataKey".parse().unwrap();
        /// assert_eq!(op.iam_action(), "kms:GenerateDataKey");
        /// assert!(op.grantable() && op.takes_context() && op.cryptographic());
        /// assert!("Fly".parse::<Operation>().is_err());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Operation {
            $($(#[doc = $doc])* $variant),+
        }

        impl Operation {
            /// Every operation, in the order of AWS's grant operations where they are grantable.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The AWS name (`Encrypt`), as in `X-Amz-Target` and in the audit trail.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$variant => stringify!($variant)),+
                }
            }

            /// The IAM action that authorizes it (`kms:Encrypt`).
            pub fn iam_action(self) -> &'static str {
                match self {
                    $(Operation::$variant => concat!("kms:", stringify!($variant))),+
                }
            }

            /// How request-rate quotas count it.
            pub fn quota_class(self) -> QuotaClass {
                match self {
                    $(Operation::$variant => QuotaClass::$quota),+
                }
            }

            /// Whether a grant may allow it.
            pub fn grantable(self) -> bool {
                match self {
                    $(Operation::$variant => $grantable),+
                }
            }

            /// Whether it takes an encryption context (which grant constraints then bind).
            pub fn takes_context(self) -> bool {
                match self {
                    $(Operation::$variant => $context),+
                }
            }

            /// Whether it uses a key's material: what `kms analyze` counts as use of a key.
            pub fn cryptographic(self) -> bool {
                match self {
                    $(Operation::$variant => $crypto),+
                }
            }

            /// Whether the API serves it (false for the ReEncrypt permissions).
            pub fn served(self) -> bool {
                match self {
                    $(Operation::$variant => $served),+
                }
            }

            /// The condition keys its requests carry from their own parameters, as AWS's
            /// Service Authorization Reference lists them for the IAM action; a request sets
            /// each one it has a value for (an optional parameter left out sets none, unless
            /// AWS evaluates its default). Besides these, every request carries
            /// `kms:CallerAccount`, `kms:ViaService` and the `aws:` keys of its caller, and one
            /// on a key the key's own condition keys.
            ///
            /// ```
            /// use kms_core::{ConditionKey, Operation};
            /// assert!(Operation::Sign.condition_keys().contains(&ConditionKey::SigningAlgorithm));
            /// assert!(!Operation::EnableKey.condition_keys().contains(&ConditionKey::RequestAlias));
            /// ```
            pub fn condition_keys(self) -> &'static [ConditionKey] {
                match self {
                    $(Operation::$variant => &[$(ConditionKey::$key),*]),+
                }
            }
        }
    };
}

operations! {
    /// Decrypt a ciphertext.
    Decrypt { quota: ByKeyType, grantable: true, context: true, crypto: true, served: true, keys: [EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, RequestAlias] },
    /// Encrypt up to 4096 bytes.
    Encrypt { quota: ByKeyType, grantable: true, context: true, crypto: true, served: true, keys: [EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, RequestAlias] },
    /// A data key, in plaintext and encrypted.
    GenerateDataKey { quota: ByKeyType, grantable: true, context: true, crypto: true, served: true, keys: [EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, RequestAlias] },
    /// A data key, encrypted only.
    GenerateDataKeyWithoutPlaintext { quota: ByKeyType, grantable: true, context: true, crypto: true, served: true, keys: [EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, RequestAlias] },
    /// The permission to re-encrypt from a key.
    ReEncryptFrom { quota: ByKeyType, grantable: true, context: true, crypto: true, served: false, keys: [EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, ReEncryptOnSameKey, RequestAlias] },
    /// The permission to re-encrypt to a key.
    ReEncryptTo { quota: ByKeyType, grantable: true, context: true, crypto: true, served: false, keys: [EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, ReEncryptOnSameKey, RequestAlias] },
    /// Sign a message or digest.
    Sign { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [MessageType, RequestAlias, SigningAlgorithm] },
    /// Verify a signature.
    Verify { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [MessageType, RequestAlias, SigningAlgorithm] },
    /// The public key of a key pair.
    GetPublicKey { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [RequestAlias] },
    /// Create a grant.
    CreateGrant { quota: Management, grantable: true, context: false, crypto: false, served: true, keys: [EncryptionContext, EncryptionContextKeys, GrantConstraintType, GrantIsForAwsResource, GrantOperations, GranteePrincipal, RetiringPrincipal] },
    /// Retire a grant.
    RetireGrant { quota: Management, grantable: true, context: false, crypto: false, served: true, keys: [EncryptionContext, EncryptionContextKeys, GrantConstraintType] },
    /// Describe a key.
    DescribeKey { quota: Management, grantable: true, context: false, crypto: false, served: true, keys: [RequestAlias] },
    /// A data key pair, the private key in plaintext and encrypted.
    GenerateDataKeyPair { quota: ByKeyType, grantable: true, context: true, crypto: true, served: true, keys: [DataKeyPairSpec, EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, RequestAlias] },
    /// A data key pair, the private key encrypted only.
    GenerateDataKeyPairWithoutPlaintext { quota: ByKeyType, grantable: true, context: true, crypto: true, served: true, keys: [DataKeyPairSpec, EncryptionAlgorithm, EncryptionContext, EncryptionContextKeys, RequestAlias] },
    /// An HMAC of a message.
    GenerateMac { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [MacAlgorithm, RequestAlias] },
    /// Verify an HMAC.
    VerifyMac { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [MacAlgorithm, RequestAlias] },
    /// ECDH with a key pair.
    DeriveSharedSecret { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [KeyAgreementAlgorithm, RequestAlias] },
    /// A fresh ML-KEM shared secret and its encapsulation under a key's public key.
    Encapsulate { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [RequestAlias] },
    /// Recover an ML-KEM shared secret with a key's private key.
    Decapsulate { quota: ByKeyType, grantable: true, context: false, crypto: true, served: true, keys: [RequestAlias] },
    /// Decrypt, then encrypt under another key.
    ReEncrypt { quota: ByKeyType, grantable: false, context: true, crypto: true, served: true, keys: [] },
    /// Create a key.
    CreateKey { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [BypassPolicyLockoutSafetyCheck, CustomerMasterKeySpec, CustomerMasterKeyUsage, KeyOrigin, KeySpec, KeyUsage, MultiRegion, MultiRegionKeyType, RequestTag, TagKeys] },
    /// List keys.
    ListKeys { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Change a key's description.
    UpdateKeyDescription { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Enable a key.
    EnableKey { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Disable a key.
    DisableKey { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [TrailingDaysWithoutKeyUsage] },
    /// Schedule a key's deletion.
    ScheduleKeyDeletion { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [ScheduleKeyDeletionPendingWindowInDays, TrailingDaysWithoutKeyUsage] },
    /// Cancel a key's deletion.
    CancelKeyDeletion { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Tag a key.
    TagResource { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [RequestTag, TagKeys] },
    /// Untag a key.
    UntagResource { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [TagKeys] },
    /// A key's tags.
    ListResourceTags { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Create an alias.
    CreateAlias { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Point an alias at another key.
    UpdateAlias { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Delete an alias.
    DeleteAlias { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// List aliases.
    ListAliases { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Random bytes.
    GenerateRandom { quota: Symmetric, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Turn automatic rotation on.
    EnableKeyRotation { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [RotationPeriodInDays] },
    /// Turn automatic rotation off.
    DisableKeyRotation { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Whether automatic rotation is on.
    GetKeyRotationStatus { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Make a replica of a multi-Region primary key in another region.
    ReplicateKey { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [ReplicaRegion] },
    /// Make another region's replica of a multi-Region key its primary.
    UpdatePrimaryRegion { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [PrimaryRegion] },
    /// Rotate now.
    RotateKeyOnDemand { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// A key's rotations.
    ListKeyRotations { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// A key policy.
    GetKeyPolicy { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Replace a key policy.
    PutKeyPolicy { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [BypassPolicyLockoutSafetyCheck] },
    /// A key's policy names.
    ListKeyPolicies { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// A key's grants.
    ListGrants { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [GrantIsForAwsResource] },
    /// The grants a principal may retire.
    ListRetirableGrants { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Revoke a grant.
    RevokeGrant { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [GrantIsForAwsResource] },
    /// The last successful cryptographic use of a key (not grantable, as in AWS).
    GetKeyLastUsage { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// The wrapping public key and import token for importing key material.
    GetParametersForImport { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [WrappingAlgorithm, WrappingKeySpec] },
    /// Import key material into a key of EXTERNAL origin.
    ImportKeyMaterial { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [ExpirationModel, ValidTo] },
    /// Delete a key's imported key material (crypto erasure).
    DeleteImportedKeyMaterial { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Create a custom key store.
    CreateCustomKeyStore { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Describe custom key stores.
    DescribeCustomKeyStores { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Change a custom key store's name, password or cluster.
    UpdateCustomKeyStore { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Delete a custom key store that holds no keys.
    DeleteCustomKeyStore { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Connect a custom key store.
    ConnectCustomKeyStore { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Disconnect a custom key store.
    DisconnectCustomKeyStore { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// A filtered page of the audit trail (this service's own operation).
    LookupAuditEvents { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Check the audit trail's chain (this service's own operation).
    VerifyAuditTrail { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Attach a policy plugin (this service's own operation).
    AttachPolicyPlugin { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// Detach a policy plugin (this service's own operation).
    DetachPolicyPlugin { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
    /// A key's or the account's policy plugins (this service's own operation).
    ListPolicyPlugins { quota: Management, grantable: false, context: false, crypto: false, served: true, keys: [] },
}

impl Operation {
    /// The operation an IAM action (`kms:Encrypt`) names, if it names one.
    pub fn from_iam_action(action: &str) -> Option<Operation> {
        action.strip_prefix("kms:")?.parse().ok()
    }

    /// Every operation a grant may allow.
    pub fn grantable_operations() -> impl Iterator<Item = Operation> {
        Operation::ALL.iter().copied().filter(|op| op.grantable())
    }
}

impl FromStr for Operation {
    type Err = UnknownOperation;

    /// Reads an AWS operation name, exactly as AWS spells it.
    fn from_str(name: &str) -> Result<Self, UnknownOperation> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.name() == name)
            .ok_or_else(|| UnknownOperation(name.to_string()))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no operation of this service.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an operation of this service")]
pub struct UnknownOperation(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_operation() {
        for op in Operation::ALL {
            assert_eq!(op.name().parse::<Operation>().unwrap(), *op);
            assert_eq!(Operation::from_iam_action(op.iam_action()), Some(*op));
        }
        assert_eq!(Operation::from_iam_action("iam:CreateUser"), None);
        assert!("encrypt".parse::<Operation>().is_err());
    }

    #[test]
    fn the_grant_operations_are_awss_nineteen() {
        let names: Vec<&str> = Operation::grantable_operations()
            .map(Operation::name)
            .collect();
        assert_eq!(
            names,
            [
                "Decrypt",
                "Encrypt",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "ReEncryptFrom",
                "ReEncryptTo",
                "Sign",
                "Verify",
                "GetPublicKey",
                "CreateGrant",
                "RetireGrant",
                "DescribeKey",
                "GenerateDataKeyPair",
                "GenerateDataKeyPairWithoutPlaintext",
                "GenerateMac",
                "VerifyMac",
                "DeriveSharedSecret",
                "Encapsulate",
                "Decapsulate",
            ]
        );
    }

    #[test]
    fn the_api_serves_56_aws_operations_and_5_of_its_own() {
        assert_eq!(Operation::ALL.iter().filter(|op| op.served()).count(), 61);
    }

    #[test]
    fn cryptographic_operations_are_those_quota_counts_by_key_type() {
        for op in Operation::ALL {
            assert_eq!(
                op.cryptographic(),
                op.quota_class() == QuotaClass::ByKeyType,
                "{op}"
            );
        }
    }
}
