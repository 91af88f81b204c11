//! Policy plugins in authorization, their management operations (AttachPolicyPlugin,
//! DetachPolicyPlugin, ListPolicyPlugins), and the few internal calls the component runtime needs
//! besides the public operations: what a guest may know about a key to match it against its
//! capability set, and audit records for events that happen outside any one operation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;
use kms_authz::{PluginVerdict, PolicyEngine, PolicyRequest};

use kms_crypto as crypto;
use kms_vault::{PluginAttachment, PluginScope};

/// The largest component accepted as a policy plugin.
pub const MAX_PLUGIN_BYTES: usize = 10 << 20;
const MAX_PLUGIN_SETTINGS: usize = 32;
const MAX_SETTING_NAME: usize = 64;
const MAX_SETTING_VALUE: usize = 1024;

/// AttachPolicyPlugin: a policy-plugin component for a key (`key_id`) or, without one, for the
/// whole account.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachPolicyPluginRequest {
    /// The key (id, ARN, alias) the plugin guards; `None` attaches it to the account.
    pub key_id: Option<String>,
    /// The attachment's name, unique within its scope: 1 to 64 letters, digits, `-` or `_`.
    pub plugin_name: String,
    /// The component binary (world `kms:vault/policy-plugin`).
    #[serde(with = "b64")]
    pub component: Vec<u8>,
    /// Settings the plugin reads through `kms:vault/config`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl std::fmt::Debug for AttachPolicyPluginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachPolicyPluginRequest")
            .field("key_id", &self.key_id)
            .field("plugin_name", &self.plugin_name)
            .field("component_len", &self.component.len())
            .field("config", &self.config)
            .finish()
    }
}

/// DetachPolicyPlugin and ListPolicyPlugins: a key, or the account when `key_id` is `None`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyPluginScopeRequest {
    /// The key (id, ARN, alias); `None` for the account's guard-rails.
    pub key_id: Option<String>,
    /// The attachment to detach (ignored by ListPolicyPlugins).
    #[serde(default)]
    pub plugin_name: String,
}

/// One attached plugin, as ListPolicyPlugins shows it (without the component's bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyPluginEntry {
    /// The attachment's name.
    pub plugin_name: String,
    /// `key/<key id>` or `account/<account id>`.
    pub scope: String,
    /// SHA-256 of the component, hex.
    pub component_digest: String,
    /// The component's size in bytes.
    pub component_size: usize,
    /// The plugin's settings.
    pub config: BTreeMap<String, String>,
    /// When it was attached, seconds since the epoch.
    #[serde(rename = "AttachedDate")]
    pub attached_at: u64,
}

/// ListPolicyPlugins response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPolicyPluginsResponse {
    /// The plugins of the scope, by name.
    pub plugins: Vec<PolicyPluginEntry>,
}

fn validate_plugin_name(name: &str) -> KmsResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(KmsError::invalid(
            "PluginName",
            format!("PluginName '{name}' must be 1 to 64 letters, digits, '-' or '_'"),
        ))
    }
}

fn validate_settings(config: &BTreeMap<String, String>) -> KmsResult<()> {
    if config.len() > MAX_PLUGIN_SETTINGS {
        return Err(KmsError::invalid(
            "Config",
            format!("A plugin takes at most {MAX_PLUGIN_SETTINGS} settings"),
        ));
    }
    for (name, value) in config {
        if name.is_empty() || name.len() > MAX_SETTING_NAME || value.len() > MAX_SETTING_VALUE {
            return Err(KmsError::invalid(
                "Config",
                format!(
                    "Setting names are 1 to {MAX_SETTING_NAME} bytes and values at most {MAX_SETTING_VALUE} bytes; '{name}' is not"
                ),
            ));
        }
    }
    Ok(())
}

impl Service {
    /// Installs the engine that runs policy plugins (the component runtime, `kms_runtime`,
    /// provides it). Until one is installed, every plugin evaluation fails, so keys guarded by a
    /// plugin refuse every request.
    pub fn set_policy_engine(&self, engine: Arc<dyn PolicyEngine>) {
        *self
            .shared
            .policy_engine
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(engine);
    }

