//! Capability sets: what one component instance may do, built like wasmtime's `WasiCtxBuilder`
//! with nothing granted by default. A capability can only narrow what the instance's principal
//! may do: every host call is checked against it *and* authorized for the principal as usual.

use std::fmt;
use std::str::FromStr;

use kms_core::Operation;
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::KeyId;
use kms_service::KeyFacts;

/// One operation a guest can perform with a key handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyOperation {
    /// `key.metadata` (DescribeKey).
    Describe,
    /// `key.encrypt`.
    Encrypt,
    /// `keys.decrypt` and `data-keys.unwrap` of ciphertexts made under the key.
    Decrypt,
    /// `keys.re-encrypt` from the key.
    ReEncryptFrom,
    /// `keys.re-encrypt` to the key.
    ReEncryptTo,
    /// `data-keys.generate` and `key.generate-data-key-without-plaintext`.
    GenerateDataKey,
    /// `key.sign`.
    Sign,
    /// `key.verify`.
    Verify,
    /// `key.public-key`.
    GetPublicKey,
    /// `key.generate-mac`.
    GenerateMac,
    /// `key.verify-mac`.
    VerifyMac,
    /// `key.derive-shared-secret`.
    DeriveSharedSecret,
    /// `key.encapsulate`.
    Encapsulate,
    /// `key.decapsulate`.
    Decapsulate,
    /// `key.generate-data-key-pair-without-plaintext` and, for instances granted `reveal`,
    /// `reveal.generate-data-key-pair`.
    GenerateDataKeyPair,
}

impl KeyOperation {
    /// Every operation.
    pub const ALL: [KeyOperation; 15] = [
        KeyOperation::Describe,
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::ReEncryptFrom,
        KeyOperation::ReEncryptTo,
        KeyOperation::GenerateDataKey,
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::GetPublicKey,
        KeyOperation::GenerateMac,
        KeyOperation::VerifyMac,
        KeyOperation::DeriveSharedSecret,
        KeyOperation::Encapsulate,
        KeyOperation::Decapsulate,
        KeyOperation::GenerateDataKeyPair,
    ];

