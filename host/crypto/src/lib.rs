//! Every cryptographic primitive the host uses, behind one seam: nothing outside this module names a
//! crypto crate. It owns secret-key types (zeroized on drop, redacted in `Debug`), AES-256-GCM, the
//! randomness source and the ciphertext blob format. It knows nothing of storage, callers or wasm.
//!
//! # Providers
//!
//! The primitives run on one of two providers, chosen when the crate is built:
//!
//! - RustCrypto (the default): pure Rust crates.
//! - AWS-LC, with the cargo feature `aws-lc-rs`: faster AES-GCM, ECDSA and RSA, and RSA
//!   decryption and signing that are constant-time rather than blinded.
//!
//! The feature moves AES-GCM ([`SymmetricKey`] and [`DataKeyCipher`]), SHA-2, HMAC, randomness,
//! ECDSA on P-256, P-384, P-521 and secp256k1, ECDH on the three NIST curves, and RSA (PSS and
//! PKCS#1 v1.5 signatures, RSAES-OAEP, key generation) onto AWS-LC. These stay on RustCrypto
//! in both builds, because aws-lc-rs has no API for them that keeps this crate's formats:
//! the STREAM construction over AES-GCM (`aead-stream`), AES key wrap with padding (`aes-kw`;
//! aws-lc-rs has no 192-bit key-encryption keys), ECDH on secp256k1, Ed25519 and Ed25519ph (no
//! Ed25519ph in aws-lc-rs), ML-KEM (stored as its seed, which aws-lc-rs cannot read, and
//! without deterministic encapsulation for the known-answer tests) and ML-DSA (aws-lc-rs has
//! no EXTERNAL_MU signing or verification; one key type stays on one provider).
//!
//! Both providers read and write the same bytes (PKCS#8, SubjectPublicKeyInfo, AES-GCM
//! layouts), so a vault written with one opens with the other; tests check it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod asymmetric;
pub mod blob;
#[doc(hidden)]
pub mod fuzzing;
pub mod key_import;
mod provider;
#[cfg(all(test, feature = "aws-lc-rs"))]
mod provider_tests;

use std::fmt;
use std::sync::OnceLock;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{KeyInit, Payload};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use provider::Hash;

use kms_core::error::{KmsError, KmsResult};

/// Length of an AES-GCM nonce in bytes.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM authentication tag in bytes.
pub const TAG_LEN: usize = 16;
/// Length of an AES-256 key in bytes.
pub const SYMMETRIC_KEY_LEN: usize = 32;

/// The crypto provider this build runs on: `"RustCrypto"`, or `"aws-lc-rs"` with that feature.
///
/// ```
/// assert!(["RustCrypto", "aws-lc-rs"].contains(&kms_crypto::PROVIDER));
/// ```
pub const PROVIDER: &str = provider::active::NAME;

/// A 256-bit AES-GCM key: KMS key material, a root key or a data key. Zeroized when dropped and
/// never printed.
///
/// ```
/// use kms_crypto::SymmetricKey;
/// let key = SymmetricKey::generate().unwrap();
/// assert_eq!(format!("{key:?}"), "SymmetricKey(..redacted..)");
/// ```
pub struct SymmetricKey {
    bytes: [u8; SYMMETRIC_KEY_LEN],
    /// The AES-GCM key schedule, built on first use and kept: a backing-key version seals and
    /// opens many times. The provider wipes it when it is dropped.
    cipher: OnceLock<provider::AesGcm>,
}

impl Zeroize for SymmetricKey {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
        self.cipher = OnceLock::new();
    }
}

impl Drop for SymmetricKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for SymmetricKey {}

impl Clone for SymmetricKey {
    fn clone(&self) -> Self {
        SymmetricKey::new(self.bytes)
    }
}

impl SymmetricKey {
    fn new(bytes: [u8; SYMMETRIC_KEY_LEN]) -> Self {
        SymmetricKey {
            bytes,
            cipher: OnceLock::new(),
        }
    }

