//! Accounts, principals, identity policies and access keys: who may call, with what permissions
//! beyond the key policies, and with which credentials (for the HTTP API's SigV4).
//!
//! A principal manages the identities of its own account when the account root or an identity
//! policy allows the IAM action (`iam:CreateUser`, `iam:PutUserPolicy`, …). The root of the
//! vault's own account is the operator: it manages every account.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::*;
use kms_authz::policy::PolicyDocument;
use kms_core::types::Tag;
use kms_vault::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, PrincipalKind, PrincipalRecord,
    parse_principal_arn, validate_account,
};

/// Most identity policies one principal may hold.
pub const MAX_IDENTITY_POLICIES: usize = 10;
/// Most access keys one principal may hold (as IAM).
pub const MAX_ACCESS_KEYS: usize = 2;

/// CreateAccount request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAccountRequest {
    /// The 12-digit account id.
    pub account_id: String,
    /// A friendly name.
    #[serde(default)]
    pub name: String,
}

/// One account, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountEntry {
    /// The 12-digit account id.
    pub account_id: String,
    /// Its friendly name.
    pub name: String,
    /// Creation time, seconds since the epoch.
    pub creation_date: u64,
}

/// CreatePrincipal request: a user or a role.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePrincipalRequest {
    /// `arn:aws:iam::<account>:user/<name>` or `…:role/<name>`.
    pub arn: String,
    /// Initial tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A principal, as shown (its identity policies by name only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrincipalEntry {
    /// The principal's ARN.
    pub arn: String,
    /// Its account.
    pub account: String,
    /// `USER` or `ROLE`.
    pub kind: PrincipalKind,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// The names of its identity policies.
    pub policy_names: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub creation_date: u64,
}

/// PutPrincipalPolicy request.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutPrincipalPolicyRequest {
    /// The principal's ARN.
    pub arn: String,
    /// The policy's name: 1 to 128 of `\w+=,.@-`.
    pub policy_name: String,
    /// The IAM JSON document (no `Principal`).
    pub policy_document: String,
}

/// A newly created access key: the only time its secret is shown.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyCreated {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    #[serde(serialize_with = "expose_secret")]
    pub secret_access_key: Zeroizing<String>,
    /// The principal it signs for.
    pub principal_arn: String,
}

fn expose_secret<S: serde::Serializer>(
    secret: &Zeroizing<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret)
}

impl std::fmt::Debug for AccessKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyCreated")
            .field("access_key_id", &self.access_key_id)
            .field("principal_arn", &self.principal_arn)
            .finish_non_exhaustive()
    }
}

/// One access key, as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyEntry {
    /// The access key id.
    pub access_key_id: String,
    /// The principal it signs for.
    pub principal_arn: String,
    /// `Active` or `Inactive`.
    pub status: AccessKeyStatus,
    /// Creation time, seconds since the epoch.
    pub creation_date: u64,
}

/// The credentials behind an access key id, for verifying a request's signature.
pub struct Credential {
    /// Who requests signed with this key come from.
    pub caller: Caller,
    /// The secret access key.
    pub secret: Zeroizing<Vec<u8>>,
}

fn principal_entry(record: PrincipalRecord) -> PrincipalEntry {
    PrincipalEntry {
        arn: record.arn,
        account: record.account,
        kind: record.kind,
        tags: record.tags,
        policy_names: record.policies.into_keys().collect(),
        creation_date: record.created_at,
    }
}

fn access_key_entry(record: AccessKeyRecord) -> AccessKeyEntry {
    AccessKeyEntry {
        access_key_id: record.access_key_id,
        principal_arn: record.principal_arn,
        status: record.status,
        creation_date: record.created_at,
    }
}

fn validate_policy_name(name: &str) -> KmsResult<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "PolicyName",
            format!("PolicyName '{name}' must be 1 to 128 letters, digits or _+=,.@-"),
        ))
    }
}

/// Checks an identity policy: a valid document whose statements name no principal.
pub fn validate_identity_policy(text: &str) -> KmsResult<PolicyDocument> {
    PolicyDocument::parse_identity_policy(text)
}

