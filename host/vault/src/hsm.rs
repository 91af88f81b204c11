//! Keys inside a PKCS#11 token: the HSM of a custom key store (any PKCS#11 v2.40 module stands in
//! for AWS CloudHSM; SoftHSM2 in the tests). AES-256 keys are generated in the token as
//! sensitive and non-extractable token objects, found again by label, and every AES-GCM
//! operation on them runs inside the token: this process never holds their bytes.
//!
//! A module is loaded and initialised once per process and shared by every token opened on it
//! (PKCS#11 allows one initialisation per application). A token keeps a few logged-in sessions
//! for reuse; logging in is per application, so one login serves them all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use kms_core::error::{KmsError, KmsResult};
use kms_crypto::NONCE_LEN;
use kms_crypto::blob::BlobKey;

/// Why a token could not be used, named as AWS names a custom key store's `ConnectionErrorCode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HsmFailure {
    /// The module could not be loaded or initialised (`INTERNAL_ERROR`).
    Module(String),
    /// No token with the registered label (`CLUSTER_NOT_FOUND`).
    TokenNotFound(String),
    /// The PIN is wrong (`INVALID_CREDENTIALS`).
    InvalidCredentials,
    /// The user's PIN is locked after too many wrong ones (`USER_LOCKED_OUT`).
    LockedOut,
    /// The token has no user PIN set (`USER_NOT_FOUND`).
    UserNotFound,
    /// Any other failure of the token (`INTERNAL_ERROR`).
    Token(String),
}

impl HsmFailure {
    /// AWS's `ConnectionErrorCode` for this failure.
    pub fn connection_error_code(&self) -> &'static str {
        match self {
            HsmFailure::Module(_) | HsmFailure::Token(_) => "INTERNAL_ERROR",
            HsmFailure::TokenNotFound(_) => "CLUSTER_NOT_FOUND",
            HsmFailure::InvalidCredentials => "INVALID_CREDENTIALS",
            HsmFailure::LockedOut => "USER_LOCKED_OUT",
            HsmFailure::UserNotFound => "USER_NOT_FOUND",
        }
    }
}

impl std::fmt::Display for HsmFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HsmFailure::Module(why) => write!(f, "the PKCS#11 module cannot be used: {why}"),
            HsmFailure::TokenNotFound(label) => write!(f, "no token is labelled '{label}'"),
            HsmFailure::InvalidCredentials => f.write_str("the token refused the PIN"),
            HsmFailure::LockedOut => f.write_str("the token's user PIN is locked"),
            HsmFailure::UserNotFound => f.write_str("the token's user PIN is not set"),
            HsmFailure::Token(why) => write!(f, "the token failed: {why}"),
        }
    }
}

impl From<HsmFailure> for KmsError {
    fn from(failure: HsmFailure) -> Self {
        KmsError::Internal(format!("HSM: {failure}"))
    }
}

/// The modules loaded in this process, by path.
fn modules() -> MutexGuard<'static, HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// SHA-256 of the PIN each token (module path and slot id) of this process was logged in with.
type Logins = HashMap<(PathBuf, u64), [u8; 32]>;

/// The [`Logins`] of this process.
fn logins() -> MutexGuard<'static, Logins> {
    static LOGINS: OnceLock<Mutex<Logins>> = OnceLock::new();
    LOGINS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The module at `path`, loaded and initialised on first use.
fn module(path: &Path) -> Result<Pkcs11, HsmFailure> {
    let mut loaded = modules();
    if let Some(module) = loaded.get(path) {
        return Ok(module.clone());
    }
    let module =
        Pkcs11::new(path).map_err(|e| HsmFailure::Module(format!("{}: {e}", path.display())))?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(HsmFailure::Module(format!("{}: {e}", path.display()))),
    }
    loaded.insert(path.to_path_buf(), module.clone());
    Ok(module)
}

fn token_error(e: CkError) -> HsmFailure {
    match e {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
            HsmFailure::InvalidCredentials
        }
        CkError::Pkcs11(RvError::PinLocked, _) => HsmFailure::LockedOut,
        CkError::Pkcs11(RvError::UserPinNotInitialized, _) => HsmFailure::UserNotFound,
        other => HsmFailure::Token(other.to_string()),
    }
}