    /// The name used on the command line (`encrypt`, `re-encrypt-from`, …).
    pub fn name(self) -> &'static str {
        match self {
            KeyOperation::Describe => "describe",
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
            KeyOperation::ReEncryptFrom => "re-encrypt-from",
            KeyOperation::ReEncryptTo => "re-encrypt-to",
            KeyOperation::GenerateDataKey => "generate-data-key",
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::GetPublicKey => "get-public-key",
            KeyOperation::GenerateMac => "generate-mac",
            KeyOperation::VerifyMac => "verify-mac",
            KeyOperation::DeriveSharedSecret => "derive-shared-secret",
            KeyOperation::Encapsulate => "encapsulate",
            KeyOperation::Decapsulate => "decapsulate",
            KeyOperation::GenerateDataKeyPair => "generate-data-key-pair",
        }
    }

    /// The AWS operation it stands for, named in audit records of refusals.
    pub fn operation(self) -> Operation {
        match self {
            KeyOperation::Describe => Operation::DescribeKey,
            KeyOperation::Encrypt => Operation::Encrypt,
            KeyOperation::Decrypt => Operation::Decrypt,
            KeyOperation::ReEncryptFrom | KeyOperation::ReEncryptTo => Operation::ReEncrypt,
            KeyOperation::GenerateDataKey => Operation::GenerateDataKey,
            KeyOperation::Sign => Operation::Sign,
            KeyOperation::Verify => Operation::Verify,
            KeyOperation::GetPublicKey => Operation::GetPublicKey,
            KeyOperation::GenerateMac => Operation::GenerateMac,
            KeyOperation::VerifyMac => Operation::VerifyMac,
            KeyOperation::DeriveSharedSecret => Operation::DeriveSharedSecret,
            KeyOperation::Encapsulate => Operation::Encapsulate,
            KeyOperation::Decapsulate => Operation::Decapsulate,
            KeyOperation::GenerateDataKeyPair => Operation::GenerateDataKeyPair,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for KeyOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyOperation {
    type Err = KmsError;

    fn from_str(s: &str) -> KmsResult<Self> {
        KeyOperation::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = KeyOperation::ALL.iter().map(|o| o.name()).collect();
                KmsError::invalid(
                    "capability grant",
                    format!(
                        "'{s}' is not a key operation; use one of {} or all",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// A set of [`KeyOperation`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Operations(u16);

impl Operations {
    /// No operation.
    pub const NONE: Operations = Operations(0);

    /// Every operation.
    pub fn all() -> Self {
        KeyOperation::ALL.into_iter().collect()
    }

    /// Whether `op` is in the set.
    pub fn contains(self, op: KeyOperation) -> bool {
        self.0 & op.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn union(self, other: Operations) -> Self {
        Operations(self.0 | other.0)
    }
}

impl FromIterator<KeyOperation> for Operations {
    fn from_iter<I: IntoIterator<Item = KeyOperation>>(ops: I) -> Self {
        Operations(ops.into_iter().fold(0, |bits, op| bits | op.bit()))
    }
}

impl<const N: usize> From<[KeyOperation; N]> for Operations {
    fn from(ops: [KeyOperation; N]) -> Self {
        ops.into_iter().collect()
    }
}

impl fmt::Debug for Operations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(KeyOperation::ALL.iter().filter(|op| self.contains(**op)))
            .finish()
    }
}

impl FromStr for Operations {
    type Err = KmsError;

    /// `all`, or a comma-separated list of operation names.
    fn from_str(s: &str) -> KmsResult<Self> {
        if s.trim() == "all" {
            return Ok(Operations::all());
        }
        s.split(',').map(|op| op.trim().parse()).collect()
    }
}

/// Which keys a grant covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeySelector {
    /// One key, by id.
    KeyId(KeyId),
    /// The key an alias currently points at (`alias/orders`).
    Alias(String),
    /// Every key with an alias under the prefix (`alias/tenant-a/`). The prefix is a path: it
    /// ends with `/`, so that `alias/orders/` does not take in `alias/orders-evil` (the parser
    /// refuses `alias/orders*`).
    AliasPrefix(String),
    /// Every key carrying the tag with this value.
    Tag {
        /// The tag key.
        key: String,
        /// The tag value.
        value: String,
    },
}

impl KeySelector {
    fn matches(&self, key: &KeyFacts) -> bool {
        match self {
            KeySelector::KeyId(id) => *id == key.key_id,
            KeySelector::Alias(name) => key.aliases.iter().any(|a| a == name),
            KeySelector::AliasPrefix(prefix) => key.aliases.iter().any(|a| a.starts_with(prefix)),
            KeySelector::Tag { key: k, value } => key
                .tags
                .iter()
                .any(|t| t.tag_key == *k && t.tag_value == *value),
        }
    }
}

impl fmt::Display for KeySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySelector::KeyId(id) => write!(f, "key/{id}"),
            KeySelector::Alias(name) => f.write_str(name),
            KeySelector::AliasPrefix(prefix) => write!(f, "{prefix}*"),
            KeySelector::Tag { key, value } => write!(f, "tag:{key}:{value}"),
        }
    }
}

impl FromStr for KeySelector {
    type Err = KmsError;

    /// `alias/name`, `alias/path/*`, `key/<key id>` or a bare key id, or `tag:<key>:<value>`.
    fn from_str(s: &str) -> KmsResult<Self> {
        if let Some(rest) = s.strip_prefix("tag:") {
            let (key, value) = rest.split_once(':').ok_or_else(|| {
                KmsError::invalid(
                    "capability grant",
                    format!("'{s}' is not a tag selector; write tag:<key>:<value>"),
                )
            })?;
            if key.is_empty() {
                return Err(KmsError::invalid(
                    "capability grant",
                    format!("'{s}' names no tag key"),
                ));
            }
            return Ok(KeySelector::Tag {
                key: key.into(),
                value: value.into(),
            });
        }
        if s.starts_with("alias/") {
            return match s.strip_suffix('*') {
                Some(prefix) if prefix.ends_with('/') => {
                    Ok(KeySelector::AliasPrefix(prefix.into()))
                }
                Some(prefix) => Err(KmsError::invalid(
                    "capability grant",
                    format!(
                        "'{s}': a prefix selector ends at a '/' ({prefix}/*), so that it cannot \
                         take in aliases that merely start the same ({prefix}-other)"
                    ),
                )),
                None if s.contains('*') => Err(KmsError::invalid(
                    "capability grant",
                    format!("'{s}': '*' may only end a prefix selector (alias/<path>/*)"),
                )),
                None => Ok(KeySelector::Alias(s.into())),
            };
        }
        Ok(KeySelector::KeyId(
            s.strip_prefix("key/").unwrap_or(s).parse()?,
        ))
    }
}

/// One line of a capability set: these operations on the keys the selector covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyGrant {
    /// Which keys.
    pub selector: KeySelector,
    /// Which operations.
    pub operations: Operations,
}