    /// A fresh key from the provider's CSPRNG.
    pub fn generate() -> KmsResult<Self> {
        let mut bytes = [0u8; SYMMETRIC_KEY_LEN];
        fill_random(&mut bytes)?;
        let key = SymmetricKey::new(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> KmsResult<Self> {
        let arr: [u8; SYMMETRIC_KEY_LEN] = bytes.try_into().map_err(|_| {
            KmsError::invalid(
                "key",
                format!(
                    "a symmetric key is {SYMMETRIC_KEY_LEN} bytes, got {}",
                    bytes.len()
                ),
            )
        })?;
        Ok(SymmetricKey::new(arr))
    }

    /// The raw key bytes, for tests that look for them where they must not be (feature
    /// `test-secrets`, which only test builds turn on). Nothing else outside this crate can
    /// read a key's bytes.
    #[cfg(any(test, feature = "test-secrets"))]
    pub fn expose_secret(&self) -> &[u8; SYMMETRIC_KEY_LEN] {
        &self.bytes
    }

    pub(crate) fn secret(&self) -> &[u8; SYMMETRIC_KEY_LEN] {
        &self.bytes
    }

    /// Seals KMS key material under this key (the vault's root key), bound to `aad`: the only
    /// way material leaves this crate, and then only encrypted.
    pub fn seal_material(
        &self,
        material: &asymmetric::KeyMaterial,
        aad: &[u8],
    ) -> KmsResult<Vec<u8>> {
        self.seal(&material.sealable()?, aad)
    }

    /// A 32-byte key for one purpose, named by `label`, derived from this one with HMAC-SHA-256.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        hmac_sha256_parts(&self.bytes, &[label])
    }

    /// A short public fingerprint (first 8 bytes of SHA-256, hex) to tell keys apart.
    pub fn fingerprint(&self) -> String {
        hex::encode(&sha256(&self.bytes)[..8])
    }

    /// The key in hex, for writing a root key to the file its operator keeps it in.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes))
    }

    fn cipher(&self) -> &provider::AesGcm {
        self.cipher
            .get_or_init(|| provider::AesGcm::new(&self.bytes).expect("a 32-byte key"))
    }

    /// The STREAM construction's cipher: always RustCrypto's (see the crate documentation).
    fn stream_cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.bytes.into())
    }

    /// AES-256-GCM of `buffer[start..]` in place, with the tag appended: how the blob format seals
    /// a plaintext already copied after its header.
    pub(crate) fn seal_in_place_append_tag(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut Vec<u8>,
        start: usize,
    ) -> KmsResult<()> {
        let tag = self
            .cipher()
            .seal_in_place(nonce, aad, &mut buffer[start..])
            .map_err(|()| KmsError::Internal("AES-GCM encryption failed".into()))?;
        buffer.extend_from_slice(&tag);
        Ok(())
    }

    /// AES-256-GCM encryption under a fresh random nonce. Returns `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> KmsResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext);
        self.seal_in_place_append_tag(&nonce, aad, &mut sealed, NONCE_LEN)?;
        Ok(sealed)
    }

    /// Opens what [`seal`](Self::seal) produced. Every failure is the same undifferentiated error.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(KmsError::invalid_ciphertext());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.open_with_nonce(nonce.try_into().expect("split at NONCE_LEN"), body, aad)
    }

    /// AES-256-GCM encryption with a caller-chosen nonce: `ciphertext || tag`. The caller must never
    /// reuse a nonce with the same key; [`seal`](Self::seal) picks a random one.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> KmsResult<Vec<u8>> {
        let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(plaintext);
        self.seal_in_place_append_tag(nonce, aad, &mut sealed, 0)?;
        Ok(sealed)
    }

    /// AES-256-GCM decryption of `ciphertext || tag` with an explicit nonce.
    pub fn open_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        ciphertext_and_tag: &[u8],
        aad: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        open_detached(self.cipher(), nonce, ciphertext_and_tag, aad)
    }

    /// A STREAM encryptor (big-endian 32-bit counter) for chunked envelope encryption of large
    /// payloads; each chunk is authenticated with its position and whether it is the last.
    pub fn stream_encryptor(
        &self,
        nonce_prefix: &[u8; STREAM_NONCE_PREFIX_LEN],
    ) -> StreamEncryptor {
        StreamEncryptor(aead_stream::EncryptorBE32::from_aead(
            self.stream_cipher(),
            &(*nonce_prefix).into(),
        ))
    }

    /// The STREAM decryptor matching [`stream_encryptor`](Self::stream_encryptor).
    pub fn stream_decryptor(
        &self,
        nonce_prefix: &[u8; STREAM_NONCE_PREFIX_LEN],
    ) -> StreamDecryptor {
        StreamDecryptor(aead_stream::DecryptorBE32::from_aead(
            self.stream_cipher(),
            &(*nonce_prefix).into(),
        ))
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey(..redacted..)")
    }
}

/// Length of the per-message nonce prefix of the STREAM construction over AES-GCM (12 − 5 bytes).
pub const STREAM_NONCE_PREFIX_LEN: usize = 7;

/// Encrypts a sequence of chunks; see [`SymmetricKey::stream_encryptor`].
pub struct StreamEncryptor(aead_stream::EncryptorBE32<Aes256Gcm>);

