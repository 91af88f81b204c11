//! The KMS vocabulary shared by every part of the host: key ids and ARNs, key specs, usages and
//! states, encryption context. Plain values with validation at construction; no storage, no crypto.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{KmsError, KmsResult, Missing};

/// A KMS key id: a UUID, written in its lowercase hyphenated form
/// (`1234abcd-12ab-34cd-56ef-1234567890ab`), or for a multi-Region key `mrk-` followed by the
/// UUID's 32 lowercase hex digits (`mrk-1234abcd12ab34cd56ef1234567890ab`). Related
/// multi-Region keys in different regions share one id.
///
/// ```
/// use kms_core::KeyId;
/// let id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
/// assert_eq!(id.to_string(), "1234abcd-12ab-34cd-56ef-1234567890ab");
/// let mrk: KeyId = "mrk-1234abcd12ab34cd56ef1234567890ab".parse().unwrap();
/// assert!(mrk.is_multi_region());
/// assert_eq!(mrk.to_string(), "mrk-1234abcd12ab34cd56ef1234567890ab");
/// assert!("not-a-key".parse::<KeyId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId {
    // Field order makes the derived order the text order: every UUID id sorts before every
    // `mrk-` id, and within each kind the hex digits decide.
    multi_region: bool,
    uuid: uuid::Uuid,
}

impl KeyId {
    /// A fresh random (single-Region) key id.
    pub fn random() -> Self {
        KeyId {
            uuid: uuid::Uuid::new_v4(),
            multi_region: false,
        }
    }

    /// A fresh random multi-Region key id (`mrk-…`).
    pub fn random_multi_region() -> Self {
        KeyId {
            uuid: uuid::Uuid::new_v4(),
            multi_region: true,
        }
    }

    /// Whether this is the id of a multi-Region key (`mrk-…`).
    pub fn is_multi_region(&self) -> bool {
        self.multi_region
    }

    /// The 16 bytes of the id, as written into ciphertext blobs (which record
    /// [`is_multi_region`](Self::is_multi_region) beside them).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.uuid.as_bytes()
    }

    /// The id from the 16 bytes written into a ciphertext blob.
    pub fn from_bytes(bytes: [u8; 16], multi_region: bool) -> Self {
        KeyId {
            uuid: uuid::Uuid::from_bytes(bytes),
            multi_region,
        }
    }
}

impl FromStr for KeyId {
    type Err = KmsError;

    fn from_str(s: &str) -> KmsResult<Self> {
        let malformed = || KmsError::NotFound(Missing::MalformedKeyId(s.into()));
        // Only the canonical forms are key ids; AWS rejects braces, URNs and upper case.
        if let Some(hex) = s.strip_prefix("mrk-") {
            if hex.len() != 32
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(malformed());
            }
            return uuid::Uuid::parse_str(hex)
                .map(|uuid| KeyId {
                    uuid,
                    multi_region: true,
                })
                .map_err(|_| malformed());
        }
        if s.len() != 36 {
            return Err(malformed());
        }
        uuid::Uuid::parse_str(s)
            .map(|uuid| KeyId {
                uuid,
                multi_region: false,
            })
            .map_err(|_| malformed())
    }
}

impl TryFrom<String> for KeyId {
    type Error = KmsError;
    fn try_from(s: String) -> KmsResult<Self> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.to_string()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.multi_region {
            write!(f, "mrk-{}", self.uuid.simple())
        } else {
            write!(f, "{}", self.uuid.hyphenated())
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

macro_rules! aws_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $aws:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $aws, "`")] #[serde(rename = $aws)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name AWS uses on the wire.
            pub fn as_aws_str(&self) -> &'static str {
                match self { $($name::$variant => $aws),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_aws_str())
            }
        }

        impl FromStr for $name {
            type Err = KmsError;
            fn from_str(s: &str) -> KmsResult<Self> {
                match s {
                    $($aws => Ok($name::$variant),)+
                    other => Err(KmsError::invalid(stringify!($name), format!(
                        "'{other}' is not a valid {}; expected one of: {}",
                        stringify!($name),
                        [$($aws),+].join(", ")
                    ))),
                }
            }
        }
    };
}