impl FromStr for KeyGrant {
    type Err = KmsError;

    /// `SELECTOR=OPERATIONS`, e.g. `alias/orders=encrypt,decrypt` or `tag:tenant:acme=all`.
    fn from_str(s: &str) -> KmsResult<Self> {
        let (selector, operations) = s.rsplit_once('=').ok_or_else(|| {
            KmsError::invalid("capability grant", format!(
                "'{s}' is not a grant; write SELECTOR=OPERATIONS, e.g. alias/orders=encrypt,decrypt"
            ))
        })?;
        Ok(KeyGrant {
            selector: selector.parse()?,
            operations: operations.parse()?,
        })
    }
}

/// What one component instance may do. Build one with [`Capabilities::builder`]; the default
/// grants nothing.
///
/// ```
/// use kms_runtime::{Capabilities, KeyOperation, KeySelector};
///
/// let caps = Capabilities::builder()
///     .allow(KeySelector::Alias("alias/orders".into()), [KeyOperation::Encrypt, KeyOperation::Decrypt])
///     .grant("tag:tenant:acme=all".parse().unwrap())
///     .build();
/// assert!(!caps.reveal());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    grants: Vec<KeyGrant>,
    reveal: bool,
    random: bool,
}

impl Capabilities {
    /// A builder that starts from nothing.
    pub fn builder() -> CapabilitiesBuilder {
        CapabilitiesBuilder::default()
    }

    /// Whether the instance may read data keys' plaintext (`kms:vault/reveal`).
    pub fn reveal(&self) -> bool {
        self.reveal
    }

    /// Whether the instance may call `keys.generate-random`.
    pub fn random(&self) -> bool {
        self.random
    }

    /// The grants, in the order they were added.
    pub fn grants(&self) -> &[KeyGrant] {
        &self.grants
    }

    /// Whether a grant selects keys by tag (so matching needs the key's record, not only its
    /// id and aliases).
    pub(crate) fn selects_by_tag(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g.selector, KeySelector::Tag { .. }))
    }

    /// The operations the set allows on `key`.
    pub(crate) fn allowed(&self, key: &KeyFacts) -> Operations {
        self.grants
            .iter()
            .filter(|g| g.selector.matches(key))
            .fold(Operations::NONE, |ops, g| ops.union(g.operations))
    }
}

/// Builds a [`Capabilities`].
#[derive(Clone, Debug, Default)]
pub struct CapabilitiesBuilder(Capabilities);

impl CapabilitiesBuilder {
    /// Grants `operations` on the keys `selector` covers.
    pub fn allow(self, selector: KeySelector, operations: impl Into<Operations>) -> Self {
        self.grant(KeyGrant {
            selector,
            operations: operations.into(),
        })
    }

    /// Adds a ready-made grant.
    pub fn grant(mut self, grant: KeyGrant) -> Self {
        self.0.grants.push(grant);
        self
    }

    /// Lets the instance import `kms:vault/reveal` and read data keys' plaintext.
    pub fn allow_reveal(mut self) -> Self {
        self.0.reveal = true;
        self
    }

    /// Lets the instance call `keys.generate-random`.
    pub fn allow_random(mut self) -> Self {
        self.0.random = true;
        self
    }

    /// The capability set.
    pub fn build(self) -> Capabilities {
        self.0
    }
}