impl StreamEncryptor {
    /// Encrypts a chunk that is not the last one.
    pub fn encrypt_next(&mut self, chunk: &[u8], aad: &[u8]) -> KmsResult<Vec<u8>> {
        self.0
            .encrypt_next(Payload { msg: chunk, aad })
            .map_err(|_| KmsError::LimitExceeded("too many chunks in one stream".into()))
    }

    /// Encrypts the final chunk (possibly empty) and ends the stream.
    pub fn encrypt_last(self, chunk: &[u8], aad: &[u8]) -> KmsResult<Vec<u8>> {
        self.0
            .encrypt_last(Payload { msg: chunk, aad })
            .map_err(|_| KmsError::LimitExceeded("too many chunks in one stream".into()))
    }
}

/// Decrypts a sequence of chunks; see [`SymmetricKey::stream_decryptor`].
pub struct StreamDecryptor(aead_stream::DecryptorBE32<Aes256Gcm>);

impl StreamDecryptor {
    /// Decrypts a chunk that is not the last one.
    pub fn decrypt_next(&mut self, chunk: &[u8], aad: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.0
            .decrypt_next(Payload { msg: chunk, aad })
            .map(Zeroizing::new)
            .map_err(|_| KmsError::invalid_ciphertext())
    }

    /// Decrypts the final chunk and ends the stream.
    pub fn decrypt_last(self, chunk: &[u8], aad: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.0
            .decrypt_last(Payload { msg: chunk, aad })
            .map(Zeroizing::new)
            .map_err(|_| KmsError::invalid_ciphertext())
    }
}

/// Opens `ciphertext || tag`; every failure is the same invalid ciphertext, and a failed
/// attempt's buffer is wiped.
fn open_detached(
    cipher: &provider::AesGcm,
    nonce: &[u8; NONCE_LEN],
    ciphertext_and_tag: &[u8],
    aad: &[u8],
) -> KmsResult<Zeroizing<Vec<u8>>> {
    let body_len = ciphertext_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or_else(KmsError::invalid_ciphertext)?;
    let (body, tag) = ciphertext_and_tag.split_at(body_len);
    let mut plaintext = Zeroizing::new(body.to_vec());
    cipher
        .open_in_place(
            nonce,
            aad,
            &mut plaintext,
            tag.try_into().expect("split at TAG_LEN"),
        )
        .map_err(|()| KmsError::invalid_ciphertext())?;
    Ok(plaintext)
}

/// AES-GCM under a data key of 16 or 32 bytes, as guests use data keys through handles. The key
/// schedule is built once; the cipher is wiped when dropped.
pub struct DataKeyCipher {
    cipher: provider::AesGcm,
    key_len: usize,
}

impl DataKeyCipher {
    /// The cipher for a data key, or `InvalidKeyUsage` for a length AES cannot use.
    pub fn new(key: &[u8]) -> KmsResult<Self> {
        provider::AesGcm::new(key)
            .map(|cipher| DataKeyCipher {
                cipher,
                key_len: key.len(),
            })
            .ok_or_else(|| {
                KmsError::InvalidKeyUsage(format!(
                    "a {}-byte data key cannot be used with AES-GCM; use AES_128 or AES_256",
                    key.len()
                ))
            })
    }

    /// Encrypts under a fresh random nonce: `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> KmsResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        self.seal_with_nonce(&nonce, plaintext, aad)
    }

    fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> KmsResult<Vec<u8>> {
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(nonce);
        sealed.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .seal_in_place(nonce, aad, &mut sealed[NONCE_LEN..])
            .map_err(|()| KmsError::Internal("AES-GCM encryption failed".into()))?;
        sealed.extend_from_slice(&tag);
        Ok(sealed)
    }

    /// Opens what [`seal`](Self::seal) produced; every failure is the same invalid ciphertext.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(KmsError::invalid_ciphertext());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        open_detached(
            &self.cipher,
            nonce.try_into().expect("split at NONCE_LEN"),
            body,
            aad,
        )
    }
}

impl fmt::Debug for DataKeyCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKeyCipher::Aes{}(..redacted..)", self.key_len * 8)
    }
}

/// Fills `buf` from the provider's CSPRNG: the operating system's (RustCrypto), or AWS-LC's
/// DRBG seeded from it.
pub fn fill_random(buf: &mut [u8]) -> KmsResult<()> {
    provider::fill_random(buf)
        .map_err(|e| KmsError::Internal(format!("the system random source failed: {e}")))
}

