//! Real guest components, built from `guest/components` for wasm32-wasip2, in the real host: the
//! stock tenant application, data-key wrapper and ABAC policy plugin, and hostile guests that
//! attack the sandbox. Every attack must be stopped, denied and audited while the host goes on
//! serving.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_core::types::Tag;
use kms_guest_components as stock;
use kms_runtime::{
    Capabilities, GuestComponent, KeyOperation, KeySelector, MemoryLog, RunError, Runtime,
    RuntimeConfig, Tenant, TrapReason,
};
use kms_service::audit::AuditEvent;
use kms_service::{
    AliasRequest, AttachPolicyPluginRequest, CreateKeyRequest, DecryptRequest, EncryptRequest,
    KeyRequest, PolicyPluginScopeRequest,
};
use kms_service::{Caller, EncryptionContext, KmsError, Service};

const OTHER_ACCOUNT: &str = "444455556666";

struct Host {
    service: Arc<Service>,
    runtime: Runtime,
    log: Arc<MemoryLog>,
    /// The service's storage and root key, seen directly.
    vault: kms_vault::Vault,
}

fn config() -> RuntimeConfig {
    RuntimeConfig {
        call_time_limit: Duration::from_millis(500),
        plugin_time_limit: Duration::from_millis(100),
        pool_instances: 32,
        ..RuntimeConfig::default()
    }
}

fn host_with(config: RuntimeConfig) -> Host {
    let (service, vault) = kms_integration_tests::in_memory_service();
    host_on(service, vault, config)
}

fn host_on(service: Service, vault: kms_vault::Vault, config: RuntimeConfig) -> Host {
    let service = Arc::new(service);
    let log = Arc::new(MemoryLog::default());
    let runtime = Runtime::with_log(Arc::clone(&service), config, log.clone()).unwrap();
    Host {
        service,
        runtime,
        log,
        vault,
    }
}

fn host() -> Host {
    host_with(config())
}

impl Host {
    fn admin(&self) -> Caller {
        Caller::account_root(self.service.account())
    }

    /// A new symmetric key behind `alias`, with `tags`; returns its id.
    fn key(&self, alias: &str, tags: &[(&str, &str)]) -> String {
        self.key_from(
            alias,
            CreateKeyRequest {
                tags: tags
                    .iter()
                    .map(|(k, v)| Tag {
                        tag_key: k.to_string(),
                        tag_value: v.to_string(),
                    })
                    .collect(),
                ..CreateKeyRequest::default()
            },
        )
    }

    /// The key `req` creates, behind `alias`; returns its id.
    fn key_from(&self, alias: &str, req: CreateKeyRequest) -> String {
        let key_id = self
            .service
            .create_key(&self.admin(), req)
            .unwrap()
            .key_metadata
            .key_id;
        self.service
            .create_alias(
                &self.admin(),
                AliasRequest {
                    alias_name: alias.into(),
                    target_key_id: key_id.clone(),
                },
            )
            .unwrap();
        key_id
    }

    fn load(&self, path: &str) -> GuestComponent {
        self.runtime.load(&stock::bytes(path)).unwrap()
    }

    fn run(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
        arguments: &[&str],
    ) -> Result<Result<String, String>, RunError> {
        self.runtime.run(component, tenant, &args(arguments))
    }

    fn tenant(&self, capabilities: Capabilities) -> Tenant {
        Tenant::new(self.admin(), capabilities)
    }

    fn audit(&self) -> Vec<AuditEvent> {
        kms_integration_tests::audit_events(&self.service)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    fn audited(&self, operation: &str, outcome: &str) -> Vec<AuditEvent> {
        self.audit()
            .into_iter()
            .filter(|e| e.operation == operation && e.outcome == outcome)
            .collect()
    }

    fn attach(&self, key_id: Option<&str>, name: &str, path: &str, config: &[(&str, &str)]) {
        self.service
            .attach_policy_plugin(
                &self.admin(),
                AttachPolicyPluginRequest {
                    key_id: key_id.map(str::to_string),
                    plugin_name: name.into(),
                    component: stock::bytes(path),
                    config: config
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                },
            )
            .unwrap();
    }

    fn encrypt_as(
        &self,
        caller: &Caller,
        key: &str,
        context: &[(&str, &str)],
    ) -> Result<Vec<u8>, KmsError> {
        let req = EncryptRequest::new(key, b"payload".to_vec())
            .with_context(EncryptionContext::from_pairs(context.iter().copied()).unwrap());
        self.service.encrypt(caller, req).map(|r| r.ciphertext_blob)
    }
}

fn all_on(selector: &str) -> Capabilities {
    Capabilities::builder()
        .grant(format!("{selector}=all").parse().unwrap())
        .build()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn trapped(result: Result<Result<String, String>, RunError>) -> TrapReason {
    match result {
        Err(RunError::Trapped { reason, .. }) => reason,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Runs `attack` on another thread while a well-behaved tenant is served here, at least once and
/// until the attack is over: the proof that the attack hurt no one else. Returns its outcome.
fn while_serving<R: Send>(host: &Host, attack: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        let attacker = scope.spawn(attack);
        let mut served = 0;
        while served == 0 || !attacker.is_finished() {
            still_serving(host);
            served += 1;
        }
        attacker.join().unwrap()
    })
}

/// A well-behaved guest still gets served.
fn still_serving(host: &Host) {
    let app = host.load(stock::TENANT_APP);
    let report = host
        .run(&app, &host.tenant(all_on("alias/app")), &["alias/app"])
        .unwrap()
        .unwrap();
    assert!(report.contains("encrypt/decrypt: ok"), "{report}");
}

fn vault_interfaces(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| format!("kms:vault/{n}@0.2.0"))
        .collect()
}

#[test]
fn stock_components_import_nothing_but_kms_vault() {
    let host = host();
    for (path, imports, exports) in [
        (
            stock::TENANT_APP,
            vec!["data-keys", "keys", "log", "types"],
            vec!["app"],
        ),
        (
            stock::DATA_KEY_WRAPPER,
            vec!["config", "data-keys", "keys", "types"],
            vec!["envelope"],
        ),
        (stock::ABAC_POLICY, vec!["config", "types"], vec!["policy"]),
    ] {
        let component = host.load(path);
        assert_eq!(component.imports(), vault_interfaces(&imports), "{path}");
        assert_eq!(component.exports(), vault_interfaces(&exports), "{path}");
        assert!(
            component.imports().iter().all(|i| !i.starts_with("wasi:")),
            "{path} imports WASI: {:?}",
            component.imports()
        );
    }
}

#[test]
fn tenant_app_round_trips_through_the_host() {
    let host = host();
    host.key("alias/app", &[]);
    let app = host.load(stock::TENANT_APP);
    let report = host
        .run(
            &app,
            &host.tenant(all_on("alias/app")),
            &["alias/app", "alias/app", "alias/app"],
        )
        .unwrap()
        .unwrap();
    for line in [
        "encrypt/decrypt: ok",
        "decrypt with another context: refused",
        "re-encrypt: ok",
        "data key seal/open: ok (10240 bytes",
        "sign: skipped",
        "mac: skipped",
    ] {
        assert!(report.contains(line), "missing '{line}' in:\n{report}");
    }
    // Every host call is in the audit trail under the component's digest.
    let source = format!("guest:{}", app.digest());
    let by_guest: Vec<_> = host
        .audit()
        .into_iter()
        .filter(|e| e.source == source)
        .collect();
    for operation in [
        "OpenKey",
        "DescribeKey",
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
    ] {
        assert!(
            by_guest
                .iter()
                .any(|e| e.operation == operation && e.outcome == "Success"),
            "no successful {operation} by the guest"
        );
    }
    assert!(
        by_guest
            .iter()
            .any(|e| e.operation == "Decrypt" && e.outcome == "InvalidCiphertextException"),
        "the refused decrypt was not audited"
    );
    let logged = host.log.lines();
    assert!(
        logged
            .iter()
            .any(|l| l.message.contains("tenant-app starting")
                && l.component_digest == app.digest()
                && l.principal == host.admin().principal)
    );
}

#[test]
fn the_same_app_runs_without_the_pooling_allocator() {
    let host = host_with(RuntimeConfig {
        pooling: false,
        ..config()
    });
    host.key("alias/app", &[]);
    still_serving(&host);
}

#[test]
fn a_capability_narrows_what_the_instance_may_do() {
    let host = host();
    host.key("alias/app", &[]);
    let app = host.load(stock::TENANT_APP);
    let encrypt_only = Capabilities::builder()
        .allow(
            KeySelector::Alias("alias/app".into()),
            [KeyOperation::Describe, KeyOperation::Encrypt],
        )
        .build();
    let failure = host
        .run(&app, &host.tenant(encrypt_only), &["alias/app"])
        .unwrap()
        .unwrap_err();
    // Decrypting under a key outside the capability answers like any bad ciphertext; the audit
    // trail tells the operator why.
    assert!(
        failure.starts_with("decrypt: InvalidCiphertextException"),
        "{failure}"
    );
    assert_eq!(host.audited("Encrypt", "Success").len(), 1);
    let refused = host.audited("Decrypt", "InvalidCiphertextException");
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("outside this component's capability set"),
        "{:?}",
        refused[0]
    );
}

