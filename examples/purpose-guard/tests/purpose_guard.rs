//! purpose-guard in a real KMS: its verdicts on requests, and what callers meet once it guards a
//! key — including when the KMS throttles, a key is scheduled for deletion mid-way, or another
//! plugin fails.

use kms_testkit::kms_service::{DecryptRequest, EncryptRequest, EncryptionContext};
use kms_testkit::{Fault, KeySpec, KmsError, PluginVerdict, Scratch, request, trapping_component};

/// This project's component, built from its source as it is now.
fn guard() -> Vec<u8> {
    kms_testkit::build_component(env!("CARGO_MANIFEST_DIR")).expect("the component builds")
}

fn decrypt_with(context: &[(&str, &str)]) -> kms_testkit::PolicyRequest {
    let mut request = request("kms:Decrypt");
    request.encryption_context = context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    request
}

#[test]
fn decrypt_needs_an_allowed_purpose() {
    let kms = Scratch::new();
    let guard = guard();
    let verdict = |request, config: &[(&str, &str)]| kms.plugin_verdict(&guard, config, &request);

    assert_eq!(
        verdict(decrypt_with(&[("purpose", "billing")]), &[]),
        PluginVerdict::Allow
    );
    assert!(matches!(
        verdict(decrypt_with(&[("purpose", "marketing")]), &[]),
        PluginVerdict::Deny(reason) if reason.contains("'marketing' is not one of billing,support")
    ));
    assert!(matches!(
        verdict(decrypt_with(&[]), &[]),
        PluginVerdict::Deny(_)
    ));
    // Other actions are the key policy's alone.
    assert_eq!(verdict(request("kms:Encrypt"), &[]), PluginVerdict::Abstain);
    // Its settings change what it governs and allows.
    let config = [
        ("purposes", "marketing"),
        ("actions", "kms:Decrypt,kms:Encrypt"),
    ];
    assert_eq!(
        verdict(decrypt_with(&[("purpose", "marketing")]), &config),
        PluginVerdict::Allow
    );
    assert!(matches!(
        verdict(request("kms:Encrypt"), &config),
        PluginVerdict::Deny(_)
    ));
}

#[test]
fn a_restricted_key_allows_only_the_restricted_purposes_and_break_glass_roles() {
    let kms = Scratch::new();
    let guard = guard();
    let mut restricted = decrypt_with(&[("purpose", "billing")]);
    restricted.key_tags = vec![("restricted".into(), "true".into())];
    assert!(matches!(
        kms.plugin_verdict(&guard, &[], &restricted),
        PluginVerdict::Deny(reason) if reason.contains("restricted")
    ));
    restricted.encryption_context = vec![("purpose".into(), "audit".into())];
    assert_eq!(
        kms.plugin_verdict(&guard, &[], &restricted),
        PluginVerdict::Allow
    );

    let mut on_call = decrypt_with(&[]);
    on_call.principal = "arn:aws:iam::111122223333:role/on-call".into();
    assert!(matches!(
        kms.plugin_verdict(&guard, &[], &on_call),
        PluginVerdict::Deny(_)
    ));
    let config = [("break-glass", "on-call,sre")];
    assert_eq!(
        kms.plugin_verdict(&guard, &config, &on_call),
        PluginVerdict::Allow
    );
}

/// A KMS with one key the guard protects, and an application allowed to use it.
struct Guarded {
    kms: Scratch,
    key: String,
    app: kms_testkit::Caller,
}

fn guarded() -> Guarded {
    let kms = Scratch::new();
    let key = kms.key(KeySpec::SymmetricDefault);
    let app = kms.principal(
        "arn:aws:iam::111122223333:role/app",
        &["kms:Encrypt", "kms:Decrypt"],
    );
    kms.attach_plugin(Some(&key), &guard(), &[]);
    Guarded { kms, key, app }
}

impl Guarded {
    fn encrypt(&self, purpose: &str) -> Vec<u8> {
        let mut request = EncryptRequest::new(&self.key, b"invoice 42".to_vec());
        request.encryption_context = context(purpose);
        self.kms
            .service()
            .encrypt(&self.app, request)
            .unwrap()
            .ciphertext_blob
    }

    fn decrypt(&self, blob: &[u8], purpose: &str) -> Result<Vec<u8>, KmsError> {
        let mut request = DecryptRequest::new(blob.to_vec());
        request.encryption_context = context(purpose);
        self.kms
            .service()
            .decrypt(&self.app, request)
            .map(|answer| answer.plaintext.to_vec())
    }
}

fn context(purpose: &str) -> EncryptionContext {
    EncryptionContext::from_pairs([("purpose", purpose)]).unwrap()
}

#[test]
fn guarding_a_key_it_refuses_decrypts_without_a_purpose_and_the_trail_says_so() {
    let g = guarded();
    // Encrypt is not governed: any purpose goes in.
    let blob = g.encrypt("billing");
    let mark = g.kms.audit_mark();
    assert_eq!(g.decrypt(&blob, "billing").unwrap(), b"invoice 42");
    g.kms.assert_audited(mark, "Decrypt", "Success");

    let refused = g.kms.audit_mark();
    let blob = g.encrypt("marketing");
    assert!(matches!(
        g.decrypt(&blob, "marketing"),
        Err(KmsError::AccessDenied(_))
    ));
    g.kms
        .assert_audited(refused, "Decrypt", "AccessDeniedException");
}

#[test]
fn a_throttled_decrypt_is_refused_once_and_then_served() {
    let g = guarded();
    let blob = g.encrypt("support");
    g.kms.throttle("Decrypt", 1);
    assert!(matches!(
        g.decrypt(&blob, "support"),
        Err(KmsError::Throttling(_))
    ));
    assert_eq!(g.decrypt(&blob, "support").unwrap(), b"invoice 42");
}

#[test]
fn a_key_scheduled_for_deletion_between_two_decrypts_refuses_the_second() {
    let g = guarded();
    let blob = g.encrypt("billing");
    g.kms
        .inject("Decrypt", 2, Fault::ScheduleKeyDeletion(g.key.clone()));
    assert!(g.decrypt(&blob, "billing").is_ok());
    assert!(matches!(
        g.decrypt(&blob, "billing"),
        Err(KmsError::InvalidState(_))
    ));
}

#[test]
fn another_plugin_that_traps_denies_even_what_the_guard_allows() {
    let g = guarded();
    let blob = g.encrypt("billing");
    g.kms
        .attach_plugin(None, &trapping_component("policy-plugin").unwrap(), &[]);
    assert!(matches!(
        g.decrypt(&blob, "billing"),
        Err(KmsError::AccessDenied(_))
    ));
}
