//! Principal ARNs and the account and region names inside them: parsed and checked here, once,
//! for every layer above.

use serde::{Deserialize, Serialize};

use crate::error::{KmsError, KmsResult};

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
        KmsError::Validation(format!(
            "'{arn}' is not a user or role ARN (arn:aws:iam::<12-digit account>:user/<name> or :role/<name>)"
        ))
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
        return Err(KmsError::Validation(format!(
            "The principal name in '{arn}' must be 1 to 64 letters, digits or +=,.@_-"
        )));
    }
    Ok((account.to_string(), kind, name.to_string()))
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
        Err(KmsError::Validation(format!(
            "Account id '{account}' must be exactly 12 digits"
        )))
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
        Err(KmsError::Validation(format!(
            "Region '{region}' must be lowercase letters, digits and hyphens, like us-east-1"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