    pub(super) fn policy_engine(&self) -> Arc<dyn PolicyEngine> {
        match self
            .shared
            .policy_engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(engine) => Arc::clone(engine),
            None => Arc::new(kms_authz::NoPolicyEngine),
        }
    }

    pub(super) fn record_plugin_verdict(
        &self,
        caller: &Caller,
        plugin: &PluginAttachment,
        request: &PolicyRequest,
        verdict: &PluginVerdict,
    ) -> KmsResult<()> {
        let reason = match verdict {
            PluginVerdict::Deny(reason) | PluginVerdict::Failed(reason) => format!(": {reason}"),
            PluginVerdict::Allow | PluginVerdict::Abstain => String::new(),
        };
        let counted = match verdict {
            PluginVerdict::Allow => 0,
            PluginVerdict::Deny(_) => 1,
            PluginVerdict::Abstain => 2,
            PluginVerdict::Failed(_) => 3,
        };
        self.shared.plugin_verdicts[counted].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let message = format!(
            "policy plugin '{}' ({}) on {} answered {} for {}{reason}",
            plugin.name,
            plugin.scope.as_stored(),
            request.action,
            verdict.audit_outcome(),
            request.principal,
        );
        let plugin_caller = Caller {
            source: CallSource::Guest {
                component_digest: plugin.digest.clone(),
            },
            ..caller.clone()
        };
        self.record_outcome(
            &plugin_caller,
            "EvaluatePolicyPlugin",
            Some(request.key_arn.clone()),
            verdict.audit_outcome(),
            Some(message),
        )
    }

    /// The scope a plugin request names. Authorized by the default rule alone: plugins do not
    /// govern their own attachment, so that a broken or hostile plugin can always be detached.
    fn plugin_scope(
        &self,
        caller: &Caller,
        note: &mut AuditNote,
        key: Option<&str>,
        action: &str,
    ) -> KmsResult<PluginScope> {
        match key {
            Some(key) => {
                let record = self.resolve(key)?;
                note.key(self.key_arn(&record.key_id));
                self.authorize(caller, action, Resource::KeyWithoutPlugins(&record))?;
                Ok(PluginScope::of_key(&record))
            }
            None => {
                self.authorize(caller, action, Resource::Account)?;
                Ok(PluginScope::Account(caller.account.clone()))
            }
        }
    }

    /// AttachPolicyPlugin: checks that the component is a loadable policy plugin, then attaches
    /// it, replacing an attachment of the same name.
    pub fn attach_policy_plugin(
        &self,
        caller: &Caller,
        req: AttachPolicyPluginRequest,
    ) -> KmsResult<PolicyPluginEntry> {
        self.audited(caller, "AttachPolicyPlugin", |note| {
            validate_plugin_name(&req.plugin_name)?;
            validate_settings(&req.config)?;
            if req.component.is_empty() || req.component.len() > MAX_PLUGIN_BYTES {
                return Err(KmsError::invalid(
                    "Component",
                    format!("Component must be between 1 and {MAX_PLUGIN_BYTES} bytes"),
                ));
            }
            let scope =
                self.plugin_scope(caller, note, req.key_id.as_deref(), "kms:PutKeyPolicy")?;
            // The engine checks the component's world and size before it compiles anything.
            self.policy_engine().check(&req.component)?;
            let attachment = PluginAttachment {
                scope,
                name: req.plugin_name,
                digest: component_digest(&req.component),
                component: req.component,
                config: req.config,
                attached_at: self.now(),
            };
            self.shared.vault.store().put_plugin(&attachment)?;
            Ok(entry(&attachment))
        })
    }

    /// DetachPolicyPlugin.
    pub fn detach_policy_plugin(
        &self,
        caller: &Caller,
        req: PolicyPluginScopeRequest,
    ) -> KmsResult<()> {
        self.audited(caller, "DetachPolicyPlugin", |note| {
            let scope =
                self.plugin_scope(caller, note, req.key_id.as_deref(), "kms:PutKeyPolicy")?;
            self.shared
                .vault
                .store()
                .delete_plugin(&scope, &req.plugin_name)
        })
    }

    /// ListPolicyPlugins: the plugins of a key or of the account.
    pub fn list_policy_plugins(
        &self,
        caller: &Caller,
        req: PolicyPluginScopeRequest,
    ) -> KmsResult<ListPolicyPluginsResponse> {
        self.audited(caller, "ListPolicyPlugins", |note| {
            let scope =
                self.plugin_scope(caller, note, req.key_id.as_deref(), "kms:GetKeyPolicy")?;
            let plugins = self.shared.vault.store().plugins(&scope)?;
            Ok(ListPolicyPluginsResponse {
                plugins: plugins.iter().map(entry).collect(),
            })
        })
    }
}

/// A component's identity in the audit trail and in plugin attachments: the SHA-256 of its
/// bytes, in hex.
///
/// ```
/// assert_eq!(kms_service::component_digest(b"").len(), 64);
/// ```
pub fn component_digest(component: &[u8]) -> String {
    hex::encode(crypto::sha256(component))
}

fn entry(plugin: &PluginAttachment) -> PolicyPluginEntry {
    PolicyPluginEntry {
        plugin_name: plugin.name.clone(),
        scope: plugin.scope.as_stored(),
        component_digest: plugin.digest.clone(),
        component_size: plugin.component.len(),
        config: plugin.config.clone(),
        attached_at: plugin.attached_at,
    }
}