/// Characters of access key ids (as AWS: upper-case letters and digits).
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Characters of secret access keys.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_text(alphabet: &[u8], len: usize) -> KmsResult<Zeroizing<String>> {
    let bytes = kms_crypto::random_bytes(len)?;
    // Both alphabets have a power-of-two size, so the modulo introduces no bias.
    Ok(Zeroizing::new(
        bytes
            .iter()
            .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
            .collect(),
    ))
}

impl Service {
    /// Makes sure the vault's own account is recorded (vaults created before accounts were).
    pub(super) fn ensure_own_account(&self) -> KmsResult<()> {
        let store = self.shared.vault.store();
        if store
            .accounts()?
            .iter()
            .any(|a| a.account_id == self.shared.vault.account())
        {
            return Ok(());
        }
        match store.insert_account(&AccountRecord {
            account_id: self.shared.vault.account().to_string(),
            name: "vault owner".into(),
            created_at: self.now(),
        }) {
            Err(KmsError::AlreadyExists(_)) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// CreateAccount: records another account whose principals may call (only the operator,
    /// the root of the vault's account, or an identity policy allowing
    /// `organizations:CreateAccount`).
    pub fn create_account(
        &self,
        caller: &Caller,
        req: CreateAccountRequest,
    ) -> KmsResult<AccountEntry> {
        self.audited(caller, "CreateAccount", |_| {
            self.authorize(
                caller,
                "organizations:CreateAccount",
                Resource::Identity {
                    arn: &format!(
                        "arn:aws:organizations::{}:account",
                        self.shared.vault.account()
                    ),
                    account: self.shared.vault.account(),
                },
            )?;
            validate_account(&req.account_id)?;
            if req.name.len() > 256 {
                return Err(KmsError::invalid(
                    "Name",
                    "Name must be at most 256 characters".into(),
                ));
            }
            let record = AccountRecord {
                account_id: req.account_id,
                name: req.name,
                created_at: self.now(),
            };
            self.shared.vault.store().insert_account(&record)?;
            Ok(AccountEntry {
                account_id: record.account_id,
                name: record.name,
                creation_date: record.created_at,
            })
        })
    }

    /// ListAccounts.
    pub fn list_accounts(&self, caller: &Caller) -> KmsResult<Vec<AccountEntry>> {
        self.audited(caller, "ListAccounts", |_| {
            self.authorize(
                caller,
                "organizations:ListAccounts",
                Resource::Identity {
                    arn: &format!(
                        "arn:aws:organizations::{}:account",
                        self.shared.vault.account()
                    ),
                    account: self.shared.vault.account(),
                },
            )?;
            Ok(self
                .shared
                .vault
                .store()
                .accounts()?
                .into_iter()
                .map(|a| AccountEntry {
                    account_id: a.account_id,
                    name: a.name,
                    creation_date: a.created_at,
                })
                .collect())
        })
    }

    /// The stored principal `arn`, after authorizing `action` (`iam:<Verb>User` or
    /// `iam:<Verb>Role`, by the principal's kind) on it.
    fn principal_for(&self, caller: &Caller, verb: &str, arn: &str) -> KmsResult<PrincipalRecord> {
        let (account, kind, _) = parse_principal_arn(arn)?;
        self.authorize(
            caller,
            &iam_action(verb, kind),
            Resource::Identity {
                arn,
                account: &account,
            },
        )?;
        self.shared
            .vault
            .store()
            .principal(arn)?
            .ok_or_else(|| KmsError::principal_not_found(arn))
    }

    /// CreatePrincipal: a user or role of an existing account, with tags.
    pub fn create_principal(
        &self,
        caller: &Caller,
        req: CreatePrincipalRequest,
    ) -> KmsResult<PrincipalEntry> {
        self.audited(caller, "CreatePrincipal", |_| {
            let (account, kind, name) = parse_principal_arn(&req.arn)?;
            self.authorize(
                caller,
                &iam_action("Create", kind),
                Resource::Identity {
                    arn: &req.arn,
                    account: &account,
                },
            )?;
            let tags = keys::new_tags(&req.tags)?;
            let record = PrincipalRecord {
                arn: req.arn,
                account,
                kind,
                name,
                tags,
                policies: Default::default(),
                created_at: self.now(),
                revision: 0,
            };
            self.shared.vault.store().insert_principal(&record)?;
            Ok(principal_entry(record))
        })
    }

    /// DeletePrincipal: the principal and its access keys.
    pub fn delete_principal(&self, caller: &Caller, arn: &str) -> KmsResult<()> {
        self.audited(caller, "DeletePrincipal", |_| {
            self.principal_for(caller, "Delete", arn)?;
            self.shared.vault.store().delete_principal(arn)
        })
    }

    /// Whether `arn` names a principal of this vault: an account's root (the account exists) or a
    /// user or role. Not an operation, and so not audited: a front end asks it to check the
    /// identity it was told to act as (the CLI's `--as`) before acting, and learns nothing an
    /// operation would not refuse to tell it.
    pub fn principal_exists(&self, arn: &str) -> KmsResult<bool> {
        let caller = Caller::principal(arn)?;
        if arn == kms_core::arn::root_arn(&caller.account) {
            return Ok(caller.account == self.account()
                || self
                    .shared
                    .vault
                    .store()
                    .accounts()?
                    .iter()
                    .any(|a| a.account_id == caller.account));
        }
        Ok(self.shared.vault.store().principal(arn)?.is_some())
    }

    /// GetPrincipal.
    pub fn get_principal(&self, caller: &Caller, arn: &str) -> KmsResult<PrincipalEntry> {
        self.audited(caller, "GetPrincipal", |_| {
            self.principal_for(caller, "Get", arn).map(principal_entry)
        })
    }

    /// ListPrincipals of an account.
    pub fn list_principals(
        &self,
        caller: &Caller,
        account: &str,
    ) -> KmsResult<Vec<PrincipalEntry>> {
        self.audited(caller, "ListPrincipals", |_| {
            validate_account(account)?;
            self.authorize(
                caller,
                "iam:ListUsers",
                Resource::Identity {
                    arn: &format!("arn:aws:iam::{account}:*"),
                    account,
                },
            )?;
            Ok(self
                .shared
                .vault
                .store()
                .principals(account)?
                .into_iter()
                .map(principal_entry)
                .collect())
        })
    }

    /// Authorizes `verb` on principal `arn`, then reads, changes and writes back its record
    /// until the write applies over the revision it read (another writer, in this process or
    /// another, makes it start over on what that writer wrote).
    fn modify_principal(
        &self,
        caller: &Caller,
        verb: &str,
        arn: &str,
        mut change: impl FnMut(&mut PrincipalRecord) -> KmsResult<()>,
    ) -> KmsResult<()> {
        self.until_applied(
            || arn.to_string(),
            || {
                let mut record = self.principal_for(caller, verb, arn)?;
                change(&mut record)?;
                Ok(
                    (self.shared.vault.store().update_principal(&record)? == Swap::Done)
                        .then_some(()),
                )
            },
        )
    }

    /// TagPrincipal: adds or replaces tags (`aws:PrincipalTag/<key>`).
    pub fn tag_principal(&self, caller: &Caller, arn: &str, tags: Vec<Tag>) -> KmsResult<()> {
        self.audited(caller, "TagPrincipal", |_| {
            self.modify_principal(caller, "Tag", arn, |record| {
                keys::merge_tags(&mut record.tags, &tags)
            })
        })
    }

    /// UntagPrincipal.
    pub fn untag_principal(&self, caller: &Caller, arn: &str, keys: &[String]) -> KmsResult<()> {
        self.audited(caller, "UntagPrincipal", |_| {
            self.modify_principal(caller, "Untag", arn, |record| {
                record.tags.retain(|t| !keys.contains(&t.tag_key));
                Ok(())
            })
        })
    }

    /// PutPrincipalPolicy: attaches (or replaces) an inline identity policy.
    pub fn put_principal_policy(
        &self,
        caller: &Caller,
        req: PutPrincipalPolicyRequest,
    ) -> KmsResult<()> {
        self.audited(caller, "PutPrincipalPolicy", |_| {
            validate_policy_name(&req.policy_name)?;
            validate_identity_policy(&req.policy_document)?;
            self.modify_principal(caller, "Put", &req.arn, |record| {
                if !record.policies.contains_key(&req.policy_name)
                    && record.policies.len() >= MAX_IDENTITY_POLICIES
                {
                    return Err(KmsError::LimitExceeded(format!(
                        "A principal holds at most {MAX_IDENTITY_POLICIES} identity policies"
                    )));
                }
                record
                    .policies
                    .insert(req.policy_name.clone(), req.policy_document.clone());
                Ok(())
            })
        })
    }

    /// GetPrincipalPolicy: the document of one identity policy.
    pub fn get_principal_policy(
        &self,
        caller: &Caller,
        arn: &str,
        policy_name: &str,
    ) -> KmsResult<String> {
        self.audited(caller, "GetPrincipalPolicy", |_| {
            let record = self.principal_for(caller, "GetPolicy", arn)?;
            record.policies.get(policy_name).cloned().ok_or_else(|| {
                KmsError::NotFound(Missing::PrincipalPolicy {
                    arn: arn.into(),
                    policy_name: policy_name.into(),
                })
            })
        })
    }

    /// DeletePrincipalPolicy.
    pub fn delete_principal_policy(
        &self,
        caller: &Caller,
        arn: &str,
        policy_name: &str,
    ) -> KmsResult<()> {
        self.audited(caller, "DeletePrincipalPolicy", |_| {
            self.modify_principal(caller, "DeletePolicy", arn, |record| {
                match record.policies.remove(policy_name) {
                    Some(_) => Ok(()),
                    None => Err(KmsError::NotFound(Missing::PrincipalPolicy {
                        arn: arn.into(),
                        policy_name: policy_name.into(),
                    })),
                }
            })
        })
    }

    /// CreateAccessKey: a new access key id and secret for a principal (at most
    /// [`MAX_ACCESS_KEYS`]). The secret is shown only here.
    pub fn create_access_key(&self, caller: &Caller, arn: &str) -> KmsResult<AccessKeyCreated> {
        self.audited(caller, "CreateAccessKey", |_| {
            self.principal_for(caller, "CreateAccessKey", arn)?;
            // A first look for the common refusal; the store enforces the maximum atomically.
            if self.shared.vault.store().access_keys(arn)?.len() >= MAX_ACCESS_KEYS {
                return Err(KmsError::LimitExceeded(format!(
                    "A principal holds at most {MAX_ACCESS_KEYS} access keys"
                )));
            }
            let access_key_id = format!("AKIA{}", *random_text(ID_ALPHABET, 16)?);
            let secret = random_text(SECRET_ALPHABET, 40)?;
            let record = AccessKeyRecord {
                sealed_secret: self.shared.vault.seal_access_secret(
                    &access_key_id,
                    arn,
                    secret.as_bytes(),
                )?,
                access_key_id: access_key_id.clone(),
                principal_arn: arn.to_string(),
                status: AccessKeyStatus::Active,
                created_at: self.now(),
            };
            self.shared
                .vault
                .store()
                .insert_access_key(&record, MAX_ACCESS_KEYS)?;
            Ok(AccessKeyCreated {
                access_key_id,
                secret_access_key: secret,
                principal_arn: arn.to_string(),
            })
        })
    }

    /// The access key `id` of a principal the caller may manage.
    fn access_key_for(&self, caller: &Caller, verb: &str, id: &str) -> KmsResult<AccessKeyRecord> {
        let missing = || KmsError::access_key_not_found(id);
        let record = self
            .shared
            .vault
            .store()
            .access_key(id)?
            .ok_or_else(missing)?;
        self.principal_for(caller, verb, &record.principal_arn)?;
        Ok(record)
    }

    /// ListAccessKeys of a principal (never their secrets).
    pub fn list_access_keys(&self, caller: &Caller, arn: &str) -> KmsResult<Vec<AccessKeyEntry>> {
        self.audited(caller, "ListAccessKeys", |_| {
            self.principal_for(caller, "ListAccessKeys", arn)?;
            Ok(self
                .shared
                .vault
                .store()
                .access_keys(arn)?
                .into_iter()
                .map(access_key_entry)
                .collect())
        })
    }

    /// UpdateAccessKey: makes a key active or inactive.
    pub fn update_access_key(
        &self,
        caller: &Caller,
        id: &str,
        status: AccessKeyStatus,
    ) -> KmsResult<()> {
        self.audited(caller, "UpdateAccessKey", |_| {
            self.access_key_for(caller, "UpdateAccessKey", id)?;
            self.shared.vault.store().set_access_key_status(id, status)
        })
    }

    /// DeleteAccessKey.
    pub fn delete_access_key(&self, caller: &Caller, id: &str) -> KmsResult<()> {
        self.audited(caller, "DeleteAccessKey", |_| {
            self.access_key_for(caller, "DeleteAccessKey", id)?;
            self.shared.vault.store().delete_access_key(id)
        })
    }

    /// A number that moves on whenever the vault's record cache is emptied (a change made here,
    /// or one another process made): what the front door's caches of derived credentials
    /// (SigV4 signing keys) check before they answer.
    pub fn records_epoch(&self) -> u64 {
        self.shared.vault.records().epoch()
    }

    /// The caller and secret behind an active access key id, for a front door that verifies
    /// signatures. `None` for an unknown or inactive key (the front door refuses and audits).
    pub fn credential(&self, access_key_id: &str) -> KmsResult<Option<Credential>> {
        let Some(record) = self.shared.vault.store().access_key(access_key_id)? else {
            return Ok(None);
        };
        if record.status != AccessKeyStatus::Active {
            return Ok(None);
        }
        let secret = self.shared.vault.open_access_secret(&record)?;
        Ok(Some(Credential {
            caller: Caller::principal(&record.principal_arn)?,
            secret,
        }))
    }
}

/// The IAM action for `verb` on a principal of `kind`: `iam:CreateUser`, `iam:PutRolePolicy`, …
fn iam_action(verb: &str, kind: PrincipalKind) -> String {
    let noun = match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Role => "Role",
    };
    match verb {
        "CreateAccessKey" | "ListAccessKeys" | "UpdateAccessKey" | "DeleteAccessKey" => {
            format!("iam:{verb}")
        }
        "Put" | "GetPolicy" | "DeletePolicy" => {
            format!("iam:{}{noun}Policy", verb.trim_end_matches("Policy"))
        }
        _ => format!("iam:{verb}{noun}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_actions_are_named_as_iam_names_them() {
        assert_eq!(iam_action("Create", PrincipalKind::User), "iam:CreateUser");
        assert_eq!(iam_action("Tag", PrincipalKind::Role), "iam:TagRole");
        assert_eq!(iam_action("Put", PrincipalKind::Role), "iam:PutRolePolicy");
        assert_eq!(
            iam_action("GetPolicy", PrincipalKind::User),
            "iam:GetUserPolicy"
        );
        assert_eq!(
            iam_action("DeletePolicy", PrincipalKind::User),
            "iam:DeleteUserPolicy"
        );
        assert_eq!(
            iam_action("CreateAccessKey", PrincipalKind::Role),
            "iam:CreateAccessKey"
        );
    }

    #[test]
    fn identity_policies_may_not_name_principals() {
        assert!(
            validate_identity_policy(
                r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#
            )
            .is_ok()
        );
        let err = validate_identity_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.aws_type(), "MalformedPolicyDocumentException");
    }

    #[test]
    fn access_key_ids_and_secrets_have_aws_shapes() {
        let id = random_text(ID_ALPHABET, 16).unwrap();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        let secret = random_text(SECRET_ALPHABET, 40).unwrap();
        assert_eq!(secret.len(), 40);
        assert_ne!(*secret, *random_text(SECRET_ALPHABET, 40).unwrap());
    }
}