#[test]
fn a_capability_cannot_widen_what_the_principal_may_do() {
    let host = host();
    host.key("alias/app", &[]);
    let app = host.load(stock::TENANT_APP);
    let outsider = Tenant::new(Caller::account_root(OTHER_ACCOUNT), all_on("alias/app"));
    let failure = host
        .run(&app, &outsider, &["alias/app"])
        .unwrap()
        .unwrap_err();
    assert!(failure.contains("AccessDeniedException"), "{failure}");
    assert!(failure.contains(OTHER_ACCOUNT), "{failure}");
}

#[test]
fn a_key_outside_the_capability_is_indistinguishable_from_a_missing_one() {
    let host = host();
    host.key("alias/app", &[]);
    host.key("alias/secret", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let outside = host
        .run(&hostile, &tenant, &["open", "alias/secret"])
        .unwrap()
        .unwrap_err();
    let missing = host
        .run(&hostile, &tenant, &["open", "alias/nowhere"])
        .unwrap()
        .unwrap_err();
    assert_eq!(
        outside.replace("alias/secret", "NAME"),
        missing.replace("alias/nowhere", "NAME")
    );
    assert!(outside.starts_with("NotFoundException"), "{outside}");
    // The operator sees why.
    let refused = host.audited("OpenKey", "NotFoundException");
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().any(|e| {
        e.key_arn.is_some()
            && e.error_message
                .as_deref()
                .unwrap()
                .contains("outside this component's capability set")
    }));
    assert_eq!(
        host.run(&hostile, &tenant, &["open", "alias/app"]).unwrap(),
        Ok("opened".to_string())
    );
}

#[test]
fn a_guest_reports_the_aws_exception_an_http_client_would_get() {
    let host = host();
    let key = host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    // A symmetric key has no public half: an error that shares the `validation` case with ten
    // other exceptions, and that guests used to see only as `ValidationException`.
    let failure = host
        .run(
            &hostile,
            &host.tenant(all_on("alias/app")),
            &["public-key", "alias/app"],
        )
        .unwrap()
        .unwrap_err();
    let direct = host
        .service
        .get_public_key(&host.admin(), KeyRequest::new(&key))
        .unwrap_err();
    assert_eq!(direct.aws_type(), "UnsupportedOperationException");
    assert!(
        failure.starts_with(&format!("{}: ", direct.aws_type())),
        "{failure}"
    );
    assert!(failure.ends_with(&*direct.message()), "{failure}");
    assert_eq!(
        host.audited("GetPublicKey", "UnsupportedOperationException")
            .len(),
        2
    );
}

#[test]
fn selectors_follow_aliases_and_tags_as_they_change() {
    let host = host();
    let key = host.key("alias/app", &[("tenant", "acme")]);
    let hostile = host.load(stock::HOSTILE_APP);
    let by_tag = host.tenant(
        Capabilities::builder()
            .allow(
                KeySelector::Tag {
                    key: "tenant".into(),
                    value: "acme".into(),
                },
                [KeyOperation::Encrypt],
            )
            .build(),
    );
    let mut session = host.runtime.command(&hostile, &by_tag).unwrap();
    assert_eq!(
        session.run(&args(&["keep", &key])).unwrap(),
        Ok("kept".into())
    );
    assert_eq!(
        session.run(&args(&["use-kept"])).unwrap(),
        Ok("encrypted".into())
    );
    // Retagging the key takes it out of the capability, even for the handle already open.
    host.service
        .tag_resource(
            &host.admin(),
            kms_service::TagResourceRequest {
                key_id: key.clone(),
                tags: vec![Tag {
                    tag_key: "tenant".into(),
                    tag_value: "globex".into(),
                }],
            },
        )
        .unwrap();
    let refused = session.run(&args(&["use-kept"])).unwrap().unwrap_err();
    assert!(refused.starts_with("AccessDeniedException"), "{refused}");

    let by_prefix = host.tenant(all_on("alias/*"));
    assert_eq!(
        host.run(&hostile, &by_prefix, &["open", "alias/app"])
            .unwrap(),
        Ok("opened".into())
    );
}

#[test]
fn a_handle_opened_before_the_key_was_disabled_is_refused_after() {
    let host = host();
    let key = host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let mut session = host
        .runtime
        .command(&hostile, &host.tenant(all_on("alias/app")))
        .unwrap();
    assert_eq!(
        session.run(&args(&["keep", "alias/app"])).unwrap(),
        Ok("kept".into())
    );
    host.service
        .disable_key(&host.admin(), KeyRequest::new(&key))
        .unwrap();
    let refused = session.run(&args(&["use-kept"])).unwrap().unwrap_err();
    assert!(refused.starts_with("DisabledException"), "{refused}");
    assert!(!host.audited("Encrypt", "DisabledException").is_empty());
    host.service
        .enable_key(&host.admin(), KeyRequest::new(&key))
        .unwrap();
    assert_eq!(
        session.run(&args(&["use-kept"])).unwrap(),
        Ok("encrypted".into())
    );
}

#[test]
fn reusing_a_dropped_handle_traps_and_is_audited() {
    let host = host();
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let reason = while_serving(&host, || {
        trapped(host.run(&hostile, &tenant, &["reuse-dropped", "alias/app"]))
    });
    assert_eq!(reason, TrapReason::InvalidHandle);
    let traps = host.audited("kms:vault/app#run", "GuestTrap");
    assert_eq!(traps.len(), 1);
    assert!(traps[0].source.ends_with(hostile.digest()));
    assert!(
        traps[0]
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("InvalidHandle")
    );
    still_serving(&host);
}

#[test]
fn a_session_that_trapped_is_dead() {
    let host = host();
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let mut session = host
        .runtime
        .command(&hostile, &host.tenant(all_on("alias/app")))
        .unwrap();
    assert!(matches!(
        session.run(&args(&["reuse-dropped", "alias/app"])),
        Err(RunError::Trapped { .. })
    ));
    assert_eq!(
        session.run(&args(&["open", "alias/app"])),
        Err(RunError::Dead)
    );
}

#[test]
fn an_infinite_loop_is_stopped_while_another_tenant_is_served() {
    let host = host();
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let (reason, took) = while_serving(&host, || {
        let started = Instant::now();
        let reason = trapped(host.run(&hostile, &tenant, &["spin"]));
        (reason, started.elapsed())
    });
    assert_eq!(reason, TrapReason::TimeLimit);
    assert!(
        took < Duration::from_secs(10),
        "stopped only after {took:?}"
    );
    assert_eq!(host.audited("kms:vault/app#run", "GuestTrap").len(), 1);
    still_serving(&host);
}

#[test]
fn unbounded_memory_growth_traps_at_the_cap() {
    let host = host_with(RuntimeConfig {
        max_memory_bytes: 16 << 20,
        ..config()
    });
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let reason = while_serving(&host, || trapped(host.run(&hostile, &tenant, &["grow"])));
    assert_eq!(reason, TrapReason::MemoryLimit);
    let trap = &host.audited("kms:vault/app#run", "GuestTrap")[0];
    assert!(
        trap.error_message
            .as_deref()
            .unwrap()
            .starts_with("MemoryLimit")
    );
    still_serving(&host);
}

