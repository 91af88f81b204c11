//! Importing key material (GetParametersForImport, ImportKeyMaterial): the RSA wrapping key pair
//! the caller encrypts its material to, and the four wrapping algorithms AWS offers. Reading the
//! unwrapped material as a key of a spec is [`KeyMaterial::from_imported`].
//!
//! Every failure to unwrap is the same `InvalidCiphertext`, so that the unwrapping is no oracle.
//! RSA runs on the crate's provider; AES key wrap with padding on RustCrypto's `aes-kw` in both
//! builds (aws-lc-rs has no 192-bit key-encryption keys, which RFC 5649 and Wycheproof use).

use aes_kw::{KeyInit, KwpAes128, KwpAes192, KwpAes256};
use zeroize::Zeroizing;

use crate::asymmetric::{KeyMaterial, OaepHash};
use crate::fill_random;
use crate::provider::{RsaPrivateKey, RsaPublicKey};
use kms_core::blocking::section;
use kms_core::error::{KmsError, KmsResult};
pub use kms_core::types::{KeySpec, WrappingAlgorithmSpec, WrappingKeySpec};

/// Length of the ephemeral AES key of the RSA_AES_KEY_WRAP algorithms: AES-256, as AWS and
/// `openssl enc -id-aes256-wrap-pad` use it.
const EPHEMERAL_KEY_LEN: usize = 32;

/// The RSA key pair that imported key material is wrapped to. Its private key leaves this crate
/// only as PKCS#8 DER for the caller to seal ([`to_pkcs8_der`](Self::to_pkcs8_der)).
///
/// ```
/// use kms_crypto::key_import::{KeySpec, WrappingAlgorithmSpec, WrappingKey, WrappingKeySpec};
/// use kms_crypto::key_import::wrap_for_import;
/// let wrapping = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
/// let algorithm = WrappingAlgorithmSpec::RsaAesKeyWrapSha256;
/// let blob = wrap_for_import(&wrapping.public_key_der().unwrap(), algorithm, &[7; 32]).unwrap();
/// let key = wrapping.unwrap_key_material(algorithm, &blob, KeySpec::SymmetricDefault).unwrap();
/// assert_eq!(key.spec(), KeySpec::SymmetricDefault);
/// assert!(wrapping.unwrap(algorithm, &blob[1..]).is_err());
/// ```
pub struct WrappingKey {
    key: Box<RsaPrivateKey>,
    spec: WrappingKeySpec,
}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappingKey({}, ..redacted..)", self.spec)
    }
}

impl WrappingKey {
    /// A fresh wrapping key pair of `spec`.
    pub fn generate(spec: WrappingKeySpec) -> KmsResult<Self> {
        let key = section(|| RsaPrivateKey::generate(spec.bits()))
            .map_err(|e| KmsError::Internal(format!("RSA key generation failed: {e}")))?;
        Ok(WrappingKey {
            key: Box::new(key),
            spec,
        })
    }

    /// The spec it was generated with.
    pub fn spec(&self) -> WrappingKeySpec {
        self.spec
    }

    /// The public key as DER SubjectPublicKeyInfo (GetParametersForImport's `PublicKey`).
    pub fn public_key_der(&self) -> KmsResult<Vec<u8>> {
        self.key
            .public_key()
            .and_then(|k| k.to_der())
            .map_err(|e| KmsError::Internal(format!("encoding a wrapping public key: {e}")))
    }

    /// The private key as PKCS#8 DER, for the caller to seal and store until the import token
    /// expires. Zeroized on drop.
    pub fn to_pkcs8_der(&self) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.key
            .to_pkcs8()
            .map_err(|e| KmsError::Internal(format!("encoding a wrapping private key: {e}")))
    }

    /// Reads back what [`to_pkcs8_der`](Self::to_pkcs8_der) produced. Anything else is an
    /// internal error: stored state is corrupt, not a caller's mistake.
    pub fn from_pkcs8_der(der: &[u8]) -> KmsResult<Self> {
        let corrupt =
            |e: String| KmsError::Internal(format!("stored wrapping key is not valid: {e}"));
        let key = RsaPrivateKey::from_pkcs8(der).map_err(corrupt)?;
        let spec = match key.bits() {
            2048 => WrappingKeySpec::Rsa2048,
            3072 => WrappingKeySpec::Rsa3072,
            4096 => WrappingKeySpec::Rsa4096,
            bits => return Err(corrupt(format!("an RSA key of {bits} bits"))),
        };
        Ok(WrappingKey {
            key: Box::new(key),
            spec,
        })
    }

    /// The key material in `blob` (ImportKeyMaterial's `EncryptedKeyMaterial`), unwrapped with
    /// `algorithm`. Every failure is the same `InvalidCiphertext`.
    pub fn unwrap(
        &self,
        algorithm: WrappingAlgorithmSpec,
        blob: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        use WrappingAlgorithmSpec::*;
        let modulus_len = self.key.bits() / 8;
        let material = match algorithm {
            RsaesOaepSha1 => self.oaep_decrypt(OaepHash::Sha1, blob),
            RsaesOaepSha256 => self.oaep_decrypt(OaepHash::Sha256, blob),
            RsaAesKeyWrapSha1 | RsaAesKeyWrapSha256 => {
                if blob.len() <= modulus_len {
                    return Err(KmsError::invalid_ciphertext());
                }
                let (wrapped_key, wrapped_material) = blob.split_at(modulus_len);
                let ephemeral = if algorithm == RsaAesKeyWrapSha1 {
                    self.oaep_decrypt(OaepHash::Sha1, wrapped_key)
                } else {
                    self.oaep_decrypt(OaepHash::Sha256, wrapped_key)
                }?;
                if ephemeral.len() != EPHEMERAL_KEY_LEN {
                    return Err(KmsError::invalid_ciphertext());
                }
                kwp_unwrap(&ephemeral, wrapped_material)
            }
        }?;
        if material.is_empty() {
            return Err(KmsError::invalid_ciphertext());
        }
        Ok(material)
    }

    /// [`unwrap`](Self::unwrap), then the material read as a key of `spec`
    /// ([`KeyMaterial::from_imported`]): `InvalidCiphertext` for a blob that does not unwrap,
    /// `IncorrectKeyMaterial` for material that is not a `spec` key.
    pub fn unwrap_key_material(
        &self,
        algorithm: WrappingAlgorithmSpec,
        blob: &[u8],
        spec: KeySpec,
    ) -> KmsResult<KeyMaterial> {
        KeyMaterial::from_imported(spec, &self.unwrap(algorithm, blob)?)
    }

    fn oaep_decrypt(&self, hash: OaepHash, ciphertext: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
        section(|| self.key.oaep_decrypt(hash, ciphertext)).ok_or_else(KmsError::invalid_ciphertext)
    }
}