/// `len` random bytes, zeroized when dropped (they may become a data key).
pub fn random_bytes(len: usize) -> KmsResult<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut out)?;
    Ok(out)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    provider::digest(Hash::Sha256, &[data])
        .try_into()
        .expect("32 bytes")
}

/// `parts`, each preceded by its length as a big-endian u64, ready to hash as one input.
fn length_prefixed<'a>(parts: &[&'a [u8]], lengths: &'a mut Vec<[u8; 8]>) -> Vec<&'a [u8]> {
    lengths.extend(parts.iter().map(|p| (p.len() as u64).to_be_bytes()));
    lengths
        .iter()
        .zip(parts)
        .flat_map(|(length, part)| [&length[..], part])
        .collect()
}

/// SHA-256 over several parts, each prefixed by its length so that part boundaries are unambiguous.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut lengths = Vec::new();
    provider::digest(Hash::Sha256, &length_prefixed(parts, &mut lengths))
        .try_into()
        .expect("32 bytes")
}

/// HMAC-SHA-256 of `data` under `key` (RFC 2104), as SigV4's key derivation chains it.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    provider::hmac(Hash::Sha256, key, &[data])
        .try_into()
        .expect("32 bytes")
}

/// HMAC-SHA-256 of length-prefixed `parts` under `key`.
pub fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut lengths = Vec::new();
    provider::hmac(Hash::Sha256, key, &length_prefixed(parts, &mut lengths))
        .try_into()
        .expect("32 bytes")
}