aws_enum!(
    /// The type of key material, as AWS names it.
    KeySpec {
        /// AES-256-GCM symmetric key.
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        Hmac224 = "HMAC_224",
        Hmac256 = "HMAC_256",
        Hmac384 = "HMAC_384",
        Hmac512 = "HMAC_512",
        MlDsa44 = "ML_DSA_44",
        MlDsa65 = "ML_DSA_65",
        MlDsa87 = "ML_DSA_87",
        /// Ed25519 (RFC 8032), signing and verification only.
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        /// ML-KEM-512 (FIPS 203).
        MlKem512 = "ML_KEM_512",
        /// ML-KEM-768 (FIPS 203).
        MlKem768 = "ML_KEM_768",
        /// ML-KEM-1024 (FIPS 203).
        MlKem1024 = "ML_KEM_1024",
    }
);

aws_enum!(
    /// What a key may be used for.
    KeyUsage {
        EncryptDecrypt = "ENCRYPT_DECRYPT",
        SignVerify = "SIGN_VERIFY",
        GenerateVerifyMac = "GENERATE_VERIFY_MAC",
        KeyAgreement = "KEY_AGREEMENT",
        EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE",
    }
);

aws_enum!(
    /// The lifecycle state of a key.
    KeyState {
        Enabled = "Enabled",
        Disabled = "Disabled",
        PendingDeletion = "PendingDeletion",
        /// A multi-Region primary key scheduled for deletion while it still has replicas: its
        /// waiting period starts when the last replica is deleted.
        PendingReplicaDeletion = "PendingReplicaDeletion",
        PendingImport = "PendingImport",
        Unavailable = "Unavailable",
    }
);

aws_enum!(
    /// Where a key's material came from.
    Origin {
        AwsKms = "AWS_KMS",
        External = "EXTERNAL",
        AwsCloudhsm = "AWS_CLOUDHSM",
        ExternalKeyStore = "EXTERNAL_KEY_STORE",
    }
);

aws_enum!(
    /// Encryption algorithms a key supports.
    EncryptionAlgorithm {
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
    }
);

aws_enum!(
    /// Signing algorithms (`SigningAlgorithmSpec`).
    SigningAlgorithmSpec {
        RsassaPssSha256 = "RSASSA_PSS_SHA_256",
        RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        RsassaPssSha512 = "RSASSA_PSS_SHA_512",
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 = "ECDSA_SHA_256",
        EcdsaSha384 = "ECDSA_SHA_384",
        EcdsaSha512 = "ECDSA_SHA_512",
        MlDsaShake256 = "ML_DSA_SHAKE_256",
        /// Pure Ed25519 over a RAW message.
        Ed25519Sha512 = "ED25519_SHA_512",
        /// Ed25519ph (HashEdDSA) over a 64-byte SHA-512 DIGEST.
        Ed25519PhSha512 = "ED25519_PH_SHA_512",
    }
);

aws_enum!(
    /// MAC algorithms (`MacAlgorithmSpec`).
    MacAlgorithmSpec {
        HmacSha224 = "HMAC_SHA_224",
        HmacSha256 = "HMAC_SHA_256",
        HmacSha384 = "HMAC_SHA_384",
        HmacSha512 = "HMAC_SHA_512",
    }
);

aws_enum!(
    /// How Sign and Verify read their message (`MessageType`).
    MessageType {
        Raw = "RAW",
        Digest = "DIGEST",
        ExternalMu = "EXTERNAL_MU",
    }
);

aws_enum!(
    /// Key agreement algorithms (`KeyAgreementAlgorithmSpec`).
    KeyAgreementAlgorithmSpec {
        Ecdh = "ECDH",
    }
);

aws_enum!(
    /// Key encapsulation algorithms (`EncapsulationAlgorithmSpec`).
    EncapsulationAlgorithmSpec {
        MlKem = "ML_KEM",
    }
);

aws_enum!(
    /// The key pairs GenerateDataKeyPair makes (`DataKeyPairSpec`).
    DataKeyPairSpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        MlKem512 = "ML_KEM_512",
        MlKem768 = "ML_KEM_768",
        MlKem1024 = "ML_KEM_1024",
    }
);

