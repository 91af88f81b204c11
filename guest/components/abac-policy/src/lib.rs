//! ABAC policy plugin: allows a request on a tenant's key only when the request's encryption
//! context names the tenant the key is tagged with.
//!
//! Settings (`kms attach-policy-plugin --config name=value`), all optional:
//!
//! | name          | default | meaning |
//! |---------------|---------|---------|
//! | `tag-key`     | `tenant` | the key tag that names the key's tenant |
//! | `context-key` | the `tag-key` | the encryption-context key that must carry the same value |
//! | `actions`     | `kms:Encrypt,kms:Decrypt,kms:ReEncrypt*,kms:GenerateDataKey*` | the actions the rule governs; a trailing `*` matches any suffix; other actions get `abstain` |
//! | `untagged`    | `abstain` | the answer for a key without the tag: `abstain` or `deny` |
//!
//! Answers: `allow` when the context value equals the tag value, `deny` with the reason
//! otherwise. Attached to an account, the host turns every `allow` into `abstain`: an account
//! guard-rail can only deny.
#![no_std]

extern crate alloc;

use alloc::format;
use alloc::string::ToString;

use bindings::exports::kms::vault::policy::{Decision, Guest, Request};
use bindings::kms::vault::config;

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/policy-plugin",
        with: {
            "kms:vault/types@0.2.0": kms_guest::types,
            "kms:vault/log@0.2.0": kms_guest::log,
        },
    });
}

const DEFAULT_ACTIONS: &str = "kms:Encrypt,kms:Decrypt,kms:ReEncrypt*,kms:GenerateDataKey*";

/// Whether `action` is one of the comma-separated `patterns` (a trailing `*` matches a prefix).
fn governs(patterns: &str, action: &str) -> bool {
    patterns
        .split(',')
        .map(str::trim)
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => action.starts_with(prefix),
            None => action == pattern,
        })
}

struct AbacPolicy;

impl Guest for AbacPolicy {
    fn evaluate(request: Request) -> Decision {
        let actions = config::get("actions").unwrap_or_else(|| DEFAULT_ACTIONS.to_string());
        if !governs(&actions, &request.action) {
            return Decision::Abstain;
        }
        let tag_key = config::get("tag-key").unwrap_or_else(|| "tenant".to_string());
        let context_key = config::get("context-key").unwrap_or_else(|| tag_key.clone());
        let Some((_, tenant)) = request.key_tags.iter().find(|(k, _)| *k == tag_key) else {
            return match config::get("untagged").as_deref() {
                Some("deny") => Decision::Deny(format!("the key has no '{tag_key}' tag")),
                _ => Decision::Abstain,
            };
        };
        match request
            .encryption_context
            .iter()
            .find(|(k, _)| *k == context_key)
        {
            Some((_, value)) if value == tenant => Decision::Allow,
            Some((_, value)) => Decision::Deny(format!(
                "encryption context {context_key}={value} does not match the key's {tag_key} tag"
            )),
            None => Decision::Deny(format!(
                "the encryption context must carry '{context_key}' for this key"
            )),
        }
    }
}

bindings::export!(AbacPolicy with_types_in bindings);
