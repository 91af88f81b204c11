//! ARNs, the ways a request names a key, principal ARNs and the account and region names inside
//! them: parsed and checked here, once, for every layer above.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{KmsError, KmsResult};
use crate::types::KeyId;

/// An Amazon Resource Name, `arn:<partition>:<service>:<region>:<account>:<resource>`, split
/// once into its parts.
///
/// ```
/// use kms_core::arn::Arn;
/// let arn: Arn = "arn:aws:kms:us-east-1:111122223333:alias/orders".parse().unwrap();
/// assert_eq!((arn.service(), arn.region(), arn.account()), ("kms", "us-east-1", "111122223333"));
/// assert_eq!(arn.resource(), "alias/orders");
/// assert_eq!(Arn::kms("us-east-1", "111122223333", "alias/orders"), arn);
/// assert!("arn:aws:kms:us-east-1".parse::<Arn>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Arn {
    partition: String,
    service: String,
    region: String,
    account: String,
    resource: String,
}

impl Arn {
    /// The ARN of a KMS resource (`key/<id>`, `alias/<name>`) in the `aws` partition.
    pub fn kms(region: &str, account: &str, resource: &str) -> Self {
        Arn {
            partition: "aws".into(),
            service: "kms".into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        }
    }

    /// The ARN of a KMS key.
    pub fn kms_key(region: &str, account: &str, key_id: &KeyId) -> Self {
        Self::kms(region, account, &format!("key/{key_id}"))
    }

    /// The partition (`aws`).
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The service (`kms`, `iam`, …).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The region; empty for global services such as IAM.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account id; may be empty for some services.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Everything after the account (`key/<id>`, `alias/<name>`, `user/<name>`, `root`).
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

impl FromStr for Arn {
    type Err = KmsError;

    /// `InvalidArnException` unless the text has the six parts of an ARN, with a partition, a
    /// service and a resource.
    fn from_str(text: &str) -> KmsResult<Self> {
        let invalid = || KmsError::InvalidArn(format!("'{text}' is not a valid ARN"));
        let rest = text.strip_prefix("arn:").ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, region, account, resource] = parts[..] else {
            return Err(invalid());
        };
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(invalid());
        }
        Ok(Arn {
            partition: partition.into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// How a request names a key: a key id, `key/<id>`, an alias name, or the ARN of a key or an
/// alias. Parsing checks the form; which vault namespace an ARN points into is the caller's
/// to check (against its region and account) before it asks for the [`target`](Self::target).
///
/// ```
/// use kms_core::arn::{KeyReference, KeyTarget};
/// let by_alias = KeyReference::parse("arn:aws:kms:us-east-1:111122223333:alias/orders").unwrap();
/// assert_eq!(by_alias.alias_name(), Some("alias/orders"));
/// assert_eq!(by_alias.target().unwrap(), KeyTarget::Alias("alias/orders"));
/// let by_id = KeyReference::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
/// assert!(by_id.arn().is_none() && by_id.alias_name().is_none());
/// assert!(KeyReference::parse("arn:aws:iam::111122223333:root").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReference<'a> {
    text: &'a str,
    arn: Option<Arn>,
}

/// What a [`KeyReference`] points at within its vault namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTarget<'a> {
    /// A key, by id.
    Key(KeyId),
    /// An alias, by its full name (`alias/…`).
    Alias(&'a str),
}

impl<'a> KeyReference<'a> {
    /// Reads a key reference: `ValidationException` for an empty one or one over 2048
    /// characters, `InvalidArnException` for an ARN that is not a KMS ARN.
    pub fn parse(text: &'a str) -> KmsResult<Self> {
        if text.is_empty() || text.len() > 2048 {
            return Err(KmsError::invalid(
                "KeyId",
                "KeyId must be between 1 and 2048 characters".into(),
            ));
        }
        if !text.starts_with("arn:") {
            return Ok(KeyReference { text, arn: None });
        }
        let arn: Arn = text.parse()?;
        if arn.service() != "kms" {
            return Err(KmsError::InvalidArn(format!(
                "'{text}' is not a valid KMS ARN"
            )));
        }
        Ok(KeyReference {
            text,
            arn: Some(arn),
        })
    }

    /// The ARN, when the reference is one.
    pub fn arn(&self) -> Option<&Arn> {
        self.arn.as_ref()
    }

    /// The reference as the request wrote it.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The alias name (`alias/…`) the reference names the key by, if any (`kms:RequestAlias`).
    pub fn alias_name(&self) -> Option<&'a str> {
        let resource = self.resource();
        resource.starts_with("alias/").then_some(resource)
    }

    /// The key or alias the reference points at: `InvalidArnException` for a KMS ARN of
    /// something else, `NotFoundException` for a malformed key id.
    pub fn target(&self) -> KmsResult<KeyTarget<'a>> {
        let resource = self.resource();
        if resource.starts_with("alias/") {
            return Ok(KeyTarget::Alias(resource));
        }
        if self.arn.is_some() && !resource.starts_with("key/") {
            return Err(KmsError::InvalidArn(format!(
                "'{}' is not a key or alias ARN",
                self.text
            )));
        }
        resource
            .strip_prefix("key/")
            .unwrap_or(resource)
            .parse()
            .map(KeyTarget::Key)
    }

    fn resource(&self) -> &'a str {
        match self.text.strip_prefix("arn:") {
            // Checked by `parse`: an ARN has its five colons.
            Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or_default(),
            None => self.text,
        }
    }
}

