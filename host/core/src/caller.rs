//! Who is calling: the principal, its account and the front door the call came through, as
//! established by that front door. Every layer above decides and records with this.

use crate::arn::{parse_principal_arn, root_arn, validate_account};
use crate::error::{KmsError, KmsResult};

/// Who is calling, as established by the front door that received the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// ARN of the principal (`arn:aws:iam::111122223333:root`, a user or role ARN, …).
    pub principal: String,
    /// The principal's 12-digit account.
    pub account: String,
    /// The front door the call came through.
    pub source: CallSource,
    /// The AWS service acting for the principal (`s3.us-east-1.amazonaws.com`), if any: the
    /// value of `kms:ViaService`, and what may use `alias/aws/<service>` keys.
    pub via_service: Option<String>,
}

/// The front door a call came through, recorded in the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallSource {
    /// The Rust embedding API.
    Embedded,
    /// The `kms` command line.
    Cli,
    /// The HTTP API, with the client's address.
    Api {
        /// Client address, if known.
        source_ip: Option<String>,
        /// The request id the API answered with (`x-amzn-RequestId`), which the audit records
        /// of the call carry too.
        request_id: Option<String>,
    },
    /// A host call from a guest component.
    Guest {
        /// SHA-256 of the component's bytes, hex.
        component_digest: String,
    },
    /// The service's own scheduled work (deletions and automatic rotations that fell due).
    Scheduler,
}

impl CallSource {
    /// How the audit trail names this front door (`cli`, `api:<ip>`, `guest:<digest>`, …).
    pub fn audit_name(&self) -> String {
        match self {
            CallSource::Embedded => "embedded".into(),
            CallSource::Cli => "cli".into(),
            CallSource::Api {
                source_ip: None, ..
            } => "api".into(),
            CallSource::Api {
                source_ip: Some(ip),
                ..
            } => format!("api:{ip}"),
            CallSource::Guest { component_digest } => format!("guest:{component_digest}"),
            CallSource::Scheduler => "kms".into(),
        }
    }
}

impl Caller {
    /// The root principal of `account`, calling through the embedding API.
    pub fn account_root(account: &str) -> Self {
        Caller {
            principal: root_arn(account),
            account: account.to_string(),
            source: CallSource::Embedded,
            via_service: None,
        }
    }

    /// The principal with this ARN (`arn:aws:iam::<account>:root`, `…:user/<name>`,
    /// `…:role/<name>`), calling through the embedding API.
    ///
    /// ```
    /// use kms_core::Caller;
    /// let alice = Caller::principal("arn:aws:iam::111122223333:user/alice").unwrap();
    /// assert_eq!(alice.account, "111122223333");
    /// assert!(Caller::principal("alice").is_err());
    /// ```
    pub fn principal(arn: &str) -> KmsResult<Self> {
        let account = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next())
            .filter(|a| validate_account(a).is_ok())
            .ok_or_else(|| {
                KmsError::invalid("principal ARN", format!(
                    "'{arn}' is not an IAM principal ARN (arn:aws:iam::<12-digit account>:<name>)"
                ))
            })?;
        if arn != root_arn(account) {
            parse_principal_arn(arn)?;
        }
        Ok(Caller {
            principal: arn.to_string(),
            account: account.to_string(),
            source: CallSource::Embedded,
            via_service: None,
        })
    }

    /// A service principal (`logs.us-east-1.amazonaws.com`) calling for `account`: key policy
    /// statements with `"Principal": {"Service": …}` name it.
    ///
    /// ```
    /// use kms_core::Caller;
    /// let logs = Caller::service("logs.us-east-1.amazonaws.com", "111122223333").unwrap();
    /// assert_eq!(logs.principal, "logs.us-east-1.amazonaws.com");
    /// assert!(Caller::service("evil.example.com", "111122223333").is_err());
    /// ```
    pub fn service(service_principal: &str, account: &str) -> KmsResult<Self> {
        validate_account(account)?;
        let valid = service_principal.len() <= 128
            && service_principal.ends_with(".amazonaws.com")
            && service_principal
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c));
        if !valid {
            return Err(KmsError::invalid(
                "service principal",
                format!(
                    "'{service_principal}' is not a service principal (<service>[.<region>].amazonaws.com)"
                ),
            ));
        }
        Ok(Caller {
            principal: service_principal.to_string(),
            account: account.to_string(),
            source: CallSource::Embedded,
            via_service: None,
        })
    }

    /// Whether the caller is a service principal rather than an IAM identity.
    pub fn is_service(&self) -> bool {
        !self.principal.starts_with("arn:")
    }

    /// The same caller, with an AWS service acting for it (`kms:ViaService`).
    pub fn via_service(mut self, service: &str) -> Self {
        self.via_service = Some(service.to_string());
        self
    }

    /// The client address of an HTTP call (`aws:SourceIp`).
    pub fn source_ip(&self) -> Option<&str> {
        match &self.source {
            CallSource::Api { source_ip, .. } => source_ip.as_deref(),
            _ => None,
        }
    }

    /// The same caller, arriving through another front door.
    pub fn via(mut self, source: CallSource) -> Self {
        self.source = source;
        self
    }
}
