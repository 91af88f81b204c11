//! purpose-guard: a policy plugin that lets data be decrypted only for a stated purpose.
//!
//! A governed request (by default `kms:Decrypt`) must carry `purpose` in its encryption context,
//! with one of the allowed purposes; a key tagged `restricted=true` allows only the restricted
//! purposes. Roles named in `break-glass` are allowed whatever the purpose. Other actions get
//! `abstain`: the key policy decides them alone.
//!
//! Settings (`kms attach-policy-plugin --config name=value`), all optional:
//!
//! | name                  | default       | meaning |
//! |-----------------------|---------------|---------|
//! | `actions`             | `kms:Decrypt` | the actions governed, comma-separated |
//! | `purposes`            | `billing,support` | the purposes allowed |
//! | `restricted-purposes` | `audit`       | the purposes allowed on a key tagged `restricted=true` |
//! | `break-glass`         | (none)        | role names (`role/NAME`) allowed whatever the purpose |
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};

use bindings::exports::kms::vault::policy::{Decision, Guest, Request};
use bindings::kms::vault::config;

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "kms:vault/policy-plugin",
        with: {
            "kms:vault/types@0.2.0": kms_guest::types,
            "kms:vault/log@0.2.0": kms_guest::log,
        },
    });
}

/// A setting, or its default.
fn setting(name: &str, default: &str) -> String {
    config::get(name).unwrap_or_else(|| default.to_string())
}

/// Whether `value` is one of the comma-separated `list`.
fn listed(list: &str, value: &str) -> bool {
    list.split(',').map(str::trim).any(|item| item == value)
}

struct PurposeGuard;

impl Guest for PurposeGuard {
    fn evaluate(request: Request) -> Decision {
        if !listed(&setting("actions", "kms:Decrypt"), &request.action) {
            return Decision::Abstain;
        }
        let break_glass = setting("break-glass", "");
        if let Some((_, role)) = request.principal.split_once(":role/")
            && !break_glass.is_empty()
            && listed(&break_glass, role)
        {
            return Decision::Allow;
        }
        let restricted = request
            .key_tags
            .iter()
            .any(|(k, v)| k == "restricted" && v == "true");
        let allowed = if restricted {
            setting("restricted-purposes", "audit")
        } else {
            setting("purposes", "billing,support")
        };
        match request
            .encryption_context
            .iter()
            .find(|(k, _)| k == "purpose")
        {
            None => Decision::Deny(format!(
                "{} needs a purpose in the encryption context",
                request.action
            )),
            Some((_, purpose)) if listed(&allowed, purpose) => Decision::Allow,
            Some((_, purpose)) => Decision::Deny(format!(
                "purpose '{purpose}' is not one of {allowed}{}",
                if restricted {
                    " (the key is restricted)"
                } else {
                    ""
                }
            )),
        }
    }
}

bindings::export!(PurposeGuard with_types_in bindings);