#[test]
fn a_100_mib_argument_is_refused_before_the_host_copies_it() {
    // Memory enough for the guest to build the argument, so that the argument limit is what
    // stops it.
    let host = host_with(RuntimeConfig {
        max_memory_bytes: 256 << 20,
        ..config()
    });
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let reason = while_serving(&host, || {
        trapped(host.run(&hostile, &tenant, &["huge-arg", "alias/app", "100"]))
    });
    assert_eq!(reason, TrapReason::ArgumentLimit);
    assert_eq!(host.audited("kms:vault/app#run", "GuestTrap").len(), 1);
    let hostile_source = format!("guest:{}", hostile.digest());
    assert!(
        !host
            .audited("Encrypt", "Success")
            .iter()
            .any(|e| e.source == hostile_source),
        "the oversized encrypt reached the service"
    );
    still_serving(&host);
}

#[test]
fn open_handles_are_capped() {
    let host = host();
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let max = host.runtime.config().host.max_handles;
    let failure = host
        .run(
            &hostile,
            &host.tenant(all_on("alias/app")),
            &["handles", "alias/app", &(max + 10).to_string()],
        )
        .unwrap()
        .unwrap_err();
    assert!(
        failure.starts_with(&format!("after {max} handles: LimitExceededException")),
        "{failure}"
    );
    assert_eq!(host.audited("OpenKey", "LimitExceededException").len(), 1);
}

#[test]
fn decrypt_is_no_way_around_reveal() {
    let host = host();
    host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let without = host
        .run(
            &hostile,
            &host.tenant(all_on("alias/app")),
            &["decrypt-data-key", "alias/app"],
        )
        .unwrap()
        .unwrap_err();
    assert!(
        without.starts_with("InvalidCiphertextException"),
        "{without}"
    );
    let with_reveal = Capabilities::builder()
        .grant("alias/app=all".parse().unwrap())
        .allow_reveal()
        .build();
    assert_eq!(
        host.run(
            &hostile,
            &host.tenant(with_reveal),
            &["decrypt-data-key", "alias/app"]
        )
        .unwrap(),
        Ok("revealed 32 bytes".into())
    );
}

#[test]
fn a_component_importing_reveal_runs_only_for_tenants_granted_it() {
    let host = host();
    host.key("alias/app", &[]);
    let reveal_app = host.load(stock::REVEAL_APP);
    assert!(
        reveal_app
            .imports()
            .contains(&"kms:vault/reveal@0.2.0".to_string())
    );
    let refused = host.run(
        &reveal_app,
        &host.tenant(all_on("alias/app")),
        &["alias/app"],
    );
    assert!(
        matches!(&refused, Err(RunError::Refused(m)) if m.contains("reveal")),
        "{refused:?}"
    );
    assert_eq!(host.audited("StartComponent", "ComponentRefused").len(), 1);

    let granted = Capabilities::builder()
        .grant("alias/app=all".parse().unwrap())
        .allow_reveal()
        .build();
    let report = host
        .run(&reveal_app, &host.tenant(granted), &["alias/app"])
        .unwrap()
        .unwrap();
    let (len, hex_key) = report.split_once(' ').unwrap();
    assert_eq!((len, hex_key.len()), ("32", 64));
    assert_eq!(host.audited("RevealDataKey", "Success").len(), 1);
}

#[test]
fn key_bytes_never_enter_guest_memory_when_only_handles_are_granted() {
    // The guest returns its whole memory as hex: let that much data out.
    let host = host_with(RuntimeConfig {
        max_argument_bytes: 256 << 20,
        ..config()
    });
    let key_id = host.key("alias/app", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let report = host
        .run(
            &hostile,
            &host.tenant(all_on("alias/app")),
            &["dump-after-seal", "alias/app"],
        )
        .unwrap()
        .unwrap();
    let (wrapped, memory) = report.split_once(' ').unwrap();
    let memory = hex::decode(memory).unwrap();
    assert!(memory.len() >= 64 * 1024);
    let data_key = host
        .service
        .decrypt(
            &host.admin(),
            DecryptRequest::new(hex::decode(wrapped).unwrap()),
        )
        .unwrap()
        .plaintext;
    assert_eq!(data_key.len(), 32);
    let contains = |needle: &[u8]| memory.windows(needle.len()).any(|w| w == needle);
    // Positive control: the scan finds what the guest did hold (its plaintext, 0x5a × 4096).
    assert!(contains(&[0x5a; 64]));
    assert!(
        !contains(&data_key),
        "the data key's bytes are in guest memory"
    );
    let kms_key = host.vault.material(&key_id.parse().unwrap(), 1).unwrap();
    assert!(
        !contains(kms_key.expose_secret()),
        "the KMS key's bytes are in guest memory"
    );
}

#[test]
fn two_tenants_at_once_do_not_see_each_others_keys() {
    let host = host();
    host.key("alias/tenant-a/main", &[]);
    host.key("alias/tenant-b/main", &[]);
    let app = host.load(stock::TENANT_APP);
    let hostile = host.load(stock::HOSTILE_APP);
    let run = |me: &str, other: &str| {
        let tenant = host.tenant(all_on(&format!("alias/tenant-{me}/*")));
        for _ in 0..5 {
            let report = host
                .run(&app, &tenant, &[&format!("alias/tenant-{me}/main")])
                .unwrap()
                .unwrap();
            assert!(report.contains("data key seal/open: ok"), "{report}");
            let peek = host
                .run(
                    &hostile,
                    &tenant,
                    &["open", &format!("alias/tenant-{other}/main")],
                )
                .unwrap();
            assert!(peek.unwrap_err().starts_with("NotFoundException"));
        }
    };
    std::thread::scope(|scope| {
        let a = scope.spawn(|| run("a", "b"));
        let b = scope.spawn(|| run("b", "a"));
        a.join().unwrap();
        b.join().unwrap();
    });
}

// ----- policy plugins -----

#[test]
fn a_plugin_that_traps_denies_and_is_audited() {
    let host = host();
    host.key("alias/app", &[]);
    let key = host.key("alias/guarded", &[]);
    host.attach(
        Some(&key),
        "broken",
        stock::HOSTILE_PLUGIN,
        &[("mode", "trap")],
    );
    let err = while_serving(&host, || {
        host.encrypt_as(&host.admin(), &key, &[]).unwrap_err()
    });
    assert!(matches!(err, KmsError::AccessDenied(_)), "{err}");
    assert!(err.to_string().contains("policy plugin 'broken'"), "{err}");
    let verdicts = host.audited("EvaluatePolicyPlugin", "DenyPluginFailed");
    assert_eq!(verdicts.len(), 1);
    assert!(
        verdicts[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("GuestFault")
    );
    // Detached, the key works again.
    host.service
        .detach_policy_plugin(
            &host.admin(),
            PolicyPluginScopeRequest {
                key_id: Some(key.clone()),
                plugin_name: "broken".into(),
            },
        )
        .unwrap();
    host.encrypt_as(&host.admin(), &key, &[]).unwrap();
}

#[test]
fn plugins_that_spin_or_hoard_memory_fail_closed_quickly() {
    let host = host();
    host.key("alias/app", &[]);
    for mode in ["loop", "grow"] {
        let key = host.key(&format!("alias/{mode}"), &[]);
        host.attach(Some(&key), mode, stock::HOSTILE_PLUGIN, &[("mode", mode)]);
        let started = Instant::now();
        let err = while_serving(&host, || {
            host.encrypt_as(&host.admin(), &key, &[]).unwrap_err()
        });
        assert!(matches!(err, KmsError::AccessDenied(_)), "{mode}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{mode} took {:?}",
            started.elapsed()
        );
    }
    let failures = host.audited("EvaluatePolicyPlugin", "DenyPluginFailed");
    assert!(
        failures[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("TimeLimit")
    );
    assert!(
        failures[1]
            .error_message
            .as_deref()
            .unwrap()
            .contains("MemoryLimit")
    );
}

#[test]
fn abac_plugin_allows_only_the_tenant_the_key_is_tagged_with() {
    let host = host();
    let key = host.key("alias/acme", &[("tenant", "acme")]);
    host.attach(Some(&key), "abac", stock::ABAC_POLICY, &[]);
    host.encrypt_as(&host.admin(), &key, &[("tenant", "acme")])
        .unwrap();
    for context in [&[("tenant", "globex")][..], &[][..]] {
        let err = host.encrypt_as(&host.admin(), &key, context).unwrap_err();
        assert!(
            matches!(err, KmsError::AccessDenied(_)),
            "{context:?}: {err}"
        );
    }
    // DescribeKey is not governed by the default settings: the plugin abstains.
    host.service
        .describe_key(&host.admin(), KeyRequest::new(&key))
        .unwrap();
    assert_eq!(host.audited("EvaluatePolicyPlugin", "Allow").len(), 1);
    assert_eq!(host.audited("EvaluatePolicyPlugin", "Deny").len(), 2);
    assert_eq!(host.audited("EvaluatePolicyPlugin", "Abstain").len(), 1);

    // Decrypt is governed too, with the context of the request.
    let blob = host
        .encrypt_as(&host.admin(), &key, &[("tenant", "acme")])
        .unwrap();
    let wrong = DecryptRequest::new(blob)
        .with_context(EncryptionContext::from_pairs([("tenant", "globex")]).unwrap());
    assert!(matches!(
        host.service.decrypt(&host.admin(), wrong),
        Err(KmsError::AccessDenied(_))
    ));
}

/// A host whose service reads a clock the test moves.
fn host_at(clock: Arc<kms_service::ManualClock>, config: RuntimeConfig) -> Host {
    use kms_vault::{MemoryStore, RootKey, Vault};
    let store = MemoryStore::new();
    let root = RootKey::generate().unwrap();
    let vault = Vault::create(
        Box::new(store.clone()),
        root.clone(),
        kms_service::DEFAULT_ACCOUNT,
        kms_service::DEFAULT_REGION,
    )
    .unwrap();
    let service = Service::new(vault, clock).unwrap();
    host_on(service, Vault::open(Box::new(store), root).unwrap(), config)
}

/// A plugin's verdict is a function of its component, configuration and the request's facts:
/// the same facts are answered from memory (and audited the same), anything different runs the
/// plugin again.
#[test]
fn a_plugin_verdict_is_remembered_for_the_same_facts_only() {
    let clock = Arc::new(kms_service::ManualClock::new(1_800_000_000));
    let host = host_at(clock.clone(), config());
    let key = host.key("alias/acme", &[("tenant", "acme")]);
    host.attach(Some(&key), "abac", stock::ABAC_POLICY, &[]);
    let plugins = host.runtime.plugin_runner();
    let acme = &[("tenant", "acme")][..];
    host.encrypt_as(&host.admin(), &key, acme).unwrap();
    host.encrypt_as(&host.admin(), &key, acme).unwrap();
    assert_eq!(plugins.decisions(), (1, 1));
    // Another context, another second: the plugin runs again, and still decides.
    let err = host
        .encrypt_as(&host.admin(), &key, &[("tenant", "globex")])
        .unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied(_)), "{err}");
    clock.advance(1);
    host.encrypt_as(&host.admin(), &key, acme).unwrap();
    assert_eq!(plugins.decisions(), (3, 1));
    // A new configuration is a new function: nothing remembered applies to it.
    host.attach(
        Some(&key),
        "abac",
        stock::ABAC_POLICY,
        &[("context-key", "department")],
    );
    let err = host.encrypt_as(&host.admin(), &key, acme).unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied(_)), "{err}");
    assert_eq!(plugins.decisions(), (4, 1));
    assert_eq!(host.audited("EvaluatePolicyPlugin", "Allow").len(), 3);
}

