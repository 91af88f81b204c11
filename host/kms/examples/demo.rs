//! End-to-end walk-through of the vault on a real SQLite vault file: create a key and an alias,
//! encrypt with an encryption context, envelope-encrypt a large payload, rotate, disable,
//! schedule deletion, reopen the vault, run the stock guest components (tenant app, data-key
//! wrapper, ABAC policy plugin) and a hostile one, and verify the audit trail.
//!
//! `cargo run --release -p kms --example demo` (pass a directory to keep the vault there).

use std::sync::Arc;
use std::time::Instant;

use kms_guest_components as stock;

use kms_runtime::{Capabilities, RunError, Runtime, RuntimeConfig, Tenant};
use kms_service::audit::Verification;
use kms_service::{
    AliasRequest, AttachPolicyPluginRequest, CreateKeyRequest, DecryptRequest, EncryptRequest,
    KeyRequest, ListForKeyRequest, PolicyPluginScopeRequest, ScheduleKeyDeletionRequest,
};
use kms_service::{CallSource, Caller, EncryptionContext, KmsError, Service, envelope};
use kms_vault::{RootKey, SqliteStore, Vault};

/// Runs the stock guest components (built from `guest/components` by the build) against the
/// vault: a tenant application, the data-key wrapper, the ABAC policy plugin, and a hostile guest.
fn components(service: &Arc<Service>, me: &Caller) -> anyhow::Result<()> {
    step("Run the stock tenant application, sandboxed, with a capability on alias/orders only");
    let runtime = Runtime::new(Arc::clone(service), RuntimeConfig::default())?;
    let app = runtime.load(&stock::bytes(stock::TENANT_APP))?;
    println!(
        "component {} imports {:?}",
        &app.digest()[..16],
        app.imports()
    );
    let tenant = Tenant::new(
        me.clone(),
        Capabilities::builder()
            .grant("alias/orders=all".parse()?)
            .build(),
    );
    let started = Instant::now();
    match runtime.run(&app, &tenant, &["alias/orders".to_string()])? {
        Ok(report) => println!("{report}"),
        Err(failure) => anyhow::bail!("the tenant app failed: {failure}"),
    }
    println!("(fresh instance and run: {:?})", started.elapsed());

    step(
        "Envelope-encrypt 4 MiB through the data-key wrapper; its data key never enters the guest",
    );
    let wrapper = runtime.load(&stock::bytes(stock::DATA_KEY_WRAPPER))?;
    let mut session = runtime.wrapper(&wrapper, &tenant)?;
    let context = EncryptionContext::from_pairs([("tenant", "acme")])?;
    let payload = vec![0x42u8; 4 << 20];
    let sealed = session.seal("alias/orders", &payload, &context)??;
    let opened = session.open(&sealed, &context)??;
    println!(
        "sealed {} bytes into {} and opened them again: {}",
        payload.len(),
        sealed.len(),
        opened == payload
    );

    step("Attach the ABAC policy plugin: only requests naming the key's tenant are allowed");
    service.tag_resource(
        me,
        kms_service::TagResourceRequest {
            key_id: "alias/orders".into(),
            tags: vec![kms_core::types::Tag {
                tag_key: "tenant".into(),
                tag_value: "acme".into(),
            }],
        },
    )?;
    service.attach_policy_plugin(
        me,
        AttachPolicyPluginRequest {
            key_id: Some("alias/orders".into()),
            plugin_name: "abac".into(),
            component: stock::bytes(stock::ABAC_POLICY),
            config: Default::default(),
        },
    )?;
    for tenant_name in ["acme", "globex"] {
        let context = EncryptionContext::from_pairs([("tenant", tenant_name)])?;
        let outcome = service.encrypt(
            me,
            EncryptRequest::new("alias/orders", b"hello".to_vec()).with_context(context),
        );
        println!(
            "Encrypt with tenant={tenant_name}: {}",
            outcome.map_or_else(|e| e.aws_type().to_string(), |_| "allowed".into())
        );
    }
    service.detach_policy_plugin(
        me,
        PolicyPluginScopeRequest {
            key_id: Some("alias/orders".into()),
            plugin_name: "abac".into(),
        },
    )?;

    step("A hostile guest that loops forever is stopped at its time limit");
    let hostile = runtime.load(&stock::bytes(stock::HOSTILE_APP))?;
    let started = Instant::now();
    match runtime.run(&hostile, &tenant, &["spin".to_string()]) {
        Err(RunError::Trapped { reason, .. }) => {
            println!("stopped ({reason}) after {:?}", started.elapsed())
        }
        other => anyhow::bail!("the spinning guest was not stopped: {other:?}"),
    }
    Ok(())
}

