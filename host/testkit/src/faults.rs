//! Fault injection: what a component meets in production now and then — throttling, a key
//! disabled or scheduled for deletion between two of its calls, imported material that
//! expires — made to happen at a chosen call, so that its handling is tested every run.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use kms_service as svc;
use kms_service::{Caller, KmsError, KmsResult, Service};

use crate::Scratch;

/// What happens at the call a fault is injected at ([`Scratch::inject`]).
///
/// ```
/// use kms_testkit::{Fault, KeySpec, KmsError, Scratch};
/// let kms = Scratch::new();
/// let key = kms.imported_key(None);
/// let blob = kms.encrypt(&key, b"x");
/// kms.inject("Decrypt", 1, Fault::ExpireImportedMaterial(key.clone()));
/// let decrypt = kms.service().decrypt(kms.root(), kms_service::DecryptRequest::new(blob));
/// assert!(matches!(decrypt, Err(KmsError::InvalidState(_))), "{decrypt:?}");
/// kms.inject("*", 1, Fault::Fail(KmsError::Internal("the disk is full".into())));
/// assert!(kms.service().list_keys(kms.root(), Default::default()).is_err());
/// ```
#[derive(Debug)]
pub enum Fault {
    /// The call answers `ThrottlingException`, as AWS KMS does past a request quota.
    Throttle,
    /// The call answers this error instead of running.
    Fail(KmsError),
    /// The key is disabled just before the call runs.
    DisableKey(String),
    /// The key's deletion is scheduled (in 7 days) just before the call runs: the key is then
    /// `PendingDeletion`.
    ScheduleKeyDeletion(String),
    /// The key's imported material is deleted just before the call runs, as when it expires:
    /// the key is then `PendingImport`.
    ExpireImportedMaterial(String),
}

/// The injected faults of one scratch KMS, consulted before every call of its service.
#[derive(Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Rule>>,
}

struct Rule {
    operation: String,
    nth: u32,
    seen: u32,
    fault: Fault,
}

thread_local! {
    // Set while a fault's own calls run (DisableKey for Fault::DisableKey), which must neither
    // count as calls nor meet faults themselves.
    static APPLYING: Cell<bool> = const { Cell::new(false) };
}

impl Faults {
    pub(crate) fn add(&self, operation: &str, nth: u32, fault: Fault) {
        assert!(nth >= 1, "calls are counted from 1 (the next call)");
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Rule {
                operation: operation.to_string(),
                nth,
                seen: 0,
                fault,
            });
    }

    pub(crate) fn clear(&self) {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The interceptor the service runs before every call.
    pub(crate) fn interceptor(self: &Arc<Self>) -> Arc<svc::CallInterceptor> {
        let faults = self.clone();
        Arc::new(move |service: &Service, _: &Caller, operation: &str| {
            if APPLYING.with(Cell::get) {
                return Ok(());
            }
            match faults.due(operation) {
                Some(fault) => apply(service, fault),
                None => Ok(()),
            }
        })
    }

    /// Counts the call on every rule it matches and takes out the first rule that falls due.
    fn due(&self, operation: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            if rule.operation == "*" || rule.operation.eq_ignore_ascii_case(operation) {
                rule.seen += 1;
                if rule.seen == rule.nth && due.is_none() {
                    due = Some(i);
                }
            }
        }
        due.map(|i| rules.remove(i).fault)
    }
}

fn apply(service: &Service, fault: Fault) -> KmsResult<()> {
    let root = Caller::account_root(service.account());
    let applied = |change: &dyn Fn() -> KmsResult<()>| {
        APPLYING.with(|a| a.set(true));
        let result = change();
        APPLYING.with(|a| a.set(false));
        result.map_err(|e| {
            KmsError::Internal(format!("the injected fault could not be applied: {e}"))
        })
    };
    match fault {
        Fault::Throttle => Err(KmsError::Throttling(
            "Rate exceeded (a fault injected by kms-testkit)".into(),
        )),
        Fault::Fail(error) => Err(error),
        Fault::DisableKey(key) => {
            applied(&|| service.disable_key(&root, svc::KeyRequest::new(&key)))
        }
        Fault::ScheduleKeyDeletion(key) => applied(&|| {
            service
                .schedule_key_deletion(
                    &root,
                    svc::ScheduleKeyDeletionRequest {
                        key_id: key.clone(),
                        pending_window_in_days: Some(7),
                    },
                )
                .map(drop)
        }),
        Fault::ExpireImportedMaterial(key) => applied(&|| {
            service
                .delete_imported_key_material(
                    &root,
                    svc::DeleteImportedKeyMaterialRequest {
                        key_id: key.clone(),
                        key_material_id: None,
                    },
                )
                .map(drop)
        }),
    }
}

impl Scratch {
    /// Makes `fault` happen at the `nth` call of `operation` from now on (1: the next one;
    /// `"*"`: any operation), once. Calls a component makes through the host count, as do the
    /// test's own; each call is audited with the outcome the fault gave it.
    ///
    /// ```
    /// use kms_testkit::{Fault, KeySpec, KmsError, Scratch};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// let blob = kms.encrypt(&key, b"order 7");
    /// // The second Decrypt from now finds the key disabled.
    /// kms.inject("Decrypt", 2, Fault::DisableKey(key.clone()));
    /// assert!(kms.service().decrypt(kms.root(), kms_service::DecryptRequest::new(blob.clone())).is_ok());
    /// assert!(matches!(kms.service().decrypt(kms.root(), kms_service::DecryptRequest::new(blob)),
    ///     Err(KmsError::Disabled(_))));
    /// ```
    pub fn inject(&self, operation: &str, nth: u32, fault: Fault) {
        self.faults.add(operation, nth, fault);
    }

    /// The next `count` calls of `operation` (`"*"`: any) answer `ThrottlingException`; the
    /// ones after run: a component's retries are tested against the real refusal.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, KmsError, Scratch};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.throttle("Encrypt", 2);
    /// let encrypt = || kms.service().encrypt(kms.root(), kms_service::EncryptRequest::new(&key, b"x".to_vec()));
    /// assert!(matches!(encrypt(), Err(KmsError::Throttling(_))));
    /// assert!(matches!(encrypt(), Err(KmsError::Throttling(_))));
    /// assert!(encrypt().is_ok());
    /// ```
    pub fn throttle(&self, operation: &str, count: u32) {
        for nth in 1..=count {
            self.faults.add(operation, nth, Fault::Throttle);
        }
    }

    /// Forgets every fault injected and not yet fallen due.
    ///
    /// ```
    /// use kms_testkit::{KeySpec, Scratch};
    /// let kms = Scratch::new();
    /// let key = kms.key(KeySpec::SymmetricDefault);
    /// kms.throttle("*", 1);
    /// kms.clear_faults();
    /// kms.encrypt(&key, b"runs");
    /// ```
    pub fn clear_faults(&self) {
        self.faults.clear();
    }
}