/// With the cache off, every decision runs the plugin.
#[test]
fn a_plugin_verdict_cache_of_zero_runs_every_decision() {
    let clock = Arc::new(kms_service::ManualClock::new(1_800_000_000));
    let config = RuntimeConfig {
        plugin_verdict_cache: 0,
        ..config()
    };
    let host = host_at(clock, config);
    let key = host.key("alias/acme", &[("tenant", "acme")]);
    host.attach(Some(&key), "abac", stock::ABAC_POLICY, &[]);
    for _ in 0..3 {
        host.encrypt_as(&host.admin(), &key, &[("tenant", "acme")])
            .unwrap();
    }
    assert_eq!(host.runtime.plugin_runner().decisions(), (3, 0));
}

#[test]
fn abac_plugin_is_configured_without_recompiling() {
    let host = host();
    let key = host.key("alias/blue", &[("team", "blue")]);
    host.attach(
        Some(&key),
        "abac",
        stock::ABAC_POLICY,
        &[
            ("tag-key", "team"),
            ("context-key", "department"),
            ("actions", "kms:Encrypt"),
        ],
    );
    host.encrypt_as(&host.admin(), &key, &[("department", "blue")])
        .unwrap();
    assert!(
        host.encrypt_as(&host.admin(), &key, &[("team", "blue")])
            .is_err()
    );
    let listed = host
        .service
        .list_policy_plugins(
            &host.admin(),
            PolicyPluginScopeRequest {
                key_id: Some("alias/blue".into()),
                plugin_name: String::new(),
            },
        )
        .unwrap()
        .plugins;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].config["tag-key"], "team");
    assert_eq!(
        listed[0].component_digest,
        host.load(stock::ABAC_POLICY).digest()
    );
}

#[test]
fn an_account_plugin_may_deny_but_never_allow() {
    let host = host();
    let key = host.key("alias/app", &[]);
    host.attach(
        None,
        "allow-all",
        stock::HOSTILE_PLUGIN,
        &[("mode", "allow")],
    );
    let outsider = Caller::account_root(OTHER_ACCOUNT);
    assert!(matches!(
        host.encrypt_as(&outsider, &key, &[]),
        Err(KmsError::AccessDenied(_))
    ));
    host.encrypt_as(&host.admin(), &key, &[]).unwrap();
    host.attach(None, "deny-all", stock::HOSTILE_PLUGIN, &[("mode", "deny")]);
    assert!(matches!(
        host.encrypt_as(&host.admin(), &key, &[]),
        Err(KmsError::AccessDenied(_))
    ));
}

#[test]
fn a_key_plugin_allow_counts_as_an_allow_statement() {
    let host = host();
    let key = host.key("alias/app", &[]);
    let outsider = Caller::account_root(OTHER_ACCOUNT);
    assert!(host.encrypt_as(&outsider, &key, &[]).is_err());
    host.attach(
        Some(&key),
        "share",
        stock::HOSTILE_PLUGIN,
        &[("mode", "allow")],
    );
    host.encrypt_as(&outsider, &key, &[]).unwrap();
}

#[test]
fn plugins_also_guard_guest_calls() {
    let host = host();
    let key = host.key("alias/app", &[("tenant", "acme")]);
    host.attach(Some(&key), "abac", stock::ABAC_POLICY, &[]);
    let app = host.load(stock::TENANT_APP);
    // The tenant app encrypts with context app=tenant-app, which names no tenant: denied.
    let failure = host
        .run(&app, &host.tenant(all_on("alias/app")), &["alias/app"])
        .unwrap()
        .unwrap_err();
    assert!(
        failure.starts_with("encrypt: AccessDeniedException"),
        "{failure}"
    );
}

#[test]
fn attaching_something_that_is_not_a_policy_plugin_is_refused() {
    let host = host();
    let key = host.key("alias/app", &[]);
    for (component, why) in [
        (b"not wasm".to_vec(), "valid WebAssembly component"),
        (
            stock::bytes(stock::TENANT_APP),
            "which this host does not provide",
        ),
    ] {
        let err = host
            .service
            .attach_policy_plugin(
                &host.admin(),
                AttachPolicyPluginRequest {
                    key_id: Some(key.clone()),
                    plugin_name: "bad".into(),
                    component,
                    config: BTreeMap::new(),
                },
            )
            .unwrap_err();
        assert!(matches!(err, KmsError::Validation(_)), "{err}");
        assert!(err.to_string().contains(why), "{err}");
    }
    host.encrypt_as(&host.admin(), &key, &[]).unwrap();
}

// ----- data-key wrapper -----

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn wrapper_tenant(host: &Host, settings: &[(&str, &str)]) -> Tenant {
    settings
        .iter()
        .fold(host.tenant(all_on("alias/data")), |t, (k, v)| {
            t.with_config(*k, *v)
        })
}