/// A token, logged in as its user.
pub struct HsmToken {
    module: Pkcs11,
    module_path: PathBuf,
    slot: Slot,
    label: String,
    pin: AuthPin,
    /// SHA-256 of `pin`, to compare with the PIN that logged this process in.
    pin_digest: [u8; 32],
    sessions: Mutex<Vec<Session>>,
    keys: Mutex<HashMap<String, ObjectHandle>>,
}

impl std::fmt::Debug for HsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmToken")
            .field("label", &self.label)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

/// Sessions kept for reuse at most.
const IDLE_SESSIONS: usize = 8;

impl HsmToken {
    /// Loads `module`, finds the token labelled `label` and logs in with `pin`: what connecting
    /// a custom key store does. Each failure is one AWS names.
    pub fn connect(module: &Path, label: &str, pin: &str) -> Result<Arc<HsmToken>, HsmFailure> {
        let loaded = self::module(module)?;
        let slots = loaded.get_slots_with_token().map_err(token_error)?;
        let slot = slots
            .into_iter()
            .find(|slot| {
                loaded
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == label)
            })
            .ok_or_else(|| HsmFailure::TokenNotFound(label.to_string()))?;
        let token = HsmToken {
            module: loaded,
            module_path: module.to_path_buf(),
            slot,
            label: label.to_string(),
            pin: AuthPin::new(pin.into()),
            pin_digest: kms_crypto::sha256(pin.as_bytes()),
            sessions: Mutex::new(Vec::new()),
            keys: Mutex::new(HashMap::new()),
        };
        // Proves the PIN now rather than at the first operation.
        let session = token.session()?;
        token.give_back(session);
        Ok(Arc::new(token))
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A logged-in session: an idle one, or a new one.
    fn session(&self) -> Result<Session, HsmFailure> {
        if let Some(session) = self.idle().pop() {
            return Ok(session);
        }
        let session = self
            .module
            .open_rw_session(self.slot)
            .map_err(token_error)?;
        let pin = self.pin_digest;
        let mut logins = logins();
        let logged_in = (self.module_path.clone(), self.slot.id());
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) => {
                logins.insert(logged_in, pin);
                Ok(session)
            }
            // PKCS#11 logs in an application, not a session: while this process holds any
            // session on the token the token takes no PIN, so a PIN is checked against the one
            // that logged in instead (a wrong one would otherwise pass unseen).
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => match logins.get(&logged_in) {
                Some(known) if !kms_crypto::constant_time_eq(known, &pin) => {
                    Err(HsmFailure::InvalidCredentials)
                }
                _ => Ok(session),
            },
            Err(e) => Err(token_error(e)),
        }
    }

    fn give_back(&self, session: Session) {
        let mut idle = self.idle();
        if idle.len() < IDLE_SESSIONS {
            idle.push(session);
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a logged-in session, which goes back to the idle ones afterwards.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, CkError>,
    ) -> Result<T, HsmFailure> {
        let session = self.session()?;
        let out = f(&session).map_err(token_error);
        self.give_back(session);
        out
    }

    /// Generates an AES-256 key in the token, labelled `label`: a token object that is
    /// sensitive, never extractable, and good for encryption and decryption only.
    pub fn generate_key(&self, label: &str) -> Result<HsmKey<'_>, HsmFailure> {
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::ValueLen(32.into()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let handle = self.with_session(|s| s.generate_key(&Mechanism::AesKeyGen, &template))?;
        self.keys_map().insert(label.to_string(), handle);
        Ok(HsmKey {
            token: self,
            handle,
        })
    }

    /// The key labelled `label`; `None` if the token holds none.
    pub fn key(&self, label: &str) -> Result<Option<HsmKey<'_>>, HsmFailure> {
        if let Some(handle) = self.keys_map().get(label).copied() {
            return Ok(Some(HsmKey {
                token: self,
                handle,
            }));
        }
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
        })?;
        let Some(handle) = found.first().copied() else {
            return Ok(None);
        };
        self.keys_map().insert(label.to_string(), handle);
        Ok(Some(HsmKey {
            token: self,
            handle,
        }))
    }

    /// Destroys the key labelled `label`, if the token holds one.
    pub fn destroy_key(&self, label: &str) -> Result<(), HsmFailure> {
        if let Some(key) = self.key(label)? {
            let handle = key.handle;
            self.with_session(|s| s.destroy_object(handle))?;
        }
        self.keys_map().remove(label);
        Ok(())
    }

    fn keys_map(&self) -> MutexGuard<'_, HashMap<String, ObjectHandle>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A key inside a token.
