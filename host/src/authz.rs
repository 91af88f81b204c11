//! Authorization: may this caller perform this action on this key? For now the rule is the one
//! AWS applies to a key with the default key policy and no grants: principals of the key's own
//! account may use and manage it; principals of any other account may not. Key policies, grants,
//! identity policies and policy plugins extend this one decision point later.

use crate::error::{KmsError, KmsResult};
use crate::service::Caller;

/// Decides whether `caller` may perform `action` (e.g. `kms:Encrypt`) on the resource `arn`
/// owned by `owner_account`.
///
/// ```
/// use kms_host::{authz, Caller};
/// let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// assert!(authz::authorize(&Caller::account_root("111122223333"), "kms:Encrypt", arn, "111122223333").is_ok());
/// assert!(authz::authorize(&Caller::account_root("444455556666"), "kms:Encrypt", arn, "111122223333").is_err());
/// ```
pub fn authorize(caller: &Caller, action: &str, arn: &str, owner_account: &str) -> KmsResult<()> {
    if caller.account == owner_account {
        return Ok(());
    }
    Err(KmsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on resource: {arn} because no resource-based policy allows the {action} action",
        caller.principal
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_names_principal_action_and_resource() {
        let err = authorize(
            &Caller::account_root("444455556666"),
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:111122223333:key/k",
            "111122223333",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("arn:aws:iam::444455556666:root"), "{msg}");
        assert!(msg.contains("kms:Decrypt"), "{msg}");
        assert!(msg.contains("key/k"), "{msg}");
    }
}