#[test]
fn wrapper_seals_and_opens_payloads_of_any_size() {
    // The call time limit covers the host's own AES-GCM, which is slow in a debug build.
    let host = host_with(RuntimeConfig {
        call_time_limit: Duration::from_secs(60),
        ..config()
    });
    host.key("alias/data", &[]);
    let wrapper = host.load(stock::DATA_KEY_WRAPPER);
    let mut session = host
        .runtime
        .wrapper(&wrapper, &wrapper_tenant(&host, &[]))
        .unwrap();
    let ctx = context(&[("tenant", "acme")]);
    // Larger than the per-call argument limit (2 MiB): a wrapper may return what it was given.
    for len in [
        0usize,
        1,
        65_535,
        65_536,
        65_537,
        3 * 65_536,
        1 << 20,
        5 << 20,
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        let envelope = session.seal("alias/data", &payload, &ctx).unwrap().unwrap();
        let chunks = len.div_ceil(65_536).max(1);
        assert!(
            envelope.len() <= len + chunks * 28 + 200,
            "{len}: {} bytes",
            envelope.len()
        );
        assert_eq!(
            session.open(&envelope, &ctx).unwrap().unwrap(),
            payload,
            "{len}"
        );
    }
}

#[test]
fn wrapper_envelopes_fail_alike_when_altered_truncated_or_opened_with_another_context() {
    let host = host();
    host.key("alias/data", &[]);
    let wrapper = host.load(stock::DATA_KEY_WRAPPER);
    let mut session = host
        .runtime
        .wrapper(&wrapper, &wrapper_tenant(&host, &[]))
        .unwrap();
    let ctx = context(&[("tenant", "acme")]);
    let payload = vec![3u8; 2 * 65_536 + 10];
    let envelope = session.seal("alias/data", &payload, &ctx).unwrap().unwrap();
    let invalid = |result: Result<Result<Vec<u8>, KmsError>, RunError>| {
        matches!(result, Ok(Err(KmsError::InvalidCiphertext(_))))
    };
    assert!(invalid(
        session.open(&envelope, &context(&[("tenant", "globex")]))
    ));
    let header_len = 11 + usize::from(u16::from_be_bytes([envelope[5], envelope[6]]));
    let chunk = 65_536 + 28;
    for at in [
        0,
        4,
        6,
        20,
        header_len - 1,
        header_len + 5,
        header_len + chunk + 3,
        envelope.len() - 1,
    ] {
        let mut altered = envelope.clone();
        altered[at] ^= 0x01;
        assert!(invalid(session.open(&altered, &ctx)), "flip at {at}");
    }
    for cut in [
        3,
        header_len,
        header_len + chunk,
        header_len + 2 * chunk,
        envelope.len() - 1,
    ] {
        assert!(
            invalid(session.open(&envelope[..cut], &ctx)),
            "cut at {cut}"
        );
    }
    let mut appended = envelope.clone();
    appended.extend_from_slice(&envelope[header_len..header_len + chunk]);
    assert!(invalid(session.open(&appended, &ctx)));
    assert_eq!(session.open(&envelope, &ctx).unwrap().unwrap(), payload);
}

fn data_keys_generated(host: &Host) -> usize {
    host.audited("GenerateDataKey", "Success").len()
}

#[test]
fn wrapper_caches_data_keys_within_their_bounds() {
    let host = host();
    host.key("alias/data", &[]);
    let wrapper = host.load(stock::DATA_KEY_WRAPPER);
    let ctx = context(&[("tenant", "acme")]);

    // At most 3 messages per data key: 7 seals need 3 data keys.
    let mut session = host
        .runtime
        .wrapper(
            &wrapper,
            &wrapper_tenant(&host, &[("cache-max-messages", "3")]),
        )
        .unwrap();
    for _ in 0..7 {
        session.seal("alias/data", b"m", &ctx).unwrap().unwrap();
    }
    assert_eq!(data_keys_generated(&host), 3);

    // At most 130 bytes per data key: 60-byte messages need a new key every second seal.
    let before = data_keys_generated(&host);
    let mut session = host
        .runtime
        .wrapper(
            &wrapper,
            &wrapper_tenant(&host, &[("cache-max-bytes", "130")]),
        )
        .unwrap();
    for _ in 0..4 {
        session.seal("alias/data", &[0; 60], &ctx).unwrap().unwrap();
    }
    assert_eq!(data_keys_generated(&host) - before, 2);

    // Another context never shares a data key.
    let before = data_keys_generated(&host);
    let mut session = host
        .runtime
        .wrapper(&wrapper, &wrapper_tenant(&host, &[]))
        .unwrap();
    session.seal("alias/data", b"a", &ctx).unwrap().unwrap();
    session
        .seal("alias/data", b"b", &context(&[("tenant", "globex")]))
        .unwrap()
        .unwrap();
    session.seal("alias/data", b"c", &ctx).unwrap().unwrap();
    assert_eq!(data_keys_generated(&host) - before, 2);

    // Max age 0: no reuse at all.
    let before = data_keys_generated(&host);
    let mut session = host
        .runtime
        .wrapper(
            &wrapper,
            &wrapper_tenant(&host, &[("cache-max-age-ms", "0")]),
        )
        .unwrap();
    for _ in 0..3 {
        session.seal("alias/data", b"m", &ctx).unwrap().unwrap();
    }
    assert_eq!(data_keys_generated(&host) - before, 3);
}

#[test]
fn wrapper_caches_unwrapped_data_keys_for_opening() {
    let host = host();
    host.key("alias/data", &[]);
    let wrapper = host.load(stock::DATA_KEY_WRAPPER);
    let ctx = context(&[("tenant", "acme")]);
    let mut session = host
        .runtime
        .wrapper(&wrapper, &wrapper_tenant(&host, &[]))
        .unwrap();
    let envelope = session
        .seal("alias/data", b"cached", &ctx)
        .unwrap()
        .unwrap();
    let decrypts = || host.audited("Decrypt", "Success").len();
    let mut reader = host
        .runtime
        .wrapper(&wrapper, &wrapper_tenant(&host, &[]))
        .unwrap();
    for _ in 0..3 {
        assert_eq!(reader.open(&envelope, &ctx).unwrap().unwrap(), b"cached");
    }
    assert_eq!(decrypts(), 1);
}

#[test]
fn wrapper_envelope_names_its_key_and_hides_the_data_key() {
    let host = host();
    let key_id = host.key("alias/data", &[]);
    let wrapper = host.load(stock::DATA_KEY_WRAPPER);
    let ctx = context(&[("tenant", "acme")]);
    let mut session = host
        .runtime
        .wrapper(&wrapper, &wrapper_tenant(&host, &[]))
        .unwrap();
    let envelope = session
        .seal("alias/data", b"secret payload", &ctx)
        .unwrap()
        .unwrap();
    assert_eq!(&envelope[..5], b"KMSW\x01");
    let wrapped_len = usize::from(u16::from_be_bytes([envelope[5], envelope[6]]));
    let wrapped = &envelope[7..7 + wrapped_len];
    // The wrapped data key is an ordinary kms:vault blob under the KMS key, bound to the context.
    let response = host
        .service
        .decrypt(
            &host.admin(),
            DecryptRequest::new(wrapped.to_vec()).with_context(ctx),
        )
        .unwrap();
    assert!(response.key_id.ends_with(&key_id));
    assert_eq!(response.plaintext.len(), 32);
}

// ----- guests built with std -----

#[test]
fn wasi_imports_of_a_std_guest_trap_and_kms_vault_still_works() {
    let host = host();
    host.key("alias/app", &[]);
    let std_app = host.load(stock::STD_APP);
    let wasi: Vec<_> = std_app
        .imports()
        .iter()
        .filter(|i| i.starts_with("wasi:"))
        .collect();
    assert!(
        !wasi.is_empty(),
        "expected WASI imports: {:?}",
        std_app.imports()
    );
    let tenant = host.tenant(all_on("alias/app"));
    let encrypted = host
        .run(&std_app, &tenant, &["encrypt", "alias/app"])
        .unwrap();
    assert_eq!(encrypted, Ok("58 byte ciphertext".into()));
    for ambient in ["print", "time"] {
        let reason = trapped(host.run(&std_app, &tenant, &[ambient]));
        assert_eq!(reason, TrapReason::GuestFault, "{ambient}");
    }
    assert_eq!(host.audited("kms:vault/app#run", "GuestTrap").len(), 2);
}

// ----- key pairs and MAC keys through the guest interface -----

