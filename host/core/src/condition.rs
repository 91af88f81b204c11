//! The condition keys AWS KMS sets from a request's own parameters, by their IAM names. Which
//! operation carries which is said once, in the table of [`Operation`](crate::Operation)
//! ([`Operation::condition_keys`](crate::Operation::condition_keys)); the keys every request
//! carries (`kms:CallerAccount`, `kms:ViaService`, `aws:PrincipalArn`, …) and those of the key
//! a request acts on (`kms:KeySpec`, `aws:ResourceTag/<key>`, …) are not listed there.
//!
//! Sources: AWS's Service Authorization Reference ("Actions, resources, and condition keys for
//! AWS Key Management Service") and the KMS developer guide's "AWS KMS condition keys".

use std::fmt;

macro_rules! condition_keys {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $name:literal
    ),+ $(,)?) => {
        /// A condition key of a request parameter. Two of them name a family: one key per
        /// encryption context pair ([`EncryptionContext`](ConditionKey::EncryptionContext),
        /// `kms:EncryptionContext:<context key>`) and one per tag of the request
        /// ([`RequestTag`](ConditionKey::RequestTag), `aws:RequestTag/<tag key>`).
        ///
        /// ```
        /// use kms_core::ConditionKey;
        /// assert_eq!(ConditionKey::MessageType.name(), "kms:MessageType");
        /// assert_eq!(ConditionKey::of("KMS:EncryptionContext:Tenant"), Some(ConditionKey::EncryptionContext));
        /// assert_eq!(ConditionKey::EncryptionContext.with_suffix("Tenant"), "kms:EncryptionContext:Tenant");
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ConditionKey {
            $($(#[doc = $doc])* $variant),+
        }

        impl ConditionKey {
            /// Every key.
            pub const ALL: &'static [ConditionKey] = &[$(ConditionKey::$variant),+];

            /// The IAM name; for a family, its prefix (`kms:EncryptionContext:`).
            pub fn name(self) -> &'static str {
                match self {
                    $(ConditionKey::$variant => $name),+
                }
            }
        }
    };
}