/// A user with no permission, an identity policy that allows through a tag, and a grant
/// constrained to one encryption context: each decision is printed with its reason.
fn authorization_demo(service: &Service, me: &Caller, key_id: &str) -> anyhow::Result<()> {
    use kms_core::types::Tag;
    use kms_service::{CreateGrantRequest, CreatePrincipalRequest, PutPrincipalPolicyRequest};
    step("Authorization: identity policies, ABAC on tags and a constrained grant");
    let show = |who: &str, result: Result<kms_service::EncryptResponse, kms_service::KmsError>| {
        match result {
            Ok(_) => println!("  {who}: allowed"),
            Err(e) => println!("  {who}: {}: {}", e.aws_type(), e.message()),
        }
    };
    let alice_arn = "arn:aws:iam::111122223333:user/alice";
    service.create_principal(
        me,
        CreatePrincipalRequest {
            arn: alice_arn.into(),
            tags: vec![Tag {
                tag_key: "tenant".into(),
                tag_value: "acme".into(),
            }],
        },
    )?;
    let alice = Caller::principal(alice_arn)?;
    let acme = EncryptionContext::from_pairs([("tenant", "acme")])?;
    let encrypt = |who: &Caller, context: &EncryptionContext| {
        service.encrypt(
            who,
            EncryptRequest::new("alias/orders", b"x".to_vec()).with_context(context.clone()),
        )
    };
    show("alice, no policy", encrypt(&alice, &acme));
    service.put_principal_policy(
        me,
        PutPrincipalPolicyRequest {
            arn: alice_arn.into(),
            policy_name: "own-tenant".into(),
            policy_document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
                "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"${aws:PrincipalTag/tenant}"}}}]}"#
                .into(),
        },
    )?;
    show(
        "alice, identity policy, context tenant=acme",
        encrypt(&alice, &acme),
    );
    let globex = EncryptionContext::from_pairs([("tenant", "globex")])?;
    show(
        "alice, identity policy, context tenant=globex",
        encrypt(&alice, &globex),
    );
    let partner = Caller::account_root("444455556666");
    show("another account's root", encrypt(&partner, &globex));
    service.create_grant(
        me,
        CreateGrantRequest {
            key_id: key_id.into(),
            grantee_principal: partner.principal.clone(),
            operations: vec!["Encrypt".into()],
            constraints: Some(kms_vault::GrantConstraints {
                encryption_context_equals: Some(
                    [("tenant".to_string(), "globex".to_string())].into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        },
    )?;
    show(
        "another account's root, grant for tenant=globex",
        encrypt(&partner, &globex),
    );
    show(
        "another account's root, grant, tenant=acme",
        encrypt(&partner, &acme),
    );
    Ok(())
}

fn step(text: &str) {
    println!("\n== {text}");
}

fn main() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let vault_path = dir.join("vault.db");
    let root_path = dir.join("root.key");

    step("Initialise a vault: a root key file (mode 600) and a SQLite vault file");
    let root = RootKey::create_file(&root_path)?;
    let vault = Vault::create(
        Box::new(SqliteStore::open(&vault_path)?),
        root.clone(),
        "111122223333",
        "us-east-1",
    )?;
    let service = Service::new(vault, std::sync::Arc::new(kms_service::SystemClock))?;
    println!(
        "vault {} (root key fingerprint {})",
        vault_path.display(),
        root.fingerprint()
    );
    let me = Caller::account_root(service.account()).via(CallSource::Embedded);

    step("CreateKey and CreateAlias");
    let key = service
        .create_key(
            &me,
            CreateKeyRequest {
                description: Some("orders database".into()),
                ..Default::default()
            },
        )?
        .key_metadata;
    service.create_alias(
        &me,
        AliasRequest {
            alias_name: "alias/orders".into(),
            target_key_id: key.key_id.clone(),
        },
    )?;
    println!("{} ({}), alias/orders", key.arn, key.key_state);

    step("Encrypt and Decrypt with an encryption context");
    let context = EncryptionContext::from_pairs([("tenant", "acme"), ("table", "orders")])?;
    let sealed = service.encrypt(
        &me,
        EncryptRequest::new("alias/orders", b"card ending 4242".to_vec())
            .with_context(context.clone()),
    )?;
    println!("ciphertext blob: {} bytes", sealed.ciphertext_blob.len());
    let opened = service.decrypt(
        &me,
        DecryptRequest::new(sealed.ciphertext_blob.clone()).with_context(context.clone()),
    )?;
    println!(
        "decrypted: {:?}",
        String::from_utf8_lossy(&opened.plaintext)
    );
    let wrong = EncryptionContext::from_pairs([("tenant", "evil"), ("table", "orders")])?;
    match service.decrypt(
        &me,
        DecryptRequest::new(sealed.ciphertext_blob.clone()).with_context(wrong),
    ) {
        Err(e) => println!("with another context: {}: {}", e.aws_type(), e.message()),
        Ok(_) => anyhow::bail!("decryption with the wrong context succeeded"),
    }

    authorization_demo(&service, &me, &key.key_id)?;

    step("Envelope encryption of 32 MiB with a data key (streamed in 64 KiB chunks)");
    let payload: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    let started = Instant::now();
    let mut envelope_bytes = Vec::new();
    let summary = envelope::seal(
        &service,
        &me,
        "alias/orders",
        &context,
        &mut &payload[..],
        &mut envelope_bytes,
        envelope::DEFAULT_CHUNK_SIZE,
        &mut |_| {},
    )?;
    let seal_time = started.elapsed();
    let mut roundtrip = Vec::new();
    envelope::open(
        &service,
        &me,
        Some(&context),
        &mut &envelope_bytes[..],
        &mut roundtrip,
        &mut |_| {},
    )?;
    anyhow::ensure!(roundtrip == payload, "envelope round trip differs");
    println!(
        "sealed {} bytes into {} bytes in {:.1} ms; opened and compared",
        summary.plaintext_bytes,
        summary.envelope_bytes,
        seal_time.as_secs_f64() * 1e3
    );

    step("RotateKeyOnDemand: new version, old ciphertexts still decrypt");
    service.rotate_key_on_demand(&me, KeyRequest::new("alias/orders"))?;
    let rotations = service.list_key_rotations(&me, ListForKeyRequest::new("alias/orders"))?;
    println!("rotations: {}", rotations.rotations.len());
    let old = service.decrypt(
        &me,
        DecryptRequest::new(sealed.ciphertext_blob.clone()).with_context(context.clone()),
    )?;
    println!(
        "old ciphertext still decrypts: {:?}",
        String::from_utf8_lossy(&old.plaintext)
    );

    step("DisableKey, then ScheduleKeyDeletion (7 days)");
    service.disable_key(&me, KeyRequest::new(&key.key_id))?;
    let refused = service.encrypt(&me, EncryptRequest::new(&key.key_id, b"x".to_vec()));
    if let Err(e @ KmsError::Disabled(_)) = &refused {
        println!("encrypt with a disabled key: {}", e.aws_type());
    }
    let deletion = service.schedule_key_deletion(
        &me,
        ScheduleKeyDeletionRequest {
            key_id: key.key_id.clone(),
            pending_window_in_days: Some(7),
        },
    )?;
    println!(
        "state {} until {}",
        deletion.key_state,
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(deletion.deletion_date.unwrap_or_default())
        )
    );
    service.cancel_key_deletion(&me, KeyRequest::new(&key.key_id))?;
    drop(service);

    step("Reopen the vault file");
    let service = Arc::new(Service::open_sqlite(
        &vault_path,
        RootKey::load_file(&root_path)?,
    )?);
    let meta = service
        .describe_key(&me, KeyRequest::new("alias/orders"))?
        .key_metadata;
    println!("after reopen: {} is {}", meta.key_id, meta.key_state);
    service.enable_key(&me, KeyRequest::new("alias/orders"))?;

    components(&service, &me)?;

    step("Verify the audit trail");
    match service.verify_audit()? {
        Verification::Intact { records } => println!("audit trail intact: {records} records"),
        Verification::Broken { seq, reason } => {
            anyhow::bail!("audit trail broken at {seq}: {reason}")
        }
    }
    for (seq, event) in
        service.lookup_audit_events(&Caller::account_root(service.account()), 0, 1000)?
    {
        println!(
            "  #{seq:<3} {:<28} {:<26} {}",
            event.operation, event.outcome, event.source
        );
    }
    Ok(())
}