#[test]
fn tenant_app_signs_and_macs_with_keys_of_those_usages() {
    use kms_core::types::{KeySpec, KeyUsage};
    let host = host();
    host.key("alias/app", &[]);
    for (alias, spec, usage) in [
        ("alias/signer", KeySpec::EccNistP256, KeyUsage::SignVerify),
        ("alias/mac", KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
    ] {
        host.key_from(
            alias,
            CreateKeyRequest {
                key_spec: Some(spec),
                key_usage: Some(usage),
                ..CreateKeyRequest::default()
            },
        );
    }
    let app = host.load(stock::TENANT_APP);
    let tenant = host.tenant(
        Capabilities::builder()
            .grant("alias/app=all".parse().unwrap())
            .grant("alias/signer=describe,sign,verify".parse().unwrap())
            .grant(
                "alias/mac=describe,generate-mac,verify-mac"
                    .parse()
                    .unwrap(),
            )
            .build(),
    );
    let report = host
        .run(&app, &tenant, &["alias/app", "alias/signer", "alias/mac"])
        .unwrap()
        .unwrap();
    assert!(report.contains("sign/verify: ok ("), "{report}");
    assert!(
        report.contains("generate/verify mac: ok (32 byte MAC)"),
        "{report}"
    );
    // Without the sign operation in the capability, the same app is refused.
    let no_sign = host.tenant(
        Capabilities::builder()
            .grant("alias/app=all".parse().unwrap())
            .grant("alias/signer=describe,verify".parse().unwrap())
            .build(),
    );
    let failure = host
        .run(&app, &no_sign, &["alias/app", "alias/signer"])
        .unwrap()
        .unwrap_err();
    assert!(
        failure.starts_with("sign: AccessDeniedException"),
        "{failure}"
    );
}

#[test]
fn guests_use_ml_kem_ecdh_ed25519_and_data_key_pairs_through_capabilities() {
    use kms_core::types::{KeySpec, KeyUsage};
    let host = host();
    host.key("alias/app", &[]);
    for (alias, spec, usage) in [
        (
            "alias/kem",
            KeySpec::MlKem768,
            KeyUsage::EncapsulateDecapsulate,
        ),
        ("alias/ecdh", KeySpec::EccNistP256, KeyUsage::KeyAgreement),
        ("alias/peer", KeySpec::EccNistP256, KeyUsage::KeyAgreement),
        (
            "alias/ed",
            KeySpec::EccNistEdwards25519,
            KeyUsage::SignVerify,
        ),
    ] {
        host.key_from(
            alias,
            CreateKeyRequest {
                key_spec: Some(spec),
                key_usage: Some(usage),
                ..CreateKeyRequest::default()
            },
        );
    }
    let app = host.load(stock::REVEAL_APP);
    let everything = Capabilities::builder()
        .grant("alias/*=all".parse().unwrap())
        .allow_reveal()
        .build();
    let tenant = host.tenant(everything);
    let run = |args: &[&str]| host.run(&app, &tenant, args).unwrap();

    // ML-KEM: the guest encapsulates and decapsulates; and decapsulates what the host made.
    let report = run(&["kem", "alias/kem"]).unwrap();
    assert_eq!(report, "kem ok: 32 byte secret, 1088 byte ciphertext");
    let made = host
        .service
        .encapsulate(
            &host.admin(),
            serde_json::from_value(
                serde_json::json!({"KeyId": "alias/kem", "EncapsulationAlgorithm": "ML_KEM"}),
            )
            .unwrap(),
        )
        .unwrap();
    let ciphertext = hex::encode(&made.shared_secret_ciphertext_blob);
    let secret = run(&["decapsulate", "alias/kem", &ciphertext]).unwrap();
    assert_eq!(secret, hex::encode(&made.shared_secret));

    // ECDH: the guest's secret with the peer's public key is the peer's with the guest key's.
    let public = |key: &str| {
        host.service
            .get_public_key(&host.admin(), kms_service::KeyRequest::new(key))
            .unwrap()
            .public_key
    };
    let guest_secret = run(&["ecdh", "alias/ecdh", &hex::encode(public("alias/peer"))]).unwrap();
    let host_secret = host
        .service
        .derive_shared_secret(
            &host.admin(),
            kms_service::DeriveSharedSecretRequest {
                key_id: "alias/peer".into(),
                key_agreement_algorithm: Some(kms_core::types::KeyAgreementAlgorithmSpec::Ecdh),
                public_key: public("alias/ecdh"),
                ..Default::default()
            },
        )
        .unwrap()
        .shared_secret;
    assert_eq!(guest_secret, hex::encode(&host_secret));

    // Ed25519: the guest's signature verifies outside the sandbox.
    let signature = run(&["ed25519", "alias/ed", "release-2.0"]).unwrap();
    host.service
        .verify(
            &host.admin(),
            kms_service::VerifyRequest {
                key_id: "alias/ed".into(),
                message: b"release-2.0".to_vec(),
                message_type: Some(kms_core::types::MessageType::Raw),
                signature: hex::decode(signature).unwrap(),
                signing_algorithm: Some(kms_core::types::SigningAlgorithmSpec::Ed25519Sha512),
                grant_tokens: Vec::new(),
                dry_run: false,
            },
        )
        .unwrap();

    // Data key pairs of the new specs, the private key revealed only to this instance.
    for spec in ["ML_KEM_768", "ECC_NIST_EDWARDS25519", "ECC_NIST_P256"] {
        let report = run(&["pair", "alias/app", spec]).unwrap();
        assert!(report.starts_with("pair ok: public"), "{spec}: {report}");
    }
    assert_eq!(host.audited("Decapsulate", "Success").len(), 2);
    assert_eq!(host.audited("GenerateDataKeyPair", "Success").len(), 3);

    // Each call needs its own operation in the capability set: without decapsulate (and
    // encapsulate), the same component is refused, and the refusal is audited.
    let narrow = host.tenant(
        Capabilities::builder()
            .grant("alias/kem=describe,get-public-key".parse().unwrap())
            .allow_reveal()
            .build(),
    );
    let refused = host
        .run(&app, &narrow, &["decapsulate", "alias/kem", &ciphertext])
        .unwrap()
        .unwrap_err();
    assert!(refused.starts_with("AccessDeniedException"), "{refused}");
    assert_eq!(
        host.audited("Decapsulate", "AccessDeniedException").len(),
        1
    );
    let refused = host
        .run(&app, &narrow, &["kem", "alias/kem"])
        .unwrap()
        .unwrap_err();
    assert!(refused.starts_with("AccessDeniedException"), "{refused}");
}

#[test]
fn a_plugin_on_a_multi_region_key_guards_that_region_only() {
    let host = host();
    let key = host
        .service
        .create_key(
            &host.admin(),
            serde_json::from_value(serde_json::json!({
                "MultiRegion": true,
                "Tags": [{"TagKey": "tenant", "TagValue": "acme"}]
            }))
            .unwrap(),
        )
        .unwrap()
        .key_metadata
        .key_id;
    host.service
        .replicate_key(
            &host.admin(),
            serde_json::from_value(serde_json::json!({
                "KeyId": key,
                "ReplicaRegion": "eu-west-1",
                "Tags": [{"TagKey": "tenant", "TagValue": "acme"}]
            }))
            .unwrap(),
        )
        .unwrap();
    host.attach(Some(&key), "abac", stock::ABAC_POLICY, &[]);
    let err = host.encrypt_as(&host.admin(), &key, &[]).unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied(_)), "{err}");
    // The replica shares the key id and material, never the primary's plugins.
    let west = host.service.in_region("eu-west-1").unwrap();
    let req = EncryptRequest::new(&key, b"payload".to_vec());
    west.encrypt(&host.admin(), req).unwrap();
    let listed = west
        .list_policy_plugins(
            &host.admin(),
            kms_service::PolicyPluginScopeRequest {
                key_id: Some(key.clone()),
                plugin_name: String::new(),
            },
        )
        .unwrap();
    assert!(
        serde_json::to_value(&listed).unwrap()["Plugins"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{listed:?}"
    );
}