condition_keys! {
    /// `BypassPolicyLockoutSafetyCheck` of CreateKey and PutKeyPolicy, when the request has it.
    BypassPolicyLockoutSafetyCheck = "kms:BypassPolicyLockoutSafetyCheck",
    /// The deprecated name of [`KeySpec`](ConditionKey::KeySpec), kept working as AWS keeps it.
    CustomerMasterKeySpec = "kms:CustomerMasterKeySpec",
    /// The deprecated name of [`KeyUsage`](ConditionKey::KeyUsage).
    CustomerMasterKeyUsage = "kms:CustomerMasterKeyUsage",
    /// `KeyPairSpec` of GenerateDataKeyPair*.
    DataKeyPairSpec = "kms:DataKeyPairSpec",
    /// The encryption algorithm the operation uses, named in the request or its default.
    EncryptionAlgorithm = "kms:EncryptionAlgorithm",
    /// One key per encryption context pair: `kms:EncryptionContext:<context key>`.
    EncryptionContext = "kms:EncryptionContext:",
    /// The keys of the encryption context (multivalued).
    EncryptionContextKeys = "kms:EncryptionContextKeys",
    /// `ExpirationModel` of ImportKeyMaterial, when the request has it.
    ExpirationModel = "kms:ExpirationModel",
    /// The grant constraint's type: `EncryptionContextEquals` or `EncryptionContextSubset`.
    GrantConstraintType = "kms:GrantConstraintType",
    /// Whether an AWS service makes the grant request for the caller.
    GrantIsForAwsResource = "kms:GrantIsForAWSResource",
    /// The operations of the grant being created (multivalued).
    GrantOperations = "kms:GrantOperations",
    /// `GranteePrincipal` of CreateGrant.
    GranteePrincipal = "kms:GranteePrincipal",
    /// `KeyAgreementAlgorithm` of DeriveSharedSecret.
    KeyAgreementAlgorithm = "kms:KeyAgreementAlgorithm",
    /// The origin of the key CreateKey makes (for other operations, a property of the key).
    KeyOrigin = "kms:KeyOrigin",
    /// The spec of the key CreateKey makes (for other operations, a property of the key).
    KeySpec = "kms:KeySpec",
    /// The usage of the key CreateKey makes (for other operations, a property of the key).
    KeyUsage = "kms:KeyUsage",
    /// `MacAlgorithm` of GenerateMac and VerifyMac.
    MacAlgorithm = "kms:MacAlgorithm",
    /// `MessageType` of Sign and Verify, named in the request or its default (`RAW`).
    MessageType = "kms:MessageType",
    /// Whether the key CreateKey makes is multi-Region (for other operations, of the key).
    MultiRegion = "kms:MultiRegion",
    /// `PRIMARY` for a multi-Region key CreateKey makes (for other operations, of the key).
    MultiRegionKeyType = "kms:MultiRegionKeyType",
    /// `PrimaryRegion` of UpdatePrimaryRegion.
    PrimaryRegion = "kms:PrimaryRegion",
    /// Whether ReEncrypt's source and destination key are the same key.
    ReEncryptOnSameKey = "kms:ReEncryptOnSameKey",
    /// `ReplicaRegion` of ReplicateKey.
    ReplicaRegion = "kms:ReplicaRegion",
    /// The alias name the request named its key by (`KeyId` an alias name or alias ARN).
    RequestAlias = "kms:RequestAlias",
    /// `RetiringPrincipal` of CreateGrant, when the request has it.
    RetiringPrincipal = "kms:RetiringPrincipal",
    /// `RotationPeriodInDays` of EnableKeyRotation, named in the request or its default.
    RotationPeriodInDays = "kms:RotationPeriodInDays",
    /// `PendingWindowInDays` of ScheduleKeyDeletion, named in the request or its default.
    ScheduleKeyDeletionPendingWindowInDays = "kms:ScheduleKeyDeletionPendingWindowInDays",
    /// `SigningAlgorithm` of Sign and Verify.
    SigningAlgorithm = "kms:SigningAlgorithm",
    /// Whole days since the key was last used for a successful cryptographic operation (or,
    /// never used, since its uses are tracked).
    TrailingDaysWithoutKeyUsage = "kms:TrailingDaysWithoutKeyUsage",
    /// `ValidTo` of ImportKeyMaterial (seconds since the epoch), when the request has it.
    ValidTo = "kms:ValidTo",
    /// `WrappingAlgorithm` of GetParametersForImport.
    WrappingAlgorithm = "kms:WrappingAlgorithm",
    /// `WrappingKeySpec` of GetParametersForImport.
    WrappingKeySpec = "kms:WrappingKeySpec",
    /// One key per tag of the request: `aws:RequestTag/<tag key>`.
    RequestTag = "aws:RequestTag/",
    /// The tag keys of the request (multivalued).
    TagKeys = "aws:TagKeys",
}

impl ConditionKey {
    /// Whether the key is a family with one member per context pair or tag.
    pub fn is_family(self) -> bool {
        matches!(
            self,
            ConditionKey::EncryptionContext | ConditionKey::RequestTag
        )
    }

    /// The member of a family for `suffix` (`kms:EncryptionContext:Tenant`).
    pub fn with_suffix(self, suffix: &str) -> String {
        debug_assert!(self.is_family(), "{self} names no family");
        format!("{}{suffix}", self.name())
    }

    /// The key a condition key name belongs to, read as IAM reads names: case-insensitively.
    /// `None` for keys that no request parameter sets (`kms:CallerAccount`, `aws:PrincipalArn`).
    pub fn of(name: &str) -> Option<ConditionKey> {
        ConditionKey::ALL.iter().copied().find(|key| {
            let prefix = key.name();
            if key.is_family() {
                name.len() > prefix.len()
                    && name.is_char_boundary(prefix.len())
                    && name[..prefix.len()].eq_ignore_ascii_case(prefix)
            } else {
                name.eq_ignore_ascii_case(prefix)
            }
        })
    }
}

impl fmt::Display for ConditionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_key_in_any_case() {
        for key in ConditionKey::ALL {
            let name = if key.is_family() {
                key.with_suffix("Tenant")
            } else {
                key.name().to_string()
            };
            assert_eq!(ConditionKey::of(&name), Some(*key), "{name}");
            assert_eq!(ConditionKey::of(&name.to_ascii_uppercase()), Some(*key));
        }
    }

    #[test]
    fn a_family_prefix_alone_and_keys_set_by_no_parameter_are_no_request_key() {
        assert_eq!(ConditionKey::of("kms:EncryptionContext:"), None);
        assert_eq!(ConditionKey::of("kms:CallerAccount"), None);
        assert_eq!(ConditionKey::of("kms:EncryptionContextKeysX"), None);
    }
}
