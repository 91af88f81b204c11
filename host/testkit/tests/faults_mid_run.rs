//! Faults injected while the stock components run, through the kit as authors use it: the
//! component sees the refusal its host call would get in production, and the trail records it.

use kms_testkit::{Fault, KeySpec, RunError, Scratch, Tenant, trapping_component};

fn stock(name: &str) -> &'static [u8] {
    kms_guest_components::stock(name).unwrap().bytes
}

/// The account's root as a tenant allowed every operation on the key of `alias`.
fn tenant_on(kms: &Scratch, alias: &str) -> Tenant {
    kms.tenant(kms.root(), &[&format!("{alias}=all")])
}

/// A scratch KMS with a key under `alias/orders` and a tenant allowed everything on it.
fn orders() -> (Scratch, String, Tenant) {
    let kms = Scratch::new();
    let key = kms.key(KeySpec::SymmetricDefault);
    kms.alias("alias/orders", &key);
    let tenant = tenant_on(&kms, "alias/orders");
    (kms, key, tenant)
}

#[test]
fn a_key_disabled_between_a_components_encrypt_and_its_decrypt() {
    let (kms, key, tenant) = orders();
    let app = kms.load(stock("tenant-app")).unwrap();
    let mark = kms.audit_mark();
    kms.inject("Decrypt", 1, Fault::DisableKey(key.clone()));
    let answer = kms.run(&app, &tenant, &["alias/orders"]).unwrap();
    let error = answer.unwrap_err();
    assert!(error.starts_with("decrypt:"), "{error}");
    assert!(error.contains("disabled"), "{error}");
    kms.assert_audited(mark, "Encrypt", "Success");
    kms.assert_audited(mark, "DisableKey", "Success");
    kms.assert_audited(mark, "Decrypt", "DisabledException");

    // Nothing is left injected: enabled again, the same run succeeds.
    kms.service()
        .enable_key(kms.root(), kms_testkit::kms_service::KeyRequest::new(&key))
        .unwrap();
    assert!(kms.run(&app, &tenant, &["alias/orders"]).unwrap().is_ok());
}

#[test]
fn a_throttled_host_call_reaches_the_component_as_throttling() {
    let (kms, _, tenant) = orders();
    let app = kms.load(stock("tenant-app")).unwrap();
    let mark = kms.audit_mark();
    kms.throttle("Encrypt", 1);
    let error = kms
        .run(&app, &tenant, &["alias/orders"])
        .unwrap()
        .unwrap_err();
    assert!(error.starts_with("encrypt:"), "{error}");
    assert!(error.contains("Rate exceeded"), "{error}");
    kms.assert_audited(mark, "Encrypt", "ThrottlingException");
}

#[test]
fn a_key_scheduled_for_deletion_between_seal_and_open_of_one_wrapper_session() {
    let (kms, key, tenant) = orders();
    let wrapper = kms.load(stock("data-key-wrapper")).unwrap();
    let mut session = kms.wrapper(&wrapper, &tenant).unwrap();
    let context = Default::default();
    let sealed = session
        .seal("alias/orders", b"order 7", &context)
        .unwrap()
        .unwrap();
    kms.schedule_deletion(&key, 7);
    let opened = session.open(&sealed, &context).unwrap();
    assert!(opened.is_err(), "{opened:?}");
}

#[test]
fn imported_material_that_expires_while_sealed_data_waits() {
    let kms = Scratch::new();
    let key = kms.imported_key(Some(30));
    kms.alias("alias/imported", &key);
    let tenant = tenant_on(&kms, "alias/imported");
    let wrapper = kms.load(stock("data-key-wrapper")).unwrap();
    let context = Default::default();
    let sealed = kms
        .wrapper(&wrapper, &tenant)
        .unwrap()
        .seal("alias/imported", b"kept a month", &context)
        .unwrap()
        .unwrap();
    kms.advance_days(29);
    let mut session = kms.wrapper(&wrapper, &tenant).unwrap();
    assert_eq!(
        session.open(&sealed, &context).unwrap().unwrap(),
        b"kept a month"
    );
    kms.advance_days(2);
    let mut session = kms.wrapper(&wrapper, &tenant).unwrap();
    assert!(session.open(&sealed, &context).unwrap().is_err());
}

#[test]
fn a_trapping_plugin_on_the_key_denies_the_components_calls() {
    let (kms, key, tenant) = orders();
    kms.attach_plugin(
        Some(&key),
        &trapping_component("policy-plugin").unwrap(),
        &[],
    );
    let app = kms.load(stock("tenant-app")).unwrap();
    let mark = kms.audit_mark();
    let error = kms
        .run(&app, &tenant, &["alias/orders"])
        .unwrap()
        .unwrap_err();
    // The app's first call (describe) is refused: the plugin failed, so it counts as a deny.
    assert!(
        error.starts_with("describe: AccessDeniedException"),
        "{error}"
    );
    kms.assert_audited(mark, "DescribeKey", "AccessDeniedException");
}

#[test]
fn a_component_that_traps_is_stopped_and_the_kms_keeps_serving() {
    let (kms, _, tenant) = orders();
    let app = kms
        .load(&trapping_component("tenant-command").unwrap())
        .unwrap();
    assert!(matches!(
        kms.run(&app, &tenant, &["alias/orders"]),
        Err(RunError::Trapped { .. })
    ));
    let stock_app = kms.load(stock("tenant-app")).unwrap();
    assert!(
        kms.run(&stock_app, &tenant, &["alias/orders"])
            .unwrap()
            .is_ok()
    );
}