#[test]
fn re_encrypting_a_data_key_to_an_rsa_key_is_no_way_around_reveal() {
    use kms_core::types::{KeySpec, KeyUsage};
    let host = host();
    host.key("alias/app", &[]);
    host.key_from(
        "alias/rsa",
        CreateKeyRequest {
            key_spec: Some(KeySpec::Rsa2048),
            key_usage: Some(KeyUsage::EncryptDecrypt),
            ..CreateKeyRequest::default()
        },
    );
    let hostile = host.load(stock::HOSTILE_APP);
    let both = || {
        Capabilities::builder()
            .grant("alias/app=all".parse().unwrap())
            .grant("alias/rsa=all".parse().unwrap())
    };
    let launder = &["launder-data-key", "alias/app", "alias/rsa"];
    let refused = host
        .run(&hostile, &host.tenant(both().build()), launder)
        .unwrap()
        .unwrap_err();
    assert!(
        refused.starts_with("InvalidCiphertextException"),
        "{refused}"
    );
    assert_eq!(
        host.audited("ReEncrypt", "InvalidCiphertextException")
            .len(),
        1
    );
    // For a guest granted reveal (which could read the data key anyway) the source is
    // accepted; the contract names no RSA algorithm, so the destination refuses instead.
    let further = host
        .run(
            &hostile,
            &host.tenant(both().allow_reveal().build()),
            launder,
        )
        .unwrap()
        .unwrap_err();
    assert!(further.starts_with("InvalidKeyUsageException"), "{further}");
}

// ----- limits across the whole instance, pools, compilation -----

use kms_integration_tests::generated;
use kms_runtime::{ComponentLimits, InstanceCounts};

#[test]
fn memory_is_capped_across_every_memory_of_an_instance() {
    let host = host_with(RuntimeConfig {
        max_memory_bytes: 64 << 20,
        ..config()
    });
    host.key("alias/app", &[]);
    // Two more memories of 40 MiB each: each under the cap, together over it.
    let bytes = generated::with_core_modules(
        &stock::bytes(stock::TENANT_APP),
        &[
            generated::growing_memories(1, 40 << 20),
            generated::growing_memories(1, 40 << 20),
        ],
    );
    let app = host.runtime.load(&bytes).unwrap();
    let tenant = host.tenant(all_on("alias/app"));
    let reason = while_serving(&host, || trapped(host.run(&app, &tenant, &["alias/app"])));
    assert_eq!(reason, TrapReason::MemoryLimit);
    let traps = host.audited("StartComponent", "GuestTrap");
    assert_eq!(traps.len(), 1);
    assert!(
        traps[0]
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("MemoryLimit"),
        "{traps:?}"
    );
}

#[test]
fn a_component_with_more_memories_than_an_instance_may_have_is_refused_before_compiling() {
    let counts = InstanceCounts::default();
    for pooling in [true, false] {
        let host = host_with(RuntimeConfig {
            pooling,
            ..config()
        });
        let extra: Vec<_> = (0..counts.memories)
            .map(|_| generated::growing_memories(1, 0))
            .collect();
        let bytes = generated::with_core_modules(&stock::bytes(stock::TENANT_APP), &extra);
        let refused = host.runtime.load(&bytes).unwrap_err();
        assert!(
            matches!(&refused, RunError::TooCostly(m) if m.contains("linear memories")),
            "pooling {pooling}: {refused:?}"
        );
    }
}

#[test]
fn a_module_with_two_memories_is_refused() {
    // Multi-memory is off: our toolchain never makes such a module.
    let host = host_with(RuntimeConfig {
        pooling: false,
        ..config()
    });
    let bytes = generated::with_core_modules(
        &stock::bytes(stock::TENANT_APP),
        &[generated::growing_memories(2, 0)],
    );
    let refused = host.runtime.load(&bytes).unwrap_err();
    assert!(
        matches!(&refused, RunError::Refused(m) if m.contains("multiple memories")),
        "{refused:?}"
    );
}

#[test]
fn a_tenant_holding_every_session_slot_does_not_make_plugins_fail() {
    let host = host_with(RuntimeConfig {
        pool_instances: 2,
        ..config()
    });
    let key = host.key("alias/app", &[]);
    host.attach(
        Some(&key),
        "allow",
        stock::HOSTILE_PLUGIN,
        &[("mode", "allow")],
    );
    let app = host.load(stock::TENANT_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let sessions: Vec<_> = (0..2)
        .map(|_| host.runtime.command(&app, &tenant).unwrap())
        .collect();
    // The tenants' pool is full ...
    assert!(host.runtime.command(&app, &tenant).is_err());
    // ... and plugin decisions still run, in a pool of their own.
    host.encrypt_as(&host.admin(), &key, &[]).unwrap();
    assert_eq!(host.audited("EvaluatePolicyPlugin", "Allow").len(), 1);
    drop(sessions);
}

fn attach_bytes(host: &Host, key: &str, component: Vec<u8>) -> Result<(), KmsError> {
    host.service
        .attach_policy_plugin(
            &host.admin(),
            AttachPolicyPluginRequest {
                key_id: Some(key.into()),
                plugin_name: "large".into(),
                component,
                config: BTreeMap::new(),
            },
        )
        .map(|_| ())
}

/// 4 MiB and a bit of code: over [`ComponentLimits::max_code_bytes`], each body under
/// [`ComponentLimits::max_function_bytes`].
fn too_much_code() -> wasm_encoder::Module {
    generated::large_code(34, 128 << 10)
}

#[test]
fn a_plugin_with_more_code_than_the_host_compiles_is_refused_before_compiling() {
    let host = host();
    let key = host.key("alias/app", &[]);
    let bytes = generated::with_unused_core_modules(
        &stock::bytes(stock::HOSTILE_PLUGIN),
        &[too_much_code()],
    );
    let started = Instant::now();
    let err = attach_bytes(&host, &key, bytes).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, KmsError::LimitExceeded(_)), "{err}");
    assert!(err.to_string().contains("bytes of code"), "{err}");
    assert_eq!(
        host.audited("AttachPolicyPlugin", "LimitExceededException")
            .len(),
        1
    );
    host.encrypt_as(&host.admin(), &key, &[]).unwrap();
}

#[test]
fn a_function_body_larger_than_the_host_compiles_is_refused_before_compiling() {
    let host = host();
    let key = host.key("alias/app", &[]);
    let max = ComponentLimits::default().max_function_bytes;
    let bytes = generated::with_unused_core_modules(
        &stock::bytes(stock::HOSTILE_PLUGIN),
        &[generated::large_code(1, max + 1024)],
    );
    let err = attach_bytes(&host, &key, bytes).unwrap_err();
    assert!(matches!(err, KmsError::LimitExceeded(_)), "{err}");
    assert!(err.to_string().contains("function body"), "{err}");
}

#[test]
fn a_component_of_the_wrong_world_is_refused_before_compiling() {
    let host = host();
    let key = host.key("alias/app", &[]);
    // Large enough that compiling it would take minutes in a debug build, within the bounds on
    // code, so that only the world check can refuse it quickly.
    let bytes = generated::with_unused_core_modules(
        &stock::bytes(stock::TENANT_APP),
        &[generated::large_code(30, 128 << 10)],
    );
    let started = Instant::now();
    let err = attach_bytes(&host, &key, bytes.clone()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, KmsError::Validation(_)), "{err}");
    assert!(err.to_string().contains("kms:vault/keys"), "{err}");
}

#[test]
fn a_compilation_past_its_deadline_is_refused_and_remembered() {
    let deadline = Duration::from_millis(300);
    let host = host_with(RuntimeConfig {
        components: ComponentLimits {
            compile_time_limit: deadline,
            ..ComponentLimits::default()
        },
        ..config()
    });
    let key = host.key("alias/app", &[]);
    // Within every bound on input, but slower to compile than the deadline.
    let bytes = generated::with_unused_core_modules(
        &stock::bytes(stock::HOSTILE_PLUGIN),
        &[generated::large_code(8, 128 << 10)],
    );
    let started = Instant::now();
    let first = attach_bytes(&host, &key, bytes.clone()).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(first, KmsError::LimitExceeded(_)), "{first}");
    assert!(first.to_string().contains("longer than 300 ms"), "{first}");
    assert!(took < deadline * 4, "refused only after {took:?}");
    // Offered again while the first compilation still runs on: refused at once, not compiled
    // (nor queued behind it) again.
    let started = Instant::now();
    let again = attach_bytes(&host, &key, bytes).unwrap_err();
    assert!(started.elapsed() < deadline / 2, "{:?}", started.elapsed());
    assert_eq!(again, first);
}

// ----- refusals: what they cost and what they write -----