/// Equality of two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vector {
        key: &'static str,
        nonce: &'static str,
        plaintext: &'static str,
        aad: &'static str,
        ciphertext: &'static str,
        tag: &'static str,
    }

    /// NIST CAVP `gcmEncryptExtIV256.rsp` (96-bit IV, 128-bit tag).
    const NIST_GCM_256: &[Vector] = &[
        Vector {
            key: "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
            nonce: "516c33929df5a3284ff463d7",
            plaintext: "",
            aad: "",
            ciphertext: "",
            tag: "bdc1ac884d332457a1d2664f168c76f0",
        },
        Vector {
            key: "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
            nonce: "d79cf22d504cc793c3fb6c8a",
            plaintext: "",
            aad: "b96baa8c1c75a671bfb2d08d06be5f36",
            ciphertext: "",
            tag: "3e5d486aa2e30b22e040b85723a06e76",
        },
        Vector {
            key: "268ed1b5d7c9c7304f9cae5fc437b4cd3aebe2ec65f0d85c3918d3d3b5bba89b",
            nonce: "9ed9d8180564e0e945f5e5d4",
            plaintext: "fe29a40d8ebf57262bdb87191d01843f4ca4b2de97d88273154a0b7d9e2fdb80",
            aad: "",
            ciphertext: "791a4a026f16f3a5ea06274bf02baab469860abde5e645f3dd473a5acddeecfc",
            tag: "05b2b74db0662550435ef1900e136b15",
        },
        Vector {
            key: "37ccdba1d929d6436c16bba5b5ff34deec88ed7df3d15d0f4ddf80c0c731ee1f",
            nonce: "5c1b21c8998ed6299006d3f9",
            plaintext: "ad4260e3cdc76bcc10c7b2c06b80b3be948258e5ef20c508a81f51e96a518388",
            aad: "22ed235946235a85a45bc5fad7140bfa",
            ciphertext: "3b335f8b08d33ccdcad228a74700f1007542a4d1e7fc1ebe3f447fe71af29816",
            tag: "1fbf49cc46f458bf6e88f6370975e6d4",
        },
        Vector {
            key: "714261ef4f02fb4efb0e6b5aed96d7b3ceac6551a57cf679da179c01aac5ee0e",
            nonce: "3b7d15c7fd877461a789255a",
            plaintext: "815de8b0382fe60cb0d3782ee9",
            aad: "7621e58152336ee415f037f2e11581fe4da545c18d6e80177d5ab5dda89a25e8057d6fccec3757759a6e86e631080c0b17baa8be0b8fe579d3bfa97937ee242b6faacfc09425853df4dc26bc263ed1083a73ffc978c9265f8069",
            ciphertext: "29c566ea47752a31a380fd0e7c",
            tag: "b279340a384dbbae721c54e9183b3966",
        },
    ];

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn aes_256_gcm_matches_nist_known_answers() {
        for v in NIST_GCM_256 {
            let key = SymmetricKey::from_slice(&unhex(v.key)).unwrap();
            let nonce: [u8; 12] = unhex(v.nonce).try_into().unwrap();
            let sealed = key
                .seal_with_nonce(&nonce, &unhex(v.plaintext), &unhex(v.aad))
                .unwrap();
            let mut expected = unhex(v.ciphertext);
            expected.extend(unhex(v.tag));
            assert_eq!(
                hex::encode(&sealed),
                hex::encode(&expected),
                "key {}",
                v.key
            );
            let opened = key
                .open_with_nonce(&nonce, &expected, &unhex(v.aad))
                .unwrap();
            assert_eq!(*opened, unhex(v.plaintext));
        }
    }

    #[test]
    fn aes_256_gcm_rejects_altered_tag_and_aad() {
        let v = &NIST_GCM_256[3];
        let key = SymmetricKey::from_slice(&unhex(v.key)).unwrap();
        let nonce: [u8; 12] = unhex(v.nonce).try_into().unwrap();
        let mut sealed = unhex(v.ciphertext);
        sealed.extend(unhex(v.tag));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open_with_nonce(&nonce, &sealed, &unhex(v.aad)).is_err());
        sealed[last] ^= 1;
        assert!(key.open_with_nonce(&nonce, &sealed, b"other aad").is_err());
    }

    #[test]
    fn seal_uses_a_fresh_nonce_each_time() {
        let key = SymmetricKey::generate().unwrap();
        let a = key.seal(b"same", b"").unwrap();
        let b = key.seal(b"same", b"").unwrap();
        assert_ne!(a, b);
        assert_eq!(*key.open(&a, b"").unwrap(), b"same");
    }

    #[test]
    fn open_rejects_short_input() {
        let key = SymmetricKey::generate().unwrap();
        assert!(matches!(
            key.open(&[0u8; 27], b""),
            Err(KmsError::InvalidCiphertext(_))
        ));
    }

    #[test]
    fn stream_detects_reordered_and_truncated_chunks() {
        let key = SymmetricKey::generate().unwrap();
        let prefix = [7u8; STREAM_NONCE_PREFIX_LEN];
        let mut enc = key.stream_encryptor(&prefix);
        let c0 = enc.encrypt_next(b"first", b"h").unwrap();
        let c1 = enc.encrypt_next(b"second", b"h").unwrap();
        let c2 = enc.encrypt_last(b"third", b"h").unwrap();

        let mut dec = key.stream_decryptor(&prefix);
        assert_eq!(*dec.decrypt_next(&c0, b"h").unwrap(), b"first");
        assert_eq!(*dec.decrypt_next(&c1, b"h").unwrap(), b"second");
        assert_eq!(*dec.decrypt_last(&c2, b"h").unwrap(), b"third");

        let mut swapped = key.stream_decryptor(&prefix);
        assert!(swapped.decrypt_next(&c1, b"h").is_err());

        // Ending the stream early: chunk 1 presented as the last one fails.
        let mut truncated = key.stream_decryptor(&prefix);
        truncated.decrypt_next(&c0, b"h").unwrap();
        assert!(truncated.decrypt_last(&c1, b"h").is_err());
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn sha256_matches_fips_180_known_answer() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 2 (AES-128) and 14
    /// (AES-256): zero key, zero nonce, one zero block.
    #[test]
    fn data_key_cipher_matches_the_gcm_specification_vectors() {
        for (key_len, expected) in [
            (
                16,
                "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
            ),
            (
                32,
                "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
            ),
        ] {
            let cipher = DataKeyCipher::new(&vec![0u8; key_len]).unwrap();
            let sealed = cipher
                .seal_with_nonce(&[0; NONCE_LEN], &[0; 16], b"")
                .unwrap();
            assert_eq!(
                hex::encode(&sealed[NONCE_LEN..]),
                expected,
                "AES-{}",
                key_len * 8
            );
            assert_eq!(*cipher.open(&sealed, b"").unwrap(), [0; 16]);
        }
    }

    #[test]
    fn data_key_cipher_refuses_other_lengths_and_altered_input() {
        assert!(matches!(
            DataKeyCipher::new(&[0; 24]),
            Err(KmsError::InvalidKeyUsage(_))
        ));
        let cipher = DataKeyCipher::new(&[7; 32]).unwrap();
        let sealed = cipher.seal(b"bulk", b"aad").unwrap();
        assert!(cipher.open(&sealed, b"other").is_err());
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(cipher.open(&flipped, b"aad").is_err());
        assert!(
            cipher
                .open(&sealed[..NONCE_LEN + TAG_LEN - 1], b"aad")
                .is_err()
        );
        assert_ne!(
            cipher.seal(b"bulk", b"aad").unwrap(),
            sealed,
            "nonces repeat"
        );
    }
}