impl DataKeyPairSpec {
    /// The key spec of the pair.
    pub fn key_spec(self) -> KeySpec {
        match self {
            DataKeyPairSpec::Rsa2048 => KeySpec::Rsa2048,
            DataKeyPairSpec::Rsa3072 => KeySpec::Rsa3072,
            DataKeyPairSpec::Rsa4096 => KeySpec::Rsa4096,
            DataKeyPairSpec::EccNistP256 => KeySpec::EccNistP256,
            DataKeyPairSpec::EccNistP384 => KeySpec::EccNistP384,
            DataKeyPairSpec::EccNistP521 => KeySpec::EccNistP521,
            DataKeyPairSpec::EccSecgP256k1 => KeySpec::EccSecgP256k1,
            DataKeyPairSpec::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
            DataKeyPairSpec::MlKem512 => KeySpec::MlKem512,
            DataKeyPairSpec::MlKem768 => KeySpec::MlKem768,
            DataKeyPairSpec::MlKem1024 => KeySpec::MlKem1024,
        }
    }
}

aws_enum!(
    /// The RSA wrapping key GetParametersForImport returns (`WrappingKeySpec`; SM2 is China's only).
    WrappingKeySpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
    }
);

impl WrappingKeySpec {
    /// The modulus length in bits.
    pub fn bits(self) -> usize {
        match self {
            WrappingKeySpec::Rsa2048 => 2048,
            WrappingKeySpec::Rsa3072 => 3072,
            WrappingKeySpec::Rsa4096 => 4096,
        }
    }
}

aws_enum!(
    /// How imported key material is wrapped (`AlgorithmSpec` in the AWS model, less the retired
    /// RSAES_PKCS1_V1_5 and China's SM2PKE).
    WrappingAlgorithmSpec {
        /// RSAES-OAEP with SHA-1 (hash and MGF1) straight over the material.
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSAES-OAEP with SHA-256 (hash and MGF1) straight over the material.
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        /// An ephemeral AES-256 key under RSAES-OAEP-SHA-1, then the material under AES key wrap
        /// with padding (RFC 5649) with that key.
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        /// The same with RSAES-OAEP-SHA-256.
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256",
    }
);