#[derive(Clone, Copy)]
pub struct HsmKey<'a> {
    token: &'a HsmToken,
    handle: ObjectHandle,
}

/// What the token says about a key's bytes: whether they may leave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    /// `CKA_SENSITIVE`: the value is never revealed in the clear.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: the key may be wrapped out of the token at all.
    pub extractable: bool,
    /// Whether asking for `CKA_VALUE` was refused as sensitive.
    pub value_refused: bool,
}

impl HsmKey<'_> {
    /// The key's protection attributes, as the token reports them.
    pub fn protection(&self) -> Result<Protection, HsmFailure> {
        let handle = self.handle;
        self.token.with_session(|s| {
            let flags = s.get_attributes(
                handle,
                &[AttributeType::Sensitive, AttributeType::Extractable],
            )?;
            let value = s.get_attribute_info_map(handle, &[AttributeType::Value])?;
            let flag = |wanted: AttributeType| {
                flags.iter().any(|a| match (a, wanted) {
                    (Attribute::Sensitive(on), AttributeType::Sensitive) => *on,
                    (Attribute::Extractable(on), AttributeType::Extractable) => *on,
                    _ => false,
                })
            };
            Ok(Protection {
                sensitive: flag(AttributeType::Sensitive),
                extractable: flag(AttributeType::Extractable),
                value_refused: matches!(
                    value.get(&AttributeType::Value),
                    Some(AttributeInfo::Sensitive | AttributeInfo::Unavailable)
                ),
            })
        })
    }
}

impl BlobKey for HsmKey<'_> {
    fn seal_gcm(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> KmsResult<Vec<u8>> {
        let handle = self.handle;
        let mut iv = *nonce;
        self.token
            .with_session(|s| {
                let params = GcmParams::new(&mut iv, aad, 128.into())?;
                s.encrypt(&Mechanism::AesGcm(params), handle, plaintext)
            })
            .map_err(KmsError::from)
    }

    fn open_gcm(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        let handle = self.handle;
        let mut iv = *nonce;
        let opened = self.token.with_session(|s| {
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            s.decrypt(&Mechanism::AesGcm(params), handle, ciphertext_and_tag)
        });
        match opened {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            // A tag that does not verify, or a body too short to hold one: a bad blob, told
            // apart from nothing else.
            Err(HsmFailure::Token(_)) => Err(KmsError::invalid_ciphertext()),
            Err(other) => Err(other.into()),
        }
    }
}

/// For test suites: the PKCS#11 token to run against.
pub mod testing {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::Once;

    /// A token to test with: its module, label and user PIN.
    #[derive(Clone, Debug)]
    pub struct TestToken {
        /// The PKCS#11 module (a shared library).
        pub module: PathBuf,
        /// The token's label.
        pub label: String,
        /// The token user's PIN.
        pub pin: String,
    }

