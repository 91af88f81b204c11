//! A test kit for authors of kms components: your tenant application, data-key wrapper or policy
//! plugin against the real host — the same authorization, sandbox and limits as in production —
//! in your own `cargo test`, fast and deterministic.
//!
//! ```
//! use kms_testkit::{Scratch, KeySpec};
//! let kms = Scratch::new();
//! let key = kms.key(KeySpec::SymmetricDefault);
//! kms.alias("alias/orders", &key);
//! kms.tag(&key, "tenant", "acme");
//! let mark = kms.audit_mark();
//! kms.disable(&key);
//! kms.assert_audited(mark, "DisableKey", "Success");
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

mod components;
mod faults;

pub use components::{TARGET, WIT, build_component, trapping_component};
pub use faults::Fault;
pub use kms_authz::{PluginVerdict, PolicyRequest};
pub use kms_core::types::{KeySpec, KeyUsage};
/// The component runtime (`Operations` for capability sets, `RuntimeConfig`, …).
pub use kms_runtime;
pub use kms_runtime::{Capabilities, GuestComponent, KeySelector, RunError, Tenant};
/// The service's requests and answers (`EncryptRequest`, …), for calls the kit has no
/// shortcut for.
pub use kms_service;
pub use kms_service::audit::AuditEvent;
pub use kms_service::{Caller, KmsError, KmsResult, ManualClock, Service};

use kms_service as svc;

/// Where the scratch KMS's clock starts: 2026-01-01T00:00:00Z.
///
/// ```
/// let kms = kms_testkit::Scratch::new();
/// assert_eq!(kms.service().now_seconds(), kms_testkit::START);
/// kms.advance_days(1);
/// assert_eq!(kms.service().now_seconds(), kms_testkit::START + 86_400);
/// ```
pub const START: u64 = 1_767_225_600;