aws_enum!(
    /// Whether imported key material expires (`ExpirationModelType`).
    ExpirationModel {
        /// The material is deleted at its `ValidTo` time.
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES",
        /// The material stays until it is deleted.
        KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

aws_enum!(
    /// What ImportKeyMaterial imports (`ImportType`).
    ImportType {
        /// Material the key has, or for its first import will have: a reimport.
        ExistingKeyMaterial = "EXISTING_KEY_MATERIAL",
        /// New material for a symmetric key, which RotateKeyOnDemand makes current.
        NewKeyMaterial = "NEW_KEY_MATERIAL",
    }
);

aws_enum!(
    /// Whether a key's imported material is in the vault (`ImportState`).
    ImportState {
        Imported = "IMPORTED",
        /// Deleted or expired: only the same material may be imported again.
        PendingImport = "PENDING_IMPORT",
    }
);

aws_enum!(
    /// The place of one material among a key's materials (`KeyMaterialState`).
    KeyMaterialState {
        NonCurrent = "NON_CURRENT",
        Current = "CURRENT",
        /// Imported for a rotation that has not happened yet.
        PendingRotation = "PENDING_ROTATION",
    }
);

aws_enum!(
    /// Which materials ListKeyRotations lists (`IncludeKeyMaterial`).
    IncludeKeyMaterial {
        /// Every material of the key, the first and any pending rotation included.
        AllKeyMaterial = "ALL_KEY_MATERIAL",
        /// Only the materials rotations made current (the default).
        RotationsOnly = "ROTATIONS_ONLY",
    }
);

aws_enum!(
    /// Length of a data key named by spec rather than by byte count.
    DataKeySpec {
        Aes128 = "AES_128",
        Aes256 = "AES_256",
    }
);

aws_enum!(
    /// How a backing-key version came to be.
    RotationType {
        Automatic = "AUTOMATIC",
        OnDemand = "ON_DEMAND",
    }
);

impl DataKeySpec {
    /// Length of the data key in bytes.
    pub fn byte_len(&self) -> usize {
        match self {
            DataKeySpec::Aes128 => 16,
            DataKeySpec::Aes256 => 32,
        }
    }
}

/// Largest encryption context accepted, counting the bytes of every key and value.
pub const MAX_ENCRYPTION_CONTEXT_BYTES: usize = 8192;

/// AWS KMS's message for an encryption context with an empty key or value.
pub const INVALID_ENCRYPTION_CONTEXT: &str = "Invalid EncryptionContext";

/// Non-secret key-value pairs bound to a ciphertext as associated data. Order-insensitive: the pairs
/// are kept sorted by key, and duplicate keys are refused when the context is built from a list.
///
/// ```
/// use kms_core::EncryptionContext;
/// let a = EncryptionContext::from_pairs([("b", "2"), ("a", "1")]).unwrap();
/// let b = EncryptionContext::from_pairs([("a", "1"), ("b", "2")]).unwrap();
/// assert_eq!(a.canonical_bytes(), b.canonical_bytes());
/// assert!(EncryptionContext::from_pairs([("a", "1"), ("a", "2")]).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// The empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a context from pairs, refusing duplicate keys and oversized contexts. Empty keys
    /// and values are refused by the operations that take a context
    /// ([`require_no_empty_pairs`](Self::require_no_empty_pairs)), so that every front door
    /// answers them with the same `ValidationException`.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> KmsResult<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        let mut size = 0usize;
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            size += k.len() + v.len();
            if size > MAX_ENCRYPTION_CONTEXT_BYTES {
                return Err(KmsError::invalid(
                    "EncryptionContext",
                    format!("Encryption context exceeds {MAX_ENCRYPTION_CONTEXT_BYTES} bytes"),
                ));
            }
            if map.contains_key(&k) {
                return Err(KmsError::invalid(
                    "EncryptionContext",
                    format!("Encryption context has duplicate key '{k}'"),
                ));
            }
            map.insert(k, v);
        }
        Ok(EncryptionContext(map))
    }

    /// Refuses a context with an empty key or value, as AWS KMS does for every operation that
    /// takes one (`ValidationException`, "Invalid EncryptionContext").
    ///
    /// ```
    /// use kms_core::EncryptionContext;
    /// let empty_value = EncryptionContext::from_pairs([("tenant", "")]).unwrap();
    /// let err = empty_value.require_no_empty_pairs().unwrap_err();
    /// assert_eq!(err.aws_type(), "ValidationException");
    /// assert!(EncryptionContext::from_pairs([("tenant", "acme")]).unwrap().require_no_empty_pairs().is_ok());
    /// ```
    pub fn require_no_empty_pairs(&self) -> KmsResult<()> {
        if self.iter().any(|(k, v)| k.is_empty() || v.is_empty()) {
            return Err(KmsError::invalid(
                "EncryptionContext",
                INVALID_ENCRYPTION_CONTEXT.into(),
            ));
        }
        Ok(())
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every pair of `self` is also in `other`.
    pub fn is_subset_of(&self, other: &EncryptionContext) -> bool {
        self.iter().all(|(k, v)| other.get(k) == Some(v))
    }

    /// The unambiguous byte encoding bound as associated data: a big-endian `u16` pair count, then
    /// for each pair in key order a `u16` length and the UTF-8 bytes of the key, then of the value.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(2 + self.0.len() * 4 + MAX_ENCRYPTION_CONTEXT_BYTES.min(64));
        // Construction caps the total size at 8 KiB, so every length fits a u16.
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for (k, v) in &self.0 {
            for s in [k, v] {
                out.extend_from_slice(&(s.len() as u16).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        out
    }

    /// Parses [`canonical_bytes`](Self::canonical_bytes) back; `None` if malformed or trailing bytes.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Option<&[u8]> {
            if rest.len() < n {
                return None;
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Some(head)
        };
        let count = u16::from_be_bytes(take(2)?.try_into().ok()?);
        let mut pairs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let mut field = || -> Option<String> {
                let len = u16::from_be_bytes(take(2)?.try_into().ok()?) as usize;
                String::from_utf8(take(len)?.to_vec()).ok()
            };
            let k = field()?;
            let v = field()?;
            pairs.push((k, v));
        }
        if !rest.is_empty() {
            return None;
        }
        let ctx = Self::from_pairs(pairs).ok()?;
        // Reject non-canonical order so each context has exactly one encoding.
        (ctx.canonical_bytes() == bytes).then_some(ctx)
    }
}

impl<'de> Deserialize<'de> for EncryptionContext {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Goes through from_pairs so that size limits and empty keys are enforced on every input.
        let map = BTreeMap::<String, String>::deserialize(d)?;
        EncryptionContext::from_pairs(map).map_err(serde::de::Error::custom)
    }
}

/// A resource tag. Keys are 1–128 characters, values 0–256, and `aws:` is reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The tag key.
    pub tag_key: String,
    /// The tag value.
    pub tag_value: String,
}