    /// The token named by `KMS_TEST_PKCS11_MODULE`, `KMS_TEST_PKCS11_TOKEN` and
    /// `KMS_TEST_PKCS11_PIN` (`.ci/run` initialises a SoftHSM2 token and sets them). Without
    /// them PKCS#11 tests are skipped, said once per test binary on the terminal — unless
    /// `KMS_CI` is set: CI always runs them, so there a missing token fails the test.
    pub fn test_token() -> Option<TestToken> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (
            var("KMS_TEST_PKCS11_MODULE"),
            var("KMS_TEST_PKCS11_TOKEN"),
            var("KMS_TEST_PKCS11_PIN"),
        ) {
            (Some(module), Some(label), Some(pin)) => Some(TestToken {
                module: module.into(),
                label,
                pin,
            }),
            _ => {
                assert!(
                    std::env::var_os("KMS_CI").is_none(),
                    "KMS_CI is set but no PKCS#11 test token is: CI runs the HSM tests \
                     (.ci/run initialises a SoftHSM2 token and sets KMS_TEST_PKCS11_*)"
                );
                static SAID: Once = Once::new();
                SAID.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: PKCS#11 tests skipped: no token (set KMS_TEST_PKCS11_MODULE, \
                         KMS_TEST_PKCS11_TOKEN and KMS_TEST_PKCS11_PIN; .ci/run makes a SoftHSM2 one)"
                    );
                });
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::test_token;
    use super::*;
    use kms_core::types::{EncryptionContext, KeyId};
    use kms_crypto::blob::{self, BlobKind};

    fn connect() -> Option<Arc<HsmToken>> {
        let token = test_token()?;
        Some(HsmToken::connect(&token.module, &token.label, &token.pin).unwrap())
    }

    fn unique_label() -> String {
        format!("kms-test-{}", KeyId::random())
    }

    #[test]
    fn a_generated_key_seals_and_opens_blobs_inside_the_token() {
        let Some(token) = connect() else {
            return;
        };
        let label = unique_label();
        let key = token.generate_key(&label).unwrap();
        let id = KeyId::random();
        let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
        let sealed = blob::seal_with(
            BlobKind::Ciphertext,
            &id,
            1,
            &key,
            b"in the token",
            &context,
        )
        .unwrap();
        assert_eq!(sealed.len(), blob::OVERHEAD + 12);
        // Found again by label, by another connection of the same process.
        let again = connect().unwrap();
        let found = again
            .key(&label)
            .unwrap()
            .expect("the key is a token object");
        assert_eq!(
            blob::open_with(&sealed, &found, &context)
                .unwrap()
                .as_slice(),
            b"in the token"
        );
        let other = EncryptionContext::from_pairs([("tenant", "other")]).unwrap();
        assert!(matches!(
            blob::open_with(&sealed, &found, &other),
            Err(KmsError::InvalidCiphertext(_))
        ));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            blob::open_with(&altered, &found, &context),
            Err(KmsError::InvalidCiphertext(_))
        ));
        token.destroy_key(&label).unwrap();
        assert!(again.key(&label).is_ok());
        assert!(connect().unwrap().key(&label).unwrap().is_none());
    }

    #[test]
    fn the_key_material_cannot_be_read_out_of_the_token() {
        let Some(token) = connect() else {
            return;
        };
        let label = unique_label();
        let key = token.generate_key(&label).unwrap();
        assert_eq!(
            key.protection().unwrap(),
            Protection {
                sensitive: true,
                extractable: false,
                value_refused: true
            }
        );
        token.destroy_key(&label).unwrap();
    }

    #[test]
    fn a_wrong_pin_or_label_or_module_is_named_as_aws_names_it() {
        let Some(test) = test_token() else {
            return;
        };
        let wrong_pin = HsmToken::connect(&test.module, &test.label, "not-the-pin").unwrap_err();
        assert_eq!(wrong_pin.connection_error_code(), "INVALID_CREDENTIALS");
        let no_token = HsmToken::connect(&test.module, "no-such-token", &test.pin).unwrap_err();
        assert_eq!(no_token.connection_error_code(), "CLUSTER_NOT_FOUND");
        let no_module = HsmToken::connect(
            Path::new("/nonexistent/libpkcs11.so"),
            &test.label,
            &test.pin,
        )
        .unwrap_err();
        assert_eq!(no_module.connection_error_code(), "INTERNAL_ERROR");
        // The right PIN still works after a wrong one.
        HsmToken::connect(&test.module, &test.label, &test.pin).unwrap();
    }
}