/// Wraps `material` to a wrapping public key (DER SubjectPublicKeyInfo) the way a caller of
/// ImportKeyMaterial does, and as `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep` with
/// `openssl enc -id-aes256-wrap-pad` do: for the command line's import and for tests.
pub fn wrap_for_import(
    wrapping_public_key_der: &[u8],
    algorithm: WrappingAlgorithmSpec,
    material: &[u8],
) -> KmsResult<Vec<u8>> {
    use WrappingAlgorithmSpec::*;
    let public = RsaPublicKey::from_der(wrapping_public_key_der)
        .map_err(|e| KmsError::invalid("PublicKey", format!("not a DER RSA public key: {e}")))?;
    let encrypt = |sha256: bool, plaintext: &[u8]| {
        let hash = if sha256 {
            OaepHash::Sha256
        } else {
            OaepHash::Sha1
        };
        public.oaep_encrypt(hash, plaintext).map_err(|e| {
            KmsError::invalid(
                "KeyMaterial",
                format!("cannot wrap this key material with {algorithm}: {e}"),
            )
        })
    };
    match algorithm {
        RsaesOaepSha1 => encrypt(false, material),
        RsaesOaepSha256 => encrypt(true, material),
        RsaAesKeyWrapSha1 | RsaAesKeyWrapSha256 => {
            let mut ephemeral = Zeroizing::new([0u8; EPHEMERAL_KEY_LEN]);
            fill_random(ephemeral.as_mut())?;
            let mut blob = encrypt(algorithm == RsaAesKeyWrapSha256, ephemeral.as_ref())?;
            blob.extend_from_slice(&kwp_wrap(ephemeral.as_ref(), material)?);
            Ok(blob)
        }
    }
}

/// AES key wrap with padding (RFC 5649) under a 128-, 192- or 256-bit key.
pub(crate) fn kwp_wrap(kek: &[u8], material: &[u8]) -> KmsResult<Vec<u8>> {
    let mut out = vec![0u8; material.len().div_ceil(8) * 8 + 8];
    let wrapped =
        match kek.len() {
            16 => KwpAes128::new_from_slice(kek)
                .map(|k| k.wrap_key(material, &mut out).map(<[u8]>::len)),
            24 => KwpAes192::new_from_slice(kek)
                .map(|k| k.wrap_key(material, &mut out).map(<[u8]>::len)),
            _ => KwpAes256::new_from_slice(kek)
                .map(|k| k.wrap_key(material, &mut out).map(<[u8]>::len)),
        };
    match wrapped {
        Ok(Ok(len)) => {
            out.truncate(len);
            Ok(out)
        }
        _ => Err(KmsError::invalid(
            "KeyMaterial",
            "cannot wrap key material of this length".into(),
        )),
    }
}

/// The inverse of [`kwp_wrap`]; every failure is `InvalidCiphertext`.
pub(crate) fn kwp_unwrap(kek: &[u8], wrapped: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
    if wrapped.len() < 16 {
        return Err(KmsError::invalid_ciphertext());
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    let unwrapped =
        match kek.len() {
            16 => KwpAes128::new_from_slice(kek)
                .map(|k| k.unwrap_key(wrapped, &mut out).map(<[u8]>::len)),
            24 => KwpAes192::new_from_slice(kek)
                .map(|k| k.unwrap_key(wrapped, &mut out).map(<[u8]>::len)),
            _ => KwpAes256::new_from_slice(kek)
                .map(|k| k.unwrap_key(wrapped, &mut out).map(<[u8]>::len)),
        };
    match unwrapped {
        Ok(Ok(len)) => {
            out.truncate(len);
            Ok(out)
        }
        _ => Err(KmsError::invalid_ciphertext()),
    }
}

#[cfg(test)]
#[path = "key_import_tests.rs"]
mod tests;