impl Tag {
    /// Checks AWS's tag rules.
    pub fn validate(&self) -> KmsResult<()> {
        let klen = self.tag_key.chars().count();
        if !(1..=128).contains(&klen) {
            return Err(KmsError::Tag(format!(
                "Tag key '{}' must be 1 to 128 characters",
                self.tag_key
            )));
        }
        if self.tag_value.chars().count() > 256 {
            return Err(KmsError::Tag(format!(
                "Tag value for key '{}' must be at most 256 characters",
                self.tag_key
            )));
        }
        if self.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(KmsError::Tag(format!(
                "Tag key '{}' uses the reserved prefix 'aws:'",
                self.tag_key
            )));
        }
        let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
        if !self.tag_key.chars().all(allowed) || !self.tag_value.chars().all(allowed) {
            return Err(KmsError::Tag(format!(
                "Tag '{}' contains characters other than letters, digits, spaces and _.:/=+-@",
                self.tag_key
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_rejects_non_canonical_forms() {
        assert!(
            "{1234abcd-12ab-34cd-56ef-1234567890ab}"
                .parse::<KeyId>()
                .is_err()
        );
        assert!("1234abcd12ab34cd56ef1234567890ab".parse::<KeyId>().is_err());
        assert!("".parse::<KeyId>().is_err());
    }

    #[test]
    fn key_id_round_trips_through_bytes() {
        let id = KeyId::random();
        assert_eq!(KeyId::from_bytes(*id.as_bytes(), false), id);
        let mrk = KeyId::random_multi_region();
        assert_eq!(KeyId::from_bytes(*mrk.as_bytes(), true), mrk);
        assert_eq!(mrk.to_string().parse::<KeyId>().unwrap(), mrk);
        assert!(
            "mrk-1234ABCD12ab34cd56ef1234567890ab"
                .parse::<KeyId>()
                .is_err()
        );
        assert!(
            "mrk-1234abcd-12ab-34cd-56ef-1234567890ab"
                .parse::<KeyId>()
                .is_err()
        );
    }

    #[test]
    fn encryption_context_canonical_bytes_round_trip() {
        let ctx = EncryptionContext::from_pairs([("tenant", "acme"), ("purpose", "")]).unwrap();
        let bytes = ctx.canonical_bytes();
        assert_eq!(EncryptionContext::from_canonical_bytes(&bytes), Some(ctx));
    }

    #[test]
    fn encryption_context_canonical_bytes_reject_trailing_and_truncated_input() {
        let bytes = EncryptionContext::from_pairs([("a", "b")])
            .unwrap()
            .canonical_bytes();
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(EncryptionContext::from_canonical_bytes(&longer), None);
        assert_eq!(
            EncryptionContext::from_canonical_bytes(&bytes[..bytes.len() - 1]),
            None
        );
    }

    #[test]
    fn encryption_context_refuses_oversize_and_operations_refuse_empty_pairs() {
        for pair in [("", "v"), ("k", "")] {
            let context = EncryptionContext::from_pairs([pair]).unwrap();
            let err = context.require_no_empty_pairs().unwrap_err();
            assert_eq!(err.message(), "Invalid EncryptionContext");
        }
        let big = "x".repeat(MAX_ENCRYPTION_CONTEXT_BYTES);
        assert!(EncryptionContext::from_pairs([("k", big.as_str())]).is_err());
    }

    #[test]
    fn encryption_context_subset() {
        let small = EncryptionContext::from_pairs([("a", "1")]).unwrap();
        let big = EncryptionContext::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        assert!(small.is_subset_of(&big));
        assert!(!big.is_subset_of(&small));
    }

    #[test]
    fn aws_enums_parse_their_wire_names() {
        for spec in KeySpec::ALL {
            assert_eq!(spec.as_aws_str().parse::<KeySpec>().unwrap(), *spec);
        }
        assert!("AES_512".parse::<DataKeySpec>().is_err());
    }

    #[test]
    fn tags_follow_aws_rules() {
        let tag = |k: &str, v: &str| Tag {
            tag_key: k.into(),
            tag_value: v.into(),
        };
        assert!(tag("team", "payments").validate().is_ok());
        assert!(tag("", "x").validate().is_err());
        assert!(tag("aws:owner", "x").validate().is_err());
        assert!(tag(&"k".repeat(129), "x").validate().is_err());
        assert!(tag("k", &"v".repeat(257)).validate().is_err());
    }
}
