//! The component runtime against native calls, measured in the same run.
//!
//! Run with `cargo bench -p kms --bench runtime` (add `-- --quick` for a shorter run, and
//! `-- encrypt`, `-- plugins` or `-- instances` for one part only, to profile it).
//! Prints:
//! - guest→host Encrypt of 4 KiB (a guest looping over `key.encrypt`) next to the same call
//!   through the service façade natively, as a ratio;
//! - a policy-plugin decision (fresh instance of the ABAC plugin per decision), in ns, and what
//!   an attached plugin adds to a native Encrypt;
//! - a fresh tenant instance per request, with and without the pooling allocator, in µs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[path = "util.rs"]
mod util;
use util::seconds_per_op;

use kms_authz::{PluginVerdict, PolicyEngine, PolicyRequest};
use kms_core::types::Tag;
use kms_guest_components as stock;
use kms_runtime::{Capabilities, PluginRunner, Runtime, RuntimeConfig, Tenant};
use kms_service::{AliasRequest, AttachPolicyPluginRequest, CreateKeyRequest, EncryptRequest};
use kms_service::{Caller, EncryptionContext, Service};
use kms_vault::{PluginAttachment, PluginScope};

fn service_with_key(alias: &str, tags: Vec<Tag>) -> (Arc<Service>, Caller, String) {
    let service = Arc::new(Service::in_memory().unwrap());
    let me = Caller::account_root(service.account());
    let key = service
        .create_key(
            &me,
            CreateKeyRequest {
                tags,
                ..CreateKeyRequest::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    service
        .create_alias(
            &me,
            AliasRequest {
                alias_name: alias.into(),
                target_key_id: key.clone(),
            },
        )
        .unwrap();
    (service, me, key)
}

fn quiet(config: RuntimeConfig) -> RuntimeConfig {
    RuntimeConfig {
        call_time_limit: Duration::from_secs(60),
        ..config
    }
}

fn guest_vs_native_encrypt(budget: Duration) {
    let (service, me, key) = service_with_key("alias/bench", Vec::new());
    let plaintext = vec![0x42u8; 4096];
    let native = seconds_per_op(budget, || {
        black_box(
            service
                .encrypt(&me, EncryptRequest::new(&key, plaintext.clone()))
                .unwrap(),
        );
    });
    let runtime = Runtime::new(Arc::clone(&service), quiet(RuntimeConfig::default())).unwrap();
    let app = runtime.load(&stock::bytes(stock::HOSTILE_APP)).unwrap();
    let tenant = Tenant::new(
        me.clone(),
        Capabilities::builder()
            .grant("alias/bench=encrypt".parse().unwrap())
            .build(),
    );
    let mut session = runtime.command(&app, &tenant).unwrap();
    let rounds = 500usize;
    let args: Vec<String> = ["encrypt", "alias/bench", &rounds.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let per_call = seconds_per_op(budget, || {
        black_box(session.run(&args).unwrap().unwrap());
    });
    let guest = per_call / rounds as f64;
    println!(
        "{:<58} {:>9.2} µs/op {:>10.0} ops/s  (baseline)",
        "native façade Encrypt 4 KiB",
        native * 1e6,
        1.0 / native
    );
    println!(
        "{:<58} {:>9.2} µs/op {:>10.0} ops/s  {:>5.2}x native time",
        "guest→host key.encrypt 4 KiB (capability re-checked per call)",
        guest * 1e6,
        1.0 / guest,
        guest / native
    );
}

fn policy_decisions(budget: Duration) {
    let tags = vec![Tag {
        tag_key: "tenant".into(),
        tag_value: "acme".into(),
    }];
    let (service, me, key) = service_with_key("alias/abac", tags);
    let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let encrypt = || {
        black_box(
            service
                .encrypt(
                    &me,
                    EncryptRequest::new(&key, vec![1; 32]).with_context(context.clone()),
                )
                .unwrap(),
        );
    };
    let without = seconds_per_op(budget, encrypt);

    // With no verdict remembered, every decision runs the plugin in a fresh instance.
    let runner = PluginRunner::new(RuntimeConfig {
        plugin_verdict_cache: 0,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let component = stock::bytes(stock::ABAC_POLICY);
    let plugin = PluginAttachment {
        scope: PluginScope::Account(service.account().into()),
        name: "abac".into(),
        digest: hex::encode(kms_crypto::sha256(&component)),
        component,
        config: BTreeMap::new(),
        attached_at: 0,
    };
    let request = PolicyRequest {
        principal: me.principal.clone(),
        account: me.account.clone(),
        action: "kms:Encrypt".into(),
        key_arn: format!("arn:aws:kms:us-east-1:111122223333:key/{key}"),
        key_tags: vec![("tenant".into(), "acme".into())],
        encryption_context: vec![("tenant".into(), "acme".into())],
        via_service: None,
        time: 0,
    };
    assert_eq!(runner.evaluate(&plugin, &request), PluginVerdict::Allow);
    let decision = seconds_per_op(budget, || {
        black_box(runner.evaluate(&plugin, &request));
    });
    let remembering = PluginRunner::new(RuntimeConfig::default()).unwrap();
    let remembered = seconds_per_op(budget, || {
        black_box(remembering.evaluate(&plugin, &request));
    });

    // The service decides with the default runner, which remembers verdicts: an Encrypt
    // repeated with the same facts within a second is decided once.
    service.set_policy_engine(Arc::new(remembering.clone()));
    service
        .attach_policy_plugin(
            &me,
            AttachPolicyPluginRequest {
                key_id: Some(key.clone()),
                plugin_name: "abac".into(),
                component: stock::bytes(stock::ABAC_POLICY),
                config: BTreeMap::new(),
            },
        )
        .unwrap();
    let with = seconds_per_op(budget, encrypt);
    println!(
        "{:<58} {:>9.0} ns",
        "policy plugin decision (ABAC, fresh pooled instance)",
        decision * 1e9
    );
    println!(
        "{:<58} {:>9.0} ns  {:>6.3}x the fresh instance",
        "policy plugin decision (ABAC, the same facts remembered)",
        remembered * 1e9,
        remembered / decision
    );
    println!(
        "{:<58} {:>9.2} µs/op  (baseline)",
        "native Encrypt 32 B, no plugin",
        without * 1e6
    );
    println!(
        "{:<58} {:>9.2} µs/op  {:>5.2}x, +{:.2} µs (decision + its audit record)",
        "native Encrypt 32 B, ABAC plugin attached (verdicts remembered)",
        with * 1e6,
        with / without,
        (with - without) * 1e6
    );
}

fn fresh_instances(budget: Duration) {
    let (service, me, _) = service_with_key("alias/app", Vec::new());
    let tenant = Tenant::new(
        me,
        Capabilities::builder()
            .grant("alias/app=all".parse().unwrap())
            .build(),
    );
    let mut figures = Vec::new();
    for pooling in [true, false] {
        let runtime = Runtime::new(
            Arc::clone(&service),
            quiet(RuntimeConfig {
                pooling,
                ..RuntimeConfig::default()
            }),
        )
        .unwrap();
        let app = runtime.load(&stock::bytes(stock::TENANT_APP)).unwrap();
        let per = seconds_per_op(budget, || {
            black_box(runtime.command(&app, &tenant).unwrap());
        });
        figures.push(per);
        let label = if pooling {
            "fresh tenant instance per request, pooling allocator"
        } else {
            "fresh tenant instance per request, on-demand allocator"
        };
        let versus = if pooling {
            "(baseline)".to_string()
        } else {
            format!("{:>5.2}x pooled", per / figures[0])
        };
        println!("{label:<58} {:>9.2} µs  {versus}", per * 1e6);
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(2)
    };
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    if wanted("encrypt") {
        guest_vs_native_encrypt(budget);
    }
    if wanted("plugins") {
        policy_decisions(budget);
    }
    if wanted("instances") {
        fresh_instances(budget);
    }
}