/// A ciphertext like `ciphertext` whose header names a key that does not exist.
fn naming_a_missing_key(ciphertext: &[u8], key_id: &str) -> Vec<u8> {
    let id: kms_core::types::KeyId = key_id.parse().unwrap();
    let at = ciphertext
        .windows(16)
        .position(|w| w == id.as_bytes())
        .expect("the blob holds its key id");
    let mut altered = ciphertext.to_vec();
    altered[at..at + 16].copy_from_slice(kms_core::types::KeyId::random().as_bytes());
    altered
}

#[test]
fn a_key_outside_the_capability_costs_the_store_reads_of_a_missing_one() {
    let (service, vault, calls) = kms_integration_tests::recording::service();
    let host = host_on(service, vault, config());
    host.key("alias/app", &[]);
    let theirs = host.key("alias/theirs", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let attempt = |arguments: &[&str]| {
        calls.take();
        let answer = host.run(&hostile, &tenant, arguments).unwrap().unwrap_err();
        (answer, calls.take())
    };
    for (missing, outside) in [
        ("alias/nobodys".to_string(), "alias/theirs".to_string()),
        (kms_core::types::KeyId::random().to_string(), theirs.clone()),
    ] {
        let (missing_answer, missing_reads) = attempt(&["open", &missing]);
        let (outside_answer, outside_reads) = attempt(&["open", &outside]);
        assert_eq!(
            missing_answer.replace(&missing, "NAME"),
            outside_answer.replace(&outside, "NAME")
        );
        assert_eq!(missing_reads, outside_reads, "open {missing} / {outside}");
    }
    let ciphertext = host.encrypt_as(&host.admin(), &theirs, &[]).unwrap();
    let (outside_answer, outside_reads) = attempt(&["decrypt", &hex::encode(&ciphertext)]);
    let missing_key = naming_a_missing_key(&ciphertext, &theirs);
    let (missing_answer, missing_reads) = attempt(&["decrypt", &hex::encode(&missing_key)]);
    assert!(
        outside_answer.starts_with("InvalidCiphertextException"),
        "{outside_answer}"
    );
    assert_eq!(missing_answer, outside_answer);
    assert_eq!(missing_reads, outside_reads, "decrypt");
    // Neither decrypt looked further than the key (no backing-key version was read).
    assert!(!outside_reads.contains(&"version"), "{outside_reads:?}");
}

#[test]
fn a_guest_granted_no_key_is_refused_before_any_store_read() {
    let (service, vault, calls) = kms_integration_tests::recording::service();
    let host = host_on(service, vault, config());
    let theirs = host.key("alias/theirs", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(Capabilities::default());
    for name in ["alias/theirs", theirs.as_str(), "alias/nobodys"] {
        calls.take();
        let answer = host
            .run(&hostile, &tenant, &["open", name])
            .unwrap()
            .unwrap_err();
        assert!(answer.starts_with("NotFoundException"), "{answer}");
        let reads: Vec<_> = calls
            .take()
            .into_iter()
            .filter(|c| {
                ![
                    "append_audit",
                    "append_audit_anchored",
                    "last_audit",
                    "set_meta",
                ]
                .contains(c)
            })
            .collect();
        assert!(reads.is_empty(), "{name}: {reads:?}");
    }
}

#[test]
fn refusals_are_audited_one_by_one_up_to_a_bound_then_counted_in_one_record() {
    let host = host();
    host.key("alias/theirs", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let before = host.audit().len();
    let long_name = format!("alias/{}", "x".repeat(2000));
    for (tenant, name) in [
        (host.tenant(Capabilities::default()), long_name.as_str()),
        (host.tenant(all_on("alias/app")), "alias/theirs"),
    ] {
        let report = host
            .run(&hostile, &tenant, &["open-many", name, "1000"])
            .unwrap()
            .unwrap();
        assert_eq!(report, "1000 of 1000 refused");
    }
    let written: Vec<_> = host.audit().split_off(before);
    let max = host.runtime.config().host.max_audited_refusals as usize;
    // Per instance: its first refusals one by one, then one record with the count.
    assert_eq!(written.len(), 2 * (max + 1), "{written:#?}");
    let counted: Vec<_> = written
        .iter()
        .filter(|e| e.operation == "GuestRefusals")
        .collect();
    assert_eq!(counted.len(), 2);
    for record in counted {
        assert_eq!(record.outcome, "RefusalsCounted");
        let message = record.error_message.as_deref().unwrap();
        assert!(
            message.starts_with(&format!("{} more refusals", 1000 - max)),
            "{message}"
        );
    }
    for record in &written {
        let message = record.error_message.as_deref().unwrap_or("");
        assert!(
            message.len() <= kms_service::MAX_REFUSAL_REASON_BYTES + 32,
            "{} bytes: {message}",
            message.len()
        );
    }
}

/// Not a check but a measurement (run with `--ignored --nocapture`): how long a guest's refused
/// `open` takes for a key outside its capability and for a missing one, over many opens inside
/// one call, alternating, and their ratio. Before finding 15 was fixed it was 1.35–1.45.
#[test]
#[ignore]
fn measure_the_time_of_refused_opens() {
    let host = host_with(RuntimeConfig {
        call_time_limit: Duration::from_secs(60),
        ..config()
    });
    host.key("alias/app", &[]);
    host.key("alias/theirs", &[]);
    let hostile = host.load(stock::HOSTILE_APP);
    let tenant = host.tenant(all_on("alias/app"));
    let opens = 20_000;
    let time = |name: &str| {
        let started = Instant::now();
        let report = host
            .run(&hostile, &tenant, &["open-many", name, &opens.to_string()])
            .unwrap()
            .unwrap();
        assert_eq!(report, format!("{opens} of {opens} refused"));
        started.elapsed()
    };
    let (mut missing, mut outside) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..5 {
        missing += time("alias/nobodys");
        outside += time("alias/theirs");
    }
    let per = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(5 * opens);
    println!(
        "refused open: missing {:.2} µs, outside the capability {:.2} µs, ratio {:.3}",
        per(missing),
        per(outside),
        outside.as_secs_f64() / missing.as_secs_f64()
    );
}

// ----- reveal and encryption context -----

#[test]
fn revealing_a_data_key_is_authorized_under_the_context_it_was_unwrapped_under() {
    use kms_service::{GenerateDataKeyRequest, PutKeyPolicyRequest};
    let host = host();
    let key = host.key("alias/app", &[]);
    // The account may do anything with the key except take plaintext data keys of secret data.
    let root = format!("arn:aws:iam::{}:root", host.service.account());
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoSecretDataKeys", "Effect": "Deny", "Principal": {"AWS": root},
         "Action": "kms:GenerateDataKey", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:class": "secret"}}}]});
    host.service
        .put_key_policy(
            &host.admin(),
            PutKeyPolicyRequest {
                key_id: key.clone(),
                policy_name: None,
                policy: policy.to_string(),
                bypass_policy_lockout_safety_check: None,
            },
        )
        .unwrap();
    let wrapped = |class: &str| {
        let req = GenerateDataKeyRequest {
            encryption_context: context(&[("class", class)]),
            ..GenerateDataKeyRequest::new(&key, kms_core::types::DataKeySpec::Aes256)
        };
        let blob = host
            .service
            .generate_data_key_without_plaintext(&host.admin(), req)
            .unwrap()
            .ciphertext_blob;
        hex::encode(blob)
    };
    let app = host.load(stock::REVEAL_APP);
    let tenant = host.tenant(
        Capabilities::builder()
            .grant("alias/app=all".parse().unwrap())
            .allow_reveal()
            .build(),
    );
    let public = wrapped("public");
    assert_eq!(
        host.run(&app, &tenant, &["unwrap-reveal", &public, "class=public"])
            .unwrap(),
        Ok("revealed 32 bytes".into())
    );
    let secret = wrapped("secret");
    let refused = host
        .run(&app, &tenant, &["unwrap-reveal", &secret, "class=secret"])
        .unwrap()
        .unwrap_err();
    assert!(refused.starts_with("AccessDeniedException"), "{refused}");
    let denied = host.audited("RevealDataKey", "AccessDeniedException");
    assert_eq!(denied.len(), 1);
    assert_eq!(
        denied[0].encryption_context,
        Some(vec![("class".to_string(), "secret".to_string())])
    );
}