/// What kind of principal a record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PrincipalKind {
    /// An IAM user (`arn:aws:iam::<account>:user/<name>`).
    User,
    /// An IAM role (`arn:aws:iam::<account>:role/<name>`).
    Role,
}

impl PrincipalKind {
    /// The ARN resource prefix of this kind.
    pub fn arn_word(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Role => "role",
        }
    }
}

/// Checks a principal ARN and splits it into account, kind and name.
///
/// ```
/// use kms_core::arn::{parse_principal_arn, PrincipalKind};
/// let (account, kind, name) = parse_principal_arn("arn:aws:iam::111122223333:user/alice").unwrap();
/// assert_eq!((account.as_str(), kind, name.as_str()), ("111122223333", PrincipalKind::User, "alice"));
/// assert!(parse_principal_arn("arn:aws:iam::1111:user/alice").is_err());
/// ```
pub fn parse_principal_arn(arn: &str) -> KmsResult<(String, PrincipalKind, String)> {
    let bad = || {
        KmsError::invalid(
            "principal ARN",
            format!(
                "'{arn}' is not a user or role ARN (arn:aws:iam::<12-digit account>:user/<name> or :role/<name>)"
            ),
        )
    };
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(bad)?;
    let (account, resource) = rest.split_once(':').ok_or_else(bad)?;
    validate_account(account).map_err(|_| bad())?;
    let (kind, path_and_name) = if let Some(r) = resource.strip_prefix("user/") {
        (PrincipalKind::User, r)
    } else if let Some(r) = resource.strip_prefix("role/") {
        (PrincipalKind::Role, r)
    } else {
        return Err(bad());
    };
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    let valid_name = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !valid_name {
        return Err(KmsError::invalid(
            "principal ARN",
            format!("The principal name in '{arn}' must be 1 to 64 letters, digits or +=,.@_-"),
        ));
    }
    Ok((account.to_string(), kind, name.to_string()))
}

/// Whether `text` is the ARN of an IAM identity: a user, role or account root (`iam`), or an
/// assumed-role session (`sts`), as policies and grants may name them.
///
/// ```
/// use kms_core::arn::is_iam_principal_arn;
/// assert!(is_iam_principal_arn("arn:aws:iam::111122223333:root"));
/// assert!(is_iam_principal_arn("arn:aws:sts::111122223333:assumed-role/app/session"));
/// assert!(!is_iam_principal_arn("arn:aws:kms:us-east-1:111122223333:key/x"));
/// assert!(!is_iam_principal_arn("arn:aws:iam::"));
/// ```
pub fn is_iam_principal_arn(text: &str) -> bool {
    text.parse::<Arn>()
        .is_ok_and(|arn| arn.partition() == "aws" && matches!(arn.service(), "iam" | "sts"))
}

/// The account root's ARN.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// Checks a 12-digit AWS account id.
pub fn validate_account(account: &str) -> KmsResult<()> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "account id",
            format!("Account id '{account}' must be exactly 12 digits"),
        ))
    }
}

/// Checks a region name such as `us-east-1`.
pub fn validate_region(region: &str) -> KmsResult<()> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "region",
            format!(
                "Region '{region}' must be lowercase letters, digits and hyphens, like us-east-1"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_read_back_as_written() {
        for text in [
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:iam::111122223333:user/path/alice",
            "arn:aws-cn:kms:cn-north-1:111122223333:alias/a:b",
        ] {
            assert_eq!(text.parse::<Arn>().unwrap().to_string(), text);
        }
        for bad in [
            "",
            "arn:",
            "arn:aws:kms",
            "arn::kms:r:a:key/x",
            "arn:aws::r:a:x",
            "arn:aws:kms:r:a:",
            "key/x",
        ] {
            assert!(
                matches!(bad.parse::<Arn>(), Err(KmsError::InvalidArn(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_references_name_keys_and_aliases_by_id_name_or_arn() {
        let id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
        for text in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            let reference = KeyReference::parse(text).unwrap();
            assert_eq!(reference.target().unwrap(), KeyTarget::Key(id), "{text}");
            assert_eq!(reference.alias_name(), None);
        }
        let alias = KeyReference::parse("alias/orders").unwrap();
        assert_eq!(alias.target().unwrap(), KeyTarget::Alias("alias/orders"));
        assert!(matches!(
            KeyReference::parse("arn:aws:kms:us-east-1:111122223333:grant/x")
                .unwrap()
                .target(),
            Err(KmsError::InvalidArn(_))
        ));
        assert!(matches!(
            KeyReference::parse(""),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            KeyReference::parse("arn:aws:s3:::bucket"),
            Err(KmsError::InvalidArn(_))
        ));
        assert!(matches!(
            KeyReference::parse("not-a-key").unwrap().target(),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn principal_arns_are_checked() {
        assert_eq!(
            parse_principal_arn("arn:aws:iam::444455556666:role/path/to/deploy").unwrap(),
            (
                "444455556666".to_string(),
                PrincipalKind::Role,
                "deploy".to_string()
            )
        );
        for bad in [
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:group/x",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/a b",
            "arn:aws:sts::111122223333:user/a",
            "alice",
        ] {
            assert!(parse_principal_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_and_region_are_validated() {
        assert!(validate_account("12345678901").is_err());
        assert!(validate_account("12345678901a").is_err());
        assert!(validate_account("111122223333").is_ok());
        assert!(validate_region("us-east-1").is_ok());
        assert!(validate_region("US_EAST").is_err());
        assert!(validate_region("").is_err());
    }
}