/// A scratch KMS: an in-memory vault (account 111122223333, region us-east-1, a random root
/// key), a clock that moves only when told, and the component runtime over them. Each is
/// independent of every other: tests may run in parallel.
///
/// ```
/// use kms_testkit::{KeySpec, Scratch};
/// let (a, b) = (Scratch::new(), Scratch::new());
/// a.key(KeySpec::SymmetricDefault);
/// assert!(b.service().list_keys(b.root(), Default::default()).unwrap().keys.is_empty());
/// ```
pub struct Scratch {
    service: Arc<Service>,
    clock: Arc<ManualClock>,
    runtime: kms_runtime::Runtime,
    root: Caller,
    faults: Arc<faults::Faults>,
    plugins: std::sync::atomic::AtomicU32,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// A fresh, empty KMS at [`START`].
    ///
    /// ```
    /// let kms = kms_testkit::Scratch::new();
    /// assert_eq!(kms.service().account(), "111122223333");
    /// ```
    pub fn new() -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let service =
            Service::in_memory_with_clock(clock.clone()).expect("an in-memory vault opens");
        Self::over(service, clock)
    }

    /// A fresh KMS at [`START`] on a new SQLite vault file at `path` (in a temporary directory
    /// of the test's): what `kms serve` keeps, for tests that reopen it or read it beside.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("kms-testkit-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("vault.db");
    /// let _ = std::fs::remove_file(&path);
    /// let kms = kms_testkit::Scratch::on_sqlite(&path).unwrap();
    /// kms.key(kms_testkit::KeySpec::SymmetricDefault);
    /// assert!(path.exists());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn on_sqlite(path: &std::path::Path) -> Result<Self, KmsError> {
        let clock = Arc::new(ManualClock::new(START));
        let vault = kms_vault::Vault::create(
            Box::new(kms_vault::SqliteStore::open(path)?),
            kms_vault::RootKey::generate()?,
            kms_service::DEFAULT_ACCOUNT,
            kms_service::DEFAULT_REGION,
        )?;
        Ok(Self::over(Service::new(vault, clock.clone())?, clock))
    }

    /// Loads a component from a file (what `cargo build --target wasm32-wasip2` wrote).
    ///
    /// ```
    /// let kms = kms_testkit::Scratch::new();
    /// assert!(kms.load_file(std::path::Path::new("no-such.wasm")).is_err());
    /// ```
    pub fn load_file(&self, path: &std::path::Path) -> Result<GuestComponent, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.load(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn over(service: Service, clock: Arc<ManualClock>) -> Self {
        let service = Arc::new(service);
        let runtime =
            kms_runtime::Runtime::new(service.clone(), kms_runtime::RuntimeConfig::default())
                .expect("the component runtime starts");
        service.set_policy_engine(Arc::new(runtime.plugin_runner().clone()));
        let faults = Arc::new(faults::Faults::default());
        service.set_call_interceptor(Some(faults.interceptor()));
        let root = Caller::account_root(service.account());
        Scratch {
            service,
            clock,
            runtime,
            root,
            faults,
            plugins: Default::default(),
        }
    }

    /// The service, for calls the kit has no shortcut for.
    ///
    /// ```
    /// let kms = kms_testkit::Scratch::new();
    /// let keys = kms.service().list_keys(kms.root(), Default::default()).unwrap();
    /// assert!(keys.keys.is_empty());
    /// ```
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// The account's root: allowed everything by the default key policy.
    ///
    /// ```
    /// let kms = kms_testkit::Scratch::new();
    /// assert_eq!(kms.root().principal, "arn:aws:iam::111122223333:root");
    /// ```
    pub fn root(&self) -> &Caller {
        &self.root
    }

    /// Moves the clock `days` on and runs the work that fell due (deletions, rotations).
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.schedule_deletion(&key, 7);
    /// kms.advance_days(8);
    /// assert!(kms.service().list_keys(kms.root(), Default::default()).unwrap().keys.is_empty());
    /// ```
    pub fn advance_days(&self, days: u64) {
        self.clock.advance_days(days);
        self.service.run_maintenance().expect("due work runs");
    }

    /// A new key of `spec`, any spec, with the spec's first usage (ENCRYPT_DECRYPT where the
    /// spec has it, GENERATE_VERIFY_MAC for HMAC, ENCAPSULATE_DECAPSULATE for ML-KEM, else
    /// SIGN_VERIFY); answers its id.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let signing = kms.key(KeySpec::EccNistP256);
    /// assert_eq!(kms.service().describe_key(kms.root(), kms_service::KeyRequest::new(&signing))
    ///     .unwrap().key_metadata.key_usage, kms_testkit::KeyUsage::SignVerify);
    /// ```
    pub fn key(&self, spec: KeySpec) -> String {
        self.key_for(spec, kms_service::usages_of(spec)[0])
    }

    /// A new key of `spec` and `usage`; answers its id.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec, KeyUsage};
    /// let kms = Scratch::new();
    /// kms.key_for(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    /// ```
    pub fn key_for(&self, spec: KeySpec, usage: KeyUsage) -> String {
        self.service
            .create_key(
                &self.root,
                svc::CreateKeyRequest {
                    key_spec: Some(spec),
                    key_usage: Some(usage),
                    ..Default::default()
                },
            )
            .expect("the key is created")
            .key_metadata
            .key_id
    }

    /// Points `alias` (`alias/…`) at `key`.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.alias("alias/orders", &key);
    /// ```
    pub fn alias(&self, alias: &str, key: &str) {
        self.service
            .create_alias(
                &self.root,
                svc::AliasRequest {
                    alias_name: alias.into(),
                    target_key_id: key.into(),
                },
            )
            .expect("the alias is created");
    }

    /// Tags `key` with `name`=`value`.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// kms.tag(&kms.key(KeySpec::SymmetricDefault), "tenant", "acme");
    /// ```
    pub fn tag(&self, key: &str, name: &str, value: &str) {
        self.service
            .tag_resource(
                &self.root,
                svc::TagResourceRequest {
                    key_id: key.into(),
                    tags: vec![kms_core::types::Tag {
                        tag_key: name.into(),
                        tag_value: value.into(),
                    }],
                },
            )
            .expect("the tag is added");
    }

    /// A principal (`arn:aws:iam::111122223333:user/…` or `…:role/…`) with an identity policy
    /// allowing `actions` on every key of the account; answers it as a caller.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// let app = kms.principal("arn:aws:iam::111122223333:role/app", &["kms:Encrypt"]);
    /// let request = kms_service::EncryptRequest::new(&key, b"hi".to_vec());
    /// assert!(kms.service().encrypt(&app, request).is_ok());
    /// ```
    pub fn principal(&self, arn: &str, actions: &[&str]) -> Caller {
        self.service
            .create_principal(
                &self.root,
                svc::CreatePrincipalRequest {
                    arn: arn.into(),
                    tags: Vec::new(),
                },
            )
            .expect("the principal is created");
        if !actions.is_empty() {
            let policy = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions,
                    "Resource": format!("arn:aws:kms:*:{}:key/*", self.service.account())}],
            });
            self.service
                .put_principal_policy(
                    &self.root,
                    svc::PutPrincipalPolicyRequest {
                        arn: arn.into(),
                        policy_name: "testkit".into(),
                        policy_document: policy.to_string(),
                    },
                )
                .expect("the policy is put");
        }
        Caller::principal(arn).expect("a principal ARN")
    }

    /// Disables `key` (a fault to inject between two calls of a component).
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.disable(&key);
    /// let request = kms_service::EncryptRequest::new(&key, b"hi".to_vec());
    /// assert!(matches!(kms.service().encrypt(kms.root(), request),
    ///     Err(kms_testkit::KmsError::Disabled(_))));
    /// ```
    pub fn disable(&self, key: &str) {
        self.service
            .disable_key(&self.root, svc::KeyRequest::new(key))
            .expect("the key is disabled");
    }

    /// Schedules `key`'s deletion in `days` (7–30).
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// kms.schedule_deletion(&kms.key(KeySpec::SymmetricDefault), 30);
    /// ```
    pub fn schedule_deletion(&self, key: &str, days: u32) {
        self.service
            .schedule_key_deletion(
                &self.root,
                svc::ScheduleKeyDeletionRequest {
                    key_id: key.into(),
                    pending_window_in_days: Some(days),
                },
            )
            .expect("the deletion is scheduled");
    }

    /// Replaces `key`'s key policy with `policy` (a JSON policy document).
    ///
    /// ```
    /// use kms_testkit::{KeySpec, KmsError, Scratch};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// let app = kms.principal("arn:aws:iam::111122223333:role/app", &[]);
    /// kms.key_policy(&key, r#"{"Version": "2012-10-17", "Statement": [
    ///     {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    ///      "Action": "kms:*", "Resource": "*"},
    ///     {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
    ///      "Action": "kms:Encrypt", "Resource": "*"}]}"#);
    /// let request = kms_service::EncryptRequest::new(&key, b"hi".to_vec());
    /// assert!(kms.service().encrypt(&app, request).is_ok());
    /// ```
    pub fn key_policy(&self, key: &str, policy: &str) {
        self.service
            .put_key_policy(
                &self.root,
                svc::PutKeyPolicyRequest {
                    key_id: key.into(),
                    policy_name: None,
                    policy: policy.into(),
                    bypass_policy_lockout_safety_check: None,
                },
            )
            .expect("the key policy is put");
    }

    /// Grants `grantee` (a principal ARN) the `operations` (`"Decrypt"`, …) on `key`; answers
    /// the grant id.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, Scratch};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// let app = kms.principal("arn:aws:iam::111122223333:role/app", &[]);
    /// let request = || kms_service::EncryptRequest::new(&key, b"hi".to_vec());
    /// assert!(kms.service().encrypt(&app, request()).is_err());
    /// kms.grant(&key, "arn:aws:iam::111122223333:role/app", &["Encrypt"]);
    /// assert!(kms.service().encrypt(&app, request()).is_ok());
    /// ```
    pub fn grant(&self, key: &str, grantee: &str, operations: &[&str]) -> String {
        self.service
            .create_grant(
                &self.root,
                svc::CreateGrantRequest {
                    key_id: key.into(),
                    grantee_principal: grantee.into(),
                    operations: operations.iter().map(|o| o.to_string()).collect(),
                    ..Default::default()
                },
            )
            .expect("the grant is created")
            .grant_id
    }

    /// A symmetric key of EXTERNAL origin with material imported into it (random, wrapped
    /// with RSAES-OAEP SHA-256 as a caller of ImportKeyMaterial would); answers its id. With
    /// `Some(days)` the material expires after that many days: [`advance_days`](Self::advance_days)
    /// past it and the key is `PendingImport`, its ciphertexts undecryptable, as in AWS.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, KmsError, Scratch};
    /// let kms = Scratch::new();
    /// let key = kms.imported_key(Some(30));
    /// let blob = kms.encrypt(&key, b"until the end of the month");
    /// kms.advance_days(31);
    /// let decrypt = kms.service().decrypt(kms.root(), kms_service::DecryptRequest::new(blob));
    /// assert!(matches!(decrypt, Err(KmsError::InvalidState(_))), "{decrypt:?}");
    /// ```
    pub fn imported_key(&self, expires_after_days: Option<u64>) -> String {
        use kms_core::types::{ExpirationModel, Origin, WrappingAlgorithmSpec, WrappingKeySpec};
        let key = self
            .service
            .create_key(
                &self.root,
                svc::CreateKeyRequest {
                    origin: Some(Origin::External),
                    ..Default::default()
                },
            )
            .expect("the key is created")
            .key_metadata
            .key_id;
        let algorithm = WrappingAlgorithmSpec::RsaesOaepSha256;
        let parameters = self
            .service
            .get_parameters_for_import(
                &self.root,
                svc::GetParametersForImportRequest::new(&key, algorithm, WrappingKeySpec::Rsa2048),
            )
            .expect("import parameters are given");
        let material = kms_crypto::random_bytes(32).expect("randomness");
        let wrapped =
            kms_crypto::key_import::wrap_for_import(&parameters.public_key, algorithm, &material)
                .expect("the material is wrapped");
        let mut request =
            svc::ImportKeyMaterialRequest::new(&key, parameters.import_token, wrapped);
        if let Some(days) = expires_after_days {
            request.expiration_model = Some(ExpirationModel::KeyMaterialExpires);
            request.valid_to = Some(self.service.now_seconds() + days * 86_400);
        }
        self.service
            .import_key_material(&self.root, request)
            .expect("the material is imported");
        key
    }

    /// Encrypts `plaintext` under `key` as the account's root; answers the ciphertext blob.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, Scratch};
    /// let kms = Scratch::new();
    /// let blob = kms.encrypt(&kms.key(KeySpec::SymmetricDefault), b"hi");
    /// assert!(blob.len() > 2);
    /// ```
    pub fn encrypt(&self, key: &str, plaintext: &[u8]) -> Vec<u8> {
        self.service
            .encrypt(
                &self.root,
                svc::EncryptRequest::new(key, plaintext.to_vec()),
            )
            .expect("the plaintext is encrypted")
            .ciphertext_blob
    }

    /// Attaches the policy plugin `component` with its `config` to `key`, or with `None` to the
    /// account (where it can only deny); answers the attachment's name.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, KmsError, Scratch, trapping_component};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.attach_plugin(Some(&key), &trapping_component("policy-plugin").unwrap(), &[]);
    /// // A plugin that fails denies: authorization fails closed.
    /// let request = kms_service::EncryptRequest::new(&key, b"hi".to_vec());
    /// assert!(matches!(kms.service().encrypt(kms.root(), request),
    ///     Err(KmsError::AccessDenied(_))));
    /// ```
    pub fn attach_plugin(
        &self,
        key: Option<&str>,
        component: &[u8],
        config: &[(&str, &str)],
    ) -> String {
        let name = format!(
            "testkit-{}",
            self.plugins
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.service
            .attach_policy_plugin(
                &self.root,
                svc::AttachPolicyPluginRequest {
                    key_id: key.map(str::to_string),
                    plugin_name: name.clone(),
                    component: component.to_vec(),
                    config: config
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
            )
            .expect("the plugin is attached");
        name
    }

    /// Loads a component (a WebAssembly component binary) as the host would.
    ///
    /// ```
    /// let kms = kms_testkit::Scratch::new();
    /// let app = kms.load(kms_guest_components::stock("tenant-app").unwrap().bytes).unwrap();
    /// assert!(!app.digest().is_empty());
    /// ```
    pub fn load(&self, component: &[u8]) -> Result<GuestComponent, RunError> {
        self.runtime.load(component)
    }

    /// A tenant: `caller` with the capabilities `grants` give, written as `kms run --allow`
    /// takes them (`SELECTOR=OPERATIONS`: `alias/orders=encrypt,decrypt`,
    /// `tag:tenant:acme=all`, `key/KEY-ID=sign`). Panics on a grant that does not parse,
    /// naming it.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, Scratch};
    /// let kms = Scratch::new();
    /// kms.alias("alias/orders", &kms.key(KeySpec::SymmetricDefault));
    /// let app = kms.load(kms_guest_components::stock("tenant-app").unwrap().bytes).unwrap();
    /// let tenant = kms.tenant(kms.root(), &["alias/orders=all"]);
    /// assert!(kms.run(&app, &tenant, &["alias/orders"]).unwrap().is_ok());
    /// // Nothing granted on the key: the app cannot even open it.
    /// let stranger = kms.tenant(kms.root(), &["alias/other=all"]);
    /// assert!(kms.run(&app, &stranger, &["alias/orders"]).unwrap().is_err());
    /// ```
    pub fn tenant(&self, caller: &Caller, grants: &[&str]) -> Tenant {
        let mut caps = Capabilities::builder();
        for grant in grants {
            caps = caps.grant(
                grant
                    .parse()
                    .unwrap_or_else(|e| panic!("capability grant {grant:?}: {e}")),
            );
        }
        Tenant::new(caller.clone(), caps.build())
    }

    /// Runs a tenant application once, for `tenant`, with `args`; answers what its `run`
    /// returned, or how the host stopped it.
    ///
    /// ```
    /// use kms_testkit::{Capabilities, KeySelector, KeySpec, Scratch, Tenant};
    /// let kms = Scratch::new();
    /// kms.alias("alias/orders", &kms.key(KeySpec::SymmetricDefault));
    /// let app = kms.load(kms_guest_components::stock("tenant-app").unwrap().bytes).unwrap();
    /// let caps = Capabilities::builder()
    ///     .allow(KeySelector::Alias("alias/orders".into()), kms_runtime::Operations::all())
    ///     .build();
    /// let tenant = Tenant::new(kms.root().clone(), caps);
    /// let answer = kms.run(&app, &tenant, &["alias/orders"]).unwrap();
    /// assert!(answer.is_ok(), "{answer:?}");
    /// ```
    pub fn run(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
        args: &[&str],
    ) -> Result<Result<String, String>, RunError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        self.runtime.run(component, tenant, &args)
    }

    /// Starts a data-key wrapper for `tenant`: seal and open through it.
    ///
    /// ```
    /// use kms_testkit::{Capabilities, KeySelector, KeySpec, Scratch, Tenant};
    /// let kms = Scratch::new();
    /// kms.alias("alias/orders", &kms.key(KeySpec::SymmetricDefault));
    /// let wrapper = kms.load(kms_guest_components::stock("data-key-wrapper").unwrap().bytes).unwrap();
    /// let caps = Capabilities::builder()
    ///     .allow(KeySelector::Alias("alias/orders".into()), kms_runtime::Operations::all())
    ///     .build();
    /// let mut session = kms.wrapper(&wrapper, &Tenant::new(kms.root().clone(), caps)).unwrap();
    /// let context = Default::default();
    /// let sealed = session.seal("alias/orders", b"order 7", &context).unwrap().unwrap();
    /// assert_eq!(session.open(&sealed, &context).unwrap().unwrap(), b"order 7");
    /// ```
    pub fn wrapper(
        &self,
        component: &GuestComponent,
        tenant: &Tenant,
    ) -> Result<kms_runtime::WrapperSession, RunError> {
        self.runtime.wrapper(component, tenant)
    }

    /// A policy plugin's verdict on `request`, the plugin run in a fresh instance as the host
    /// runs it when it guards a key.
    ///
    /// ```
    /// use kms_testkit::{PluginVerdict, PolicyRequest, Scratch};
    /// let kms = Scratch::new();
    /// let request = PolicyRequest {
    ///     principal: "arn:aws:iam::111122223333:user/alice".into(),
    ///     account: "111122223333".into(),
    ///     action: "kms:Encrypt".into(),
    ///     key_arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
    ///     key_tags: vec![("tenant".into(), "acme".into())],
    ///     encryption_context: vec![("tenant".into(), "globex".into())],
    ///     via_service: None,
    ///     time: kms_testkit::START,
    /// };
    /// let verdict = kms.plugin_verdict(kms_guest_components::stock("abac-policy").unwrap().bytes, &[], &request);
    /// assert!(matches!(verdict, PluginVerdict::Deny(_)), "{verdict:?}");
    /// ```
    pub fn plugin_verdict(
        &self,
        component: &[u8],
        config: &[(&str, &str)],
        request: &PolicyRequest,
    ) -> PluginVerdict {
        use kms_authz::PolicyEngine;
        let plugin = kms_vault::PluginAttachment {
            scope: kms_vault::PluginScope::Account(self.service.account().into()),
            name: "under-test".into(),
            digest: kms_service::component_digest(component),
            component: component.to_vec(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            attached_at: START,
        };
        self.runtime.plugin_runner().evaluate(&plugin, request)
    }

    /// Where the audit trail is now: [`audit_since`](Self::audit_since) answers what came after.
    ///
    /// ```
    /// let kms = kms_testkit::Scratch::new();
    /// let mark = kms.audit_mark();
    /// assert!(kms.audit_since(mark).is_empty());
    /// ```
    pub fn audit_mark(&self) -> AuditMark {
        AuditMark(self.events(0).last().map_or(0, |(seq, _)| *seq))
    }

    /// The audit records made since `mark`, in order.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let mark = kms.audit_mark();
    /// kms.key(KeySpec::SymmetricDefault);
    /// assert_eq!(kms.audit_since(mark)[0].operation, "CreateKey");
    /// ```
    pub fn audit_since(&self, mark: AuditMark) -> Vec<AuditEvent> {
        self.events(mark.0).into_iter().map(|(_, e)| e).collect()
    }

    /// Panics unless a record of `operation` with `outcome` (`Success` or the AWS exception)
    /// was made since `mark`, listing what was.
    ///
    /// ```
    /// use kms_testkit::{Scratch, KeySpec};
    /// let kms = Scratch::new();
    /// let mark = kms.audit_mark();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.assert_audited(mark, "CreateKey", "Success");
    /// ```
    pub fn assert_audited(&self, mark: AuditMark, operation: &str, outcome: &str) {
        let since = self.audit_since(mark);
        assert!(
            since
                .iter()
                .any(|e| e.operation == operation && e.outcome == outcome),
            "no {operation} audited with outcome {outcome}; the records since the mark: {:?}",
            since
                .iter()
                .map(|e| format!("{} {}", e.operation, e.outcome))
                .collect::<Vec<_>>()
        );
    }

    fn events(&self, after: u64) -> Vec<(u64, AuditEvent)> {
        let mut events = Vec::new();
        let mut after = after;
        loop {
            let page = self
                .service
                .lookup_audit_events(&self.root, after, 1000)
                .expect("the trail reads");
            let Some((last, _)) = page.last() else {
                return events;
            };
            after = *last;
            events.extend(page);
        }
    }
}

/// A place in the audit trail ([`Scratch::audit_mark`]).
///
/// ```
/// use kms_testkit::{KeySpec, Scratch};
/// let kms = Scratch::new();
/// let before = kms.audit_mark();
/// kms.key(KeySpec::SymmetricDefault);
/// assert_ne!(kms.audit_mark(), before);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditMark(u64);

/// A policy request for `action` by `arn:aws:iam::111122223333:user/alice` on a key of the
/// account, at [`START`], with no tags and no context: change the fields a case is about.
///
/// ```
/// let mut request = kms_testkit::request("kms:Decrypt");
/// request.encryption_context.push(("tenant".into(), "acme".into()));
/// assert_eq!(request.account, "111122223333");
/// ```
pub fn request(action: &str) -> PolicyRequest {
    PolicyRequest {
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        account: kms_service::DEFAULT_ACCOUNT.into(),
        action: action.into(),
        key_arn: format!(
            "arn:aws:kms:{}:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            kms_service::DEFAULT_REGION,
            kms_service::DEFAULT_ACCOUNT
        ),
        key_tags: Vec::new(),
        encryption_context: Vec::new(),
        via_service: None,
        time: START,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_of_every_spec_in_a_line() {
        let kms = Scratch::new();
        for spec in KeySpec::ALL {
            let key = kms.key(*spec);
            let metadata = kms
                .service()
                .describe_key(kms.root(), kms_service::KeyRequest::new(&key))
                .unwrap()
                .key_metadata;
            assert_eq!(metadata.key_spec, *spec);
        }
    }
}
