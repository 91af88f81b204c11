//! The root key that seals all key material at rest. It lives outside the vault file: in a key file
//! that `kms init` creates readable by its owner only, or supplied by the operator.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use kms_core::error::{KmsError, KmsResult};
use kms_crypto::{SYMMETRIC_KEY_LEN, SymmetricKey};

/// The vault's root key. A key file holds it as 64 hexadecimal characters (and an optional newline).
///
/// ```
/// use kms_vault::RootKey;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("root.key");
/// let created = RootKey::create_file(&path).unwrap();
/// let loaded = RootKey::load_file(&path).unwrap();
/// assert_eq!(created.fingerprint(), loaded.fingerprint());
/// assert!(RootKey::create_file(&path).is_err(), "an existing key file is never overwritten");
/// ```
#[derive(Clone, Debug)]
pub struct RootKey(SymmetricKey);

impl RootKey {
    /// A fresh random root key, held only in memory.
    pub fn generate() -> KmsResult<Self> {
        SymmetricKey::generate().map(RootKey)
    }

    /// Parses the hexadecimal form of a root key (64 hex characters, surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> KmsResult<Self> {
        let text = text.trim();
        let mut bytes = Zeroizing::new([0u8; SYMMETRIC_KEY_LEN]);
        hex::decode_to_slice(text, bytes.as_mut_slice()).map_err(|_| {
            KmsError::invalid(
                "root key",
                format!(
                    "A root key is {} hexadecimal characters",
                    SYMMETRIC_KEY_LEN * 2
                ),
            )
        })?;
        SymmetricKey::from_slice(bytes.as_slice()).map(RootKey)
    }

    /// Creates a new random root key file, readable and writable by its owner only. Never
    /// overwrites an existing file.
    pub fn create_file(path: &Path) -> KmsResult<Self> {
        let key = Self::generate()?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            KmsError::invalid(
                "root key file",
                format!("Cannot create root key file {}: {e}", path.display()),
            )
        })?;
        let text = Zeroizing::new(format!("{}\n", *key.0.to_hex()));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                KmsError::Internal(format!(
                    "Cannot write root key file {}: {e}",
                    path.display()
                ))
            })?;
        Ok(key)
    }

    /// Loads a root key file, refusing (on Unix) a file that others may read or write.
    pub fn load_file(path: &Path) -> KmsResult<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| {
            KmsError::invalid(
                "root key file",
                format!("Cannot open root key file {}: {e}", path.display()),
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file
                .metadata()
                .map_err(|e| KmsError::Internal(format!("Cannot stat {}: {e}", path.display())))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KmsError::AccessDenied(format!(
                    "Root key file {} is accessible by other users (mode {:o}); run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text).map_err(|e| {
            KmsError::invalid(
                "root key file",
                format!("Cannot read root key file {}: {e}", path.display()),
            )
        })?;
        Self::from_hex(&text)
    }

    /// A short public fingerprint (first 8 bytes of SHA-256, hex) to tell root keys apart.
    pub fn fingerprint(&self) -> String {
        self.0.fingerprint()
    }

    pub(crate) fn key(&self) -> &SymmetricKey {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn created_key_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        RootKey::create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    #[cfg(unix)]
    fn load_refuses_a_world_readable_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        RootKey::create_file(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            RootKey::load_file(&path),
            Err(KmsError::AccessDenied(_))
        ));
    }

    #[test]
    fn from_hex_rejects_wrong_lengths_and_characters() {
        assert!(RootKey::from_hex(&"ab".repeat(31)).is_err());
        assert!(RootKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(RootKey::from_hex(&format!("  {}\n", "ab".repeat(32))).is_ok());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let key = RootKey::from_hex(&"ab".repeat(32)).unwrap();
        assert!(!format!("{key:?}").contains("abab"));
    }
}