/// Entry point for the `capabilities` fuzz target in `fuzz/` and the corpus replay in
/// `tests/tests/fuzz_corpus.rs`. This file needs nothing of wasmtime, so the fuzz crate
/// compiles it by path instead of building the whole runtime. Hidden from the documentation.
#[doc(hidden)]
pub mod fuzzing {
    use super::{Capabilities, KeyGrant, KeySelector};
    use kms_core::types::{KeyId, KeyUsage, Tag};
    use kms_service::KeyFacts;

    /// A capability grant as an operator writes it (`SELECTOR=OPERATIONS`) on the first line,
    /// then a key's aliases (`alias/…` lines) and tags (`key=value` lines). A grant that parses
    /// prints as text that parses to the same grant, and a prefix selector covers only aliases
    /// under its path.
    pub fn grants(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let mut lines = text.lines();
        let Ok(grant) = lines.next().unwrap_or_default().parse::<KeyGrant>() else {
            return;
        };
        let printed = grant.selector.to_string();
        assert_eq!(
            printed.parse::<KeySelector>().ok().as_ref(),
            Some(&grant.selector),
            "{printed}"
        );
        let (aliases, tags): (Vec<&str>, Vec<&str>) =
            lines.partition(|line| line.starts_with("alias/"));
        let key_id = KeyId::from_bytes([7; 16], false);
        let key = KeyFacts {
            arn: format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}"),
            key_id,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            tags: tags
                .iter()
                .map(|t| {
                    let (k, v) = t.split_once('=').unwrap_or((t, ""));
                    Tag {
                        tag_key: k.into(),
                        tag_value: v.into(),
                    }
                })
                .collect(),
            usage: KeyUsage::EncryptDecrypt,
        };
        let allowed = Capabilities::builder()
            .grant(grant.clone())
            .build()
            .allowed(&key);
        if !allowed.is_empty()
            && let KeySelector::AliasPrefix(prefix) = &grant.selector
        {
            assert!(prefix.ends_with('/'));
            assert!(key.aliases.iter().any(|a| a.starts_with(prefix.as_str())));
        }
    }

    /// Seeds of [`grants`]: every selector form with keys it covers and keys it does not.
    pub fn grants_seeds() -> Vec<Vec<u8>> {
        [
            "alias/orders=encrypt,decrypt\nalias/orders\nalias/orders-evil",
            "alias/tenant-a/*=all\nalias/tenant-a/orders\nalias/tenant-ab",
            "tag:tenant:acme=describe, generate-data-key\ntenant=acme\nteam=blue",
            "tag:env:a=b=re-encrypt-from,re-encrypt-to\nenv=a=b",
            "key/07070707-0707-0707-0707-070707070707=sign,verify\n",
            "07070707-0707-0707-0707-070707070707=get-public-key,generate-mac,verify-mac,derive-shared-secret,encapsulate,decapsulate,generate-data-key-pair",
            "mrk-07070707070707070707070707070707=encrypt",
        ]
        .into_iter()
        .map(|seed| seed.as_bytes().to_vec())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_core::types::{KeyUsage, Tag};

    fn facts(aliases: &[&str], tags: &[(&str, &str)]) -> KeyFacts {
        let key_id = KeyId::random();
        KeyFacts {
            arn: format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}"),
            key_id,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    tag_key: k.to_string(),
                    tag_value: v.to_string(),
                })
                .collect(),
            usage: KeyUsage::EncryptDecrypt,
        }
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let key = facts(&["alias/a"], &[("tenant", "acme")]);
        let caps = Capabilities::builder().build();
        assert!(caps.allowed(&key).is_empty());
        assert!(!caps.reveal());
        assert!(!caps.random());
    }

    #[test]
    fn each_selector_matches_what_it_names_and_nothing_else() {
        let key = facts(&["alias/tenant-a/orders"], &[("tenant", "acme")]);
        let matching: [KeySelector; 4] = [
            KeySelector::KeyId(key.key_id),
            KeySelector::Alias("alias/tenant-a/orders".into()),
            KeySelector::AliasPrefix("alias/tenant-a/".into()),
            KeySelector::Tag {
                key: "tenant".into(),
                value: "acme".into(),
            },
        ];
        for selector in matching {
            let caps = Capabilities::builder()
                .allow(selector.clone(), [KeyOperation::Encrypt])
                .build();
            assert!(
                caps.allowed(&key).contains(KeyOperation::Encrypt),
                "{selector}"
            );
            assert!(
                !caps.allowed(&key).contains(KeyOperation::Decrypt),
                "{selector}"
            );
        }
        let missing: [KeySelector; 5] = [
            KeySelector::KeyId(KeyId::random()),
            KeySelector::Alias("alias/tenant-a".into()),
            KeySelector::AliasPrefix("alias/tenant-b/".into()),
            KeySelector::Tag {
                key: "tenant".into(),
                value: "globex".into(),
            },
            KeySelector::Tag {
                key: "owner".into(),
                value: "acme".into(),
            },
        ];
        for selector in missing {
            let caps = Capabilities::builder()
                .allow(selector.clone(), Operations::all())
                .build();
            assert!(caps.allowed(&key).is_empty(), "{selector}");
        }
    }

    #[test]
    fn grants_on_the_same_key_add_up() {
        let key = facts(&["alias/a"], &[("tenant", "acme")]);
        let caps = Capabilities::builder()
            .allow(
                KeySelector::Alias("alias/a".into()),
                [KeyOperation::Encrypt],
            )
            .grant("tag:tenant:acme=decrypt,describe".parse().unwrap())
            .build();
        let ops = caps.allowed(&key);
        for op in [
            KeyOperation::Encrypt,
            KeyOperation::Decrypt,
            KeyOperation::Describe,
        ] {
            assert!(ops.contains(op), "{op}");
        }
        assert!(!ops.contains(KeyOperation::GenerateDataKey));
    }

    #[test]
    fn grants_parse_from_the_command_line_form() {
        let id = KeyId::random();
        for (text, selector) in [
            (
                "alias/orders=encrypt",
                KeySelector::Alias("alias/orders".into()),
            ),
            (
                "alias/tenant-a/*=encrypt",
                KeySelector::AliasPrefix("alias/tenant-a/".into()),
            ),
            (&format!("key/{id}=encrypt"), KeySelector::KeyId(id)),
            (&format!("{id}=encrypt"), KeySelector::KeyId(id)),
            (
                "tag:tenant:acme=encrypt",
                KeySelector::Tag {
                    key: "tenant".into(),
                    value: "acme".into(),
                },
            ),
            (
                "tag:env:a=b=encrypt",
                KeySelector::Tag {
                    key: "env".into(),
                    value: "a=b".into(),
                },
            ),
        ] {
            let grant: KeyGrant = text.parse().unwrap();
            assert_eq!(grant.selector, selector, "{text}");
            assert_eq!(grant.operations, Operations::from([KeyOperation::Encrypt]));
        }
        let all: KeyGrant = "alias/x=all".parse().unwrap();
        assert_eq!(all.operations, Operations::all());
        let several: Operations = "encrypt, re-encrypt-to,generate-data-key".parse().unwrap();
        assert_eq!(
            several,
            Operations::from([
                KeyOperation::Encrypt,
                KeyOperation::ReEncryptTo,
                KeyOperation::GenerateDataKey
            ])
        );
    }

    #[test]
    fn a_prefix_selector_covers_its_path_only() {
        let selector: KeySelector = "alias/orders/*".parse().unwrap();
        assert!(selector.matches(&facts(&["alias/orders/eu"], &[])));
        assert!(!selector.matches(&facts(&["alias/orders-evil"], &[])));
        assert!(!selector.matches(&facts(&["alias/orders"], &[])));
    }

    #[test]
    fn malformed_grants_are_refused_with_a_reason() {
        for text in [
            "alias/orders",
            "alias/orders=encrypt,explode",
            "not-a-key-id=encrypt",
            "tag:tenant=encrypt",
            "tag::acme=encrypt",
            // A prefix ends at a '/': this would take in alias/orders-evil.
            "alias/orders*=encrypt",
            "alias/a*b=encrypt",
        ] {
            let err = text.parse::<KeyGrant>().unwrap_err();
            assert!(
                matches!(err, KmsError::Validation(_) | KmsError::NotFound(_)),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn every_operation_name_round_trips() {
        for op in KeyOperation::ALL {
            assert_eq!(op.name().parse::<KeyOperation>().unwrap(), op);
        }
    }
}
