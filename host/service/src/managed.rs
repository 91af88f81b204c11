//! AWS managed keys: `alias/aws/<service>`, created on first use for the service (or by
//! DescribeKey, as AWS does), with AWS's key policy for them: usable by the account's principals
//! only through that service (`kms:ViaService`), readable by the account, changeable by nobody,
//! rotated every year.

use super::*;
use kms_core::types::KeySpec;
use kms_vault::{AliasRecord, RotationSchedule};

/// Days between rotations of an AWS managed key.
pub const MANAGED_KEY_ROTATION_DAYS: u32 = 365;

/// The AWS services that keep an AWS managed key (`alias/aws/<service>`) in an account. Only
/// these are ever created on demand: any other name is simply not found, so that a caller
/// cannot grow the vault by naming aliases.
pub const MANAGED_KEY_SERVICES: &[&str] = &[
    "acm",
    "backup",
    "cloudtrail",
    "codeartifact",
    "codecommit",
    "connect",
    "dms",
    "dynamodb",
    "ebs",
    "ecr",
    "elasticfilesystem",
    "es",
    "fsx",
    "glue",
    "kafka",
    "kinesis",
    "kinesisvideo",
    "lambda",
    "lex",
    "lightsail",
    "mq",
    "rds",
    "redshift",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "timestream",
    "workspaces",
    "xray",
];

/// The service named by an `alias/aws/<service>` reference (alias name or alias ARN), if it is
/// one of [`MANAGED_KEY_SERVICES`].
fn managed_alias_service(key: &str) -> Option<&'static str> {
    let service = request_alias(key)?.strip_prefix("alias/aws/")?;
    MANAGED_KEY_SERVICES.iter().copied().find(|s| *s == service)
}

/// AWS's key policy for the managed key of `service`.
pub fn managed_key_policy(service: &str, account: &str, region: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Id": "auto-{service}",
  "Statement": [
    {{
      "Sid": "Allow access through {service} for all principals in the account that are authorized to use {service}",
      "Effect": "Allow",
      "Principal": {{"AWS": "*"}},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
      "Resource": "*",
      "Condition": {{
        "StringEquals": {{
          "kms:ViaService": "{service}.{region}.amazonaws.com",
          "kms:CallerAccount": "{account}"
        }}
      }}
    }},
    {{
      "Sid": "Allow direct access to key metadata to the account",
      "Effect": "Allow",
      "Principal": {{"AWS": "arn:aws:iam::{account}:root"}},
      "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
      "Resource": "*"
    }}
  ]
}}"#
    )
}

impl Service {
    /// Resolves `key`, first creating the AWS managed key it names when it is
    /// `alias/aws/<service>` of a known service, does not exist yet, the call comes through that
    /// service (or is a DescribeKey), the key's policy would allow the caller `action`, and the
    /// region's key quota has room. Otherwise the alias is not found, as before.
    pub(super) fn resolve_creating_managed(
        &self,
        caller: &Caller,
        key: &str,
        action: &str,
    ) -> KmsResult<KeyRecord> {
        match self.resolve(key) {
            Err(KmsError::NotFound(message)) => {
                let Some(service) = managed_alias_service(key) else {
                    return Err(KmsError::NotFound(message));
                };
                let through_service = caller.via_service.as_deref().is_some_and(|via| {
                    via == format!("{service}.{}.amazonaws.com", self.region.as_str())
                });
                if !through_service && action != "kms:DescribeKey" {
                    return Err(KmsError::NotFound(message));
                }
                let record = self.managed_key_record(service);
                // Authorized on the key it would be, before anything is written: its policy
                // admits only the account's own principals.
                if self
                    .authorize(
                        caller,
                        action,
                        Resource::Key(&record, RequestFacts::default()),
                    )
                    .is_err()
                {
                    return Err(KmsError::NotFound(message));
                }
                self.create_managed_key(record)?;
                self.resolve(key)
            }
            other => other,
        }
    }

    /// The record of a new AWS managed key of `service` in this region (not stored).
    fn managed_key_record(&self, service: &str) -> KeyRecord {
        let now = self.now();
        KeyRecord {
            description: format!(
                "Default key that protects my {service} data when no other key is defined"
            ),
            policy: Some(managed_key_policy(
                service,
                self.shared.vault.account(),
                self.region.as_str(),
            )),
            managed_by: Some(service.to_string()),
            rotation: Some(RotationSchedule {
                period_days: MANAGED_KEY_ROTATION_DAYS,
                next_rotation_at: now + u64::from(MANAGED_KEY_ROTATION_DAYS) * SECONDS_PER_DAY,
            }),
            ..KeyRecord::new_symmetric(
                KeyId::random(),
                self.shared.vault.account(),
                self.region.as_str(),
                now,
            )
        }
    }

    /// Creates the AWS managed key `record` and its alias, unless another call just did, within
    /// the region's key quota. Two calls at once (in one process or several) both create a key,
    /// but only one alias can be created: the other call deletes its key again and uses the
    /// winner's.
    fn create_managed_key(&self, record: KeyRecord) -> KmsResult<()> {
        let service = record.managed_by.clone().unwrap_or_default();
        let alias_name = format!("alias/aws/{service}");
        let store = self.shared.vault.store();
        if store.alias(&self.region, &alias_name)?.is_some() {
            return Ok(());
        }
        self.require_room_for_a_key()?;
        let now = record.created_at;
        let key_id = record.key_id;
        let service_caller = Caller {
            principal: format!("{service}.amazonaws.com"),
            account: self.shared.vault.account().to_string(),
            source: CallSource::Scheduler,
            via_service: None,
        };
        let mut note = AuditNote::default();
        note.key(self.key_arn(&key_id));
        let result = (|| {
            let first =
                self.shared
                    .vault
                    .new_version(&key_id, KeySpec::SymmetricDefault, 1, now, None)?;
            self.shared
                .vault
                .store()
                .insert_key(&record, Some(&first))?;
            let alias = self.shared.vault.store().insert_alias(&AliasRecord {
                region: self.region.clone(),
                name: alias_name,
                key_id,
                created_at: now,
                updated_at: now,
            });
            if let Err(KmsError::AlreadyExists(_)) = alias {
                // Another call made the managed key meanwhile: this one was never visible.
                let _ = self.shared.vault.store().delete_key(&record)?;
                self.shared.vault.evict(&key_id);
                return Ok(false);
            }
            alias.map(|()| true)
        })();
        if let Ok(false) = result {
            return Ok(());
        }
        self.record(&service_caller, "CreateKey", note, result.as_ref().err())?;
        result.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_aliases_are_recognised_by_name_and_arn() {
        assert_eq!(managed_alias_service("alias/aws/s3"), Some("s3"));
        assert_eq!(
            managed_alias_service("arn:aws:kms:us-east-1:111122223333:alias/aws/ebs"),
            Some("ebs")
        );
        assert_eq!(managed_alias_service("alias/s3"), None);
        assert_eq!(managed_alias_service("alias/aws/"), None);
        assert_eq!(managed_alias_service("alias/aws/S3!"), None);
        // Only the services AWS keeps managed keys for.
        assert_eq!(managed_alias_service("alias/aws/anything-else"), None);
    }

    #[test]
    fn the_managed_policy_parses_and_names_the_service() {
        let text = managed_key_policy("s3", "111122223333", "us-east-1");
        kms_authz::policy::PolicyDocument::parse(&text).unwrap();
        assert!(text.contains("s3.us-east-1.amazonaws.com"));
    }
}
