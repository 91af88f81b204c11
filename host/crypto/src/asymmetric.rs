//! Key pairs and MAC keys: RSA (OAEP encryption, PSS and PKCS#1 v1.5 signatures), ECDSA and ECDH
//! on P-256, P-384, P-521 and secp256k1, Ed25519 and Ed25519ph (RFC 8032), HMAC-SHA-2, ML-DSA
//! (FIPS 204) and ML-KEM (FIPS 203). Every operation AWS KMS performs with them, behind one type,
//! [`KeyMaterial`].
//!
//! RSA, ECDSA, ECDH and HMAC run on the crate's provider (RustCrypto, or AWS-LC with the
//! feature `aws-lc-rs`); Ed25519, ML-DSA and ML-KEM on RustCrypto in both builds. Secret material
//! is kept in zeroizing types; RSA private-key operations are blinded (RustCrypto, the `rsa`
//! crate's RUSTSEC-2023-0071 mitigation) or constant-time (AWS-LC), and MACs are compared in
//! constant time.

use std::sync::OnceLock;

use rand_core::UnwrapErr;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use super::{SymmetricKey, constant_time_eq, fill_random};
use crate::provider::{self, Curve, EcPrivateKey, EcPublicKey, Hash, RsaPadding};
use kms_core::blocking::section;
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::KeySpec;

/// The operating system's CSPRNG, for the crates that take an RNG (ML-DSA's signing).
fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

pub use kms_core::types::{
    EncapsulationAlgorithmSpec as EncapsulationAlgorithm, MacAlgorithmSpec as MacAlgorithm,
    MessageType, SigningAlgorithmSpec as SigningAlgorithm,
};

/// An RSA encryption padding (`EncryptionAlgorithmSpec` other than SYMMETRIC_DEFAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OaepHash {
    /// RSAES-OAEP with SHA-1 (hash and MGF1).
    Sha1,
    /// RSAES-OAEP with SHA-256 (hash and MGF1).
    Sha256,
}

/// The hash of a signing algorithm; `None` for ML-DSA and Ed25519, which hash inside the scheme.
fn hash_of(algorithm: SigningAlgorithm) -> Option<Hash> {
    use SigningAlgorithm::*;
    match algorithm {
        RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 => Some(Hash::Sha256),
        RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => Some(Hash::Sha384),
        RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 => Some(Hash::Sha512),
        MlDsaShake256 | Ed25519Sha512 | Ed25519PhSha512 => None,
    }
}

/// The material of one backing-key version of any key spec, with what is derived from it (the
/// public key, ML-DSA's expanded key) computed once, on first use.
pub struct KeyMaterial {
    secret: Secret,
    public: OnceLock<Option<PublicKey>>,
    ml_dsa: OnceLock<MlDsaKey>,
    ml_kem: OnceLock<MlKemKey>,
}

/// The secret itself.
enum Secret {
    /// AES-256-GCM.
    Symmetric(SymmetricKey),
    /// An HMAC key of the spec's length.
    Hmac(KeySpec, Zeroizing<Vec<u8>>),
    /// An RSA private key.
    Rsa(Box<provider::RsaPrivateKey>),
    /// A P-256, P-384, P-521 or secp256k1 private key.
    Ec(EcPrivateKey),
    /// An ML-DSA private key, kept as its 32-byte seed.
    MlDsa(KeySpec, Zeroizing<[u8; 32]>),
    /// An Ed25519 private key (zeroized on drop by the crate).
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// An ML-KEM decapsulation key, kept as its 64-byte seed `d || z` (FIPS 203 section 7.1).
    MlKem(KeySpec, Zeroizing<[u8; 64]>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({}, ..redacted..)", self.spec())
    }
}

fn usage_error(spec: KeySpec, what: &str) -> KmsError {
    KmsError::InvalidKeyUsage(format!("A {spec} key cannot {what}"))
}

fn invalid_signature() -> KmsError {
    KmsError::InvalidSignature("The signature is not valid for this message and key".into())
}

/// The HMAC key length of an HMAC spec, in bytes.
/// Runs work on material of `spec` as a blocking [section](kms_core::blocking) unless the
/// spec's work is a few microseconds (AES, HMAC).
fn may_block<T>(spec: KeySpec, work: impl FnOnce() -> T) -> T {
    if spec == KeySpec::SymmetricDefault || hmac_len(spec).is_some() {
        work()
    } else {
        section(work)
    }
}

fn hmac_len(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Hmac224 => Some(28),
        KeySpec::Hmac256 => Some(32),
        KeySpec::Hmac384 => Some(48),
        KeySpec::Hmac512 => Some(64),
        _ => None,
    }
}

/// The HMAC key lengths AWS accepts for imported material of an HMAC spec, in bytes: from the
/// hash's output length up to its block size.
fn hmac_import_len(spec: KeySpec) -> Option<std::ops::RangeInclusive<usize>> {
    match spec {
        KeySpec::Hmac224 => Some(28..=64),
        KeySpec::Hmac256 => Some(32..=64),
        KeySpec::Hmac384 => Some(48..=128),
        KeySpec::Hmac512 => Some(64..=128),
        _ => None,
    }
}

fn rsa_bits(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Rsa2048 => Some(2048),
        KeySpec::Rsa3072 => Some(3072),
        KeySpec::Rsa4096 => Some(4096),
        _ => None,
    }
}

/// The RSA spec of a modulus size; sizes no spec has read as RSA_2048, as they always did.
fn rsa_spec(bits: usize) -> KeySpec {
    match bits {
        3072 => KeySpec::Rsa3072,
        4096 => KeySpec::Rsa4096,
        _ => KeySpec::Rsa2048,
    }
}

fn curve_of(spec: KeySpec) -> Option<Curve> {
    match spec {
        KeySpec::EccNistP256 => Some(Curve::P256),
        KeySpec::EccNistP384 => Some(Curve::P384),
        KeySpec::EccNistP521 => Some(Curve::P521),
        KeySpec::EccSecgP256k1 => Some(Curve::Secp256k1),
        _ => None,
    }
}

fn curve_spec(curve: Curve) -> KeySpec {
    match curve {
        Curve::P256 => KeySpec::EccNistP256,
        Curve::P384 => KeySpec::EccNistP384,
        Curve::P521 => KeySpec::EccNistP521,
        Curve::Secp256k1 => KeySpec::EccSecgP256k1,
    }
}

fn internal(what: &str) -> impl FnOnce(String) -> KmsError + '_ {
    move |e| KmsError::Internal(format!("{what}: {e}"))
}

/// An ML-KEM public key of a parameter set from a DER SubjectPublicKeyInfo with the FIPS 203 OID.
macro_rules! ml_kem_public {
    ($params:ty, $spec:expr, $der:expr) => {{
        use ml_kem::pkcs8::DecodePublicKey;
        let key = ml_kem::EncapsulationKey::<$params>::from_public_key_der($der).map_err(|e| {
            KmsError::invalid("PublicKey", format!("not a DER {} public key: {e}", $spec))
        })?;
        PublicKey::MlKem($spec, ml_kem::KeyExport::to_bytes(&key).to_vec())
    }};
}

/// ML-KEM encapsulation with randomness `m` to an encoded encapsulation key of a parameter set.
macro_rules! ml_kem_encapsulate {
    ($params:ty, $encoded:expr, $m:expr) => {{
        let key = ml_kem::Key::<ml_kem::EncapsulationKey<$params>>::try_from($encoded.as_slice())
            .ok()
            .and_then(|k| ml_kem::EncapsulationKey::<$params>::new(&k).ok())
            .ok_or_else(|| internal("ML-KEM public key")("not of its parameter set".into()))?;
        let (ciphertext, shared) = key.encapsulate_deterministic(&ml_kem::B32::from(*$m));
        Ok((ciphertext.to_vec(), Zeroizing::new(shared.to_vec())))
    }};
}

/// An ML-KEM private key's seed from its PKCS#8 seed form.
macro_rules! ml_kem_seed {
    ($params:ty, $spec:expr, $der:expr) => {{
        use ml_kem::pkcs8::DecodePrivateKey;
        ml_kem::DecapsulationKey::<$params>::from_pkcs8_der($der).and_then(|key| {
            let seed = key.to_seed().ok_or(rsa::pkcs8::Error::KeyMalformed(
                rsa::pkcs8::KeyError::Invalid,
            ))?;
            let seed: [u8; 64] = seed.into();
            Ok(Secret::MlKem($spec, Zeroizing::new(seed)))
        })
    }};
}

/// An ML-DSA private key's seed from its PKCS#8 seed form.
fn ml_dsa_seed<P>(spec: KeySpec, der: &[u8]) -> Result<Secret, rsa::pkcs8::Error>
where
    P: ml_dsa::MlDsaParams,
    ml_dsa::SigningKey<P>: DecodePrivateKey,
{
    let key = ml_dsa::SigningKey::<P>::from_pkcs8_der(der)?;
    let seed: [u8; 32] = (*key.as_seed()).into();
    Ok(Secret::MlDsa(spec, Zeroizing::new(seed)))
}

impl KeyMaterial {
    fn new(secret: Secret) -> Self {
        KeyMaterial {
            secret,
            public: OnceLock::new(),
            ml_dsa: OnceLock::new(),
            ml_kem: OnceLock::new(),
        }
    }

    /// Fresh material for `spec`.
    pub fn generate(spec: KeySpec) -> KmsResult<Self> {
        may_block(spec, || Self::generate_secret(spec).map(Self::new))
    }

    /// Reads back what [`to_sealable`](Self::to_sealable) produced for `spec`.
    pub fn from_sealed(spec: KeySpec, bytes: &[u8]) -> KmsResult<Self> {
        may_block(spec, || {
            Self::secret_from_sealed(spec, bytes).map(Self::new)
        })
    }

    fn generate_secret(spec: KeySpec) -> KmsResult<Secret> {
        if let Some(bits) = rsa_bits(spec) {
            let key = provider::RsaPrivateKey::generate(bits)
                .map_err(internal("RSA key generation failed"))?;
            return Ok(Secret::Rsa(Box::new(key)));
        }
        if let Some(curve) = curve_of(spec) {
            let key =
                EcPrivateKey::generate(curve).map_err(internal("EC key generation failed"))?;
            return Ok(Secret::Ec(key));
        }
        if let Some(len) = hmac_len(spec) {
            let mut key = Zeroizing::new(vec![0u8; len]);
            fill_random(&mut key)?;
            return Ok(Secret::Hmac(spec, key));
        }
        Ok(match spec {
            KeySpec::SymmetricDefault => Secret::Symmetric(SymmetricKey::generate()?),
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                fill_random(seed.as_mut())?;
                Secret::MlDsa(spec, seed)
            }
            KeySpec::EccNistEdwards25519 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                fill_random(seed.as_mut())?;
                Secret::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
                let mut seed = Zeroizing::new([0u8; 64]);
                fill_random(seed.as_mut())?;
                Secret::MlKem(spec, seed)
            }
            other => {
                return Err(KmsError::UnsupportedOperation(format!(
                    "Key spec {other} is not supported"
                )));
            }
        })
    }

    /// The spec this material belongs to.
    pub fn spec(&self) -> KeySpec {
        match &self.secret {
            Secret::Symmetric(_) => KeySpec::SymmetricDefault,
            Secret::Hmac(spec, _) | Secret::MlDsa(spec, _) | Secret::MlKem(spec, _) => *spec,
            Secret::Ed25519(_) => KeySpec::EccNistEdwards25519,
            Secret::Rsa(key) => rsa_spec(key.bits()),
            Secret::Ec(key) => curve_spec(key.curve()),
        }
    }

    /// The bytes sealed in the vault, for tests that look for them where they must not be
    /// (feature `test-secrets`); see [`sealable`](Self::sealable).
    #[cfg(any(test, feature = "test-secrets"))]
    pub fn to_sealable(&self) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.sealable()
    }

    /// The bytes sealed in the vault: raw for symmetric, HMAC, ML-DSA, ML-KEM and Ed25519 (their
    /// seeds), PKCS#8 DER for RSA and the ECDSA curves. They leave this crate only sealed
    /// ([`SymmetricKey::seal_material`](crate::SymmetricKey::seal_material)).
    pub(crate) fn sealable(&self) -> KmsResult<Zeroizing<Vec<u8>>> {
        match &self.secret {
            Secret::Symmetric(key) => Ok(Zeroizing::new(key.secret().to_vec())),
            Secret::Hmac(_, key) => Ok(Zeroizing::new(key.to_vec())),
            Secret::MlDsa(_, seed) => Ok(Zeroizing::new(seed.to_vec())),
            Secret::MlKem(_, seed) => Ok(Zeroizing::new(seed.to_vec())),
            Secret::Ed25519(key) => Ok(Zeroizing::new(key.to_bytes().to_vec())),
            Secret::Rsa(key) => key.to_pkcs8(),
            Secret::Ec(key) => key.to_pkcs8(),
        }
        .map_err(internal("encoding a private key"))
    }

    /// A fingerprint of the material in its canonical (sealed) form under `key`, bound to
    /// `context`: HMAC-SHA-256. The same key material gives the same fingerprint however it
    /// was encoded on import; without `key` it tells nothing about the material.
    pub fn keyed_fingerprint(&self, key: &[u8], context: &[u8]) -> KmsResult<[u8; 32]> {
        Ok(crate::hmac_sha256_parts(
            key,
            &[
                b"kms key material fingerprint v1",
                context,
                &self.sealable()?,
            ],
        ))
    }

    /// Reads unwrapped imported key material (`ImportKeyMaterial`) as a key of `spec`: 32 raw
    /// bytes for SYMMETRIC_DEFAULT, raw bytes of AWS's allowed lengths for HMAC, and a PKCS#8
    /// DER private key for every asymmetric spec (ML-DSA and ML-KEM in their seed form).
    /// Material of another spec or shape is `IncorrectKeyMaterial`; which specs may be imported
    /// at all is the service's decision.
    pub fn from_imported(spec: KeySpec, material: &[u8]) -> KmsResult<Self> {
        Self::secret_from_imported(spec, material).map(Self::new)
    }

    fn secret_from_imported(spec: KeySpec, material: &[u8]) -> KmsResult<Secret> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let wrong = |what: &str| {
            KmsError::IncorrectKeyMaterial(format!(
                "The imported key material is not a {spec} key: {what}"
            ))
        };
        fn not_pkcs8<E>(wrong: impl Fn(&str) -> KmsError) -> impl FnOnce(E) -> KmsError {
            move |_| wrong("expected its private key as PKCS#8 DER")
        }
        if let Some(lengths) = hmac_import_len(spec) {
            if !lengths.contains(&material.len()) {
                return Err(wrong(&format!(
                    "{} bytes, where {spec} takes {} to {} bytes",
                    material.len(),
                    lengths.start(),
                    lengths.end()
                )));
            }
            return Ok(Secret::Hmac(spec, Zeroizing::new(material.to_vec())));
        }
        if let Some(bits) = rsa_bits(spec) {
            let key = provider::RsaPrivateKey::from_pkcs8(material).map_err(not_pkcs8(wrong))?;
            let size = key.bits();
            if size != bits {
                return Err(wrong(&format!("an RSA key of {size} bits")));
            }
            return Ok(Secret::Rsa(Box::new(key)));
        }
        if let Some(curve) = curve_of(spec) {
            return Ok(Secret::Ec(
                EcPrivateKey::from_pkcs8(curve, material).map_err(not_pkcs8(wrong))?,
            ));
        }
        Ok(match spec {
            KeySpec::SymmetricDefault if material.len() == 32 => {
                Secret::Symmetric(SymmetricKey::from_slice(material)?)
            }
            KeySpec::SymmetricDefault => {
                return Err(wrong(&format!("{} bytes, not 32", material.len())));
            }
            KeySpec::EccNistEdwards25519 => Secret::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_pkcs8_der(material).map_err(not_pkcs8(wrong))?,
            )),
            KeySpec::MlDsa44 => {
                ml_dsa_seed::<ml_dsa::MlDsa44>(spec, material).map_err(not_pkcs8(wrong))?
            }
            KeySpec::MlDsa65 => {
                ml_dsa_seed::<ml_dsa::MlDsa65>(spec, material).map_err(not_pkcs8(wrong))?
            }
            KeySpec::MlDsa87 => {
                ml_dsa_seed::<ml_dsa::MlDsa87>(spec, material).map_err(not_pkcs8(wrong))?
            }
            KeySpec::MlKem512 => {
                ml_kem_seed!(ml_kem::MlKem512, spec, material).map_err(not_pkcs8(wrong))?
            }
            KeySpec::MlKem768 => {
                ml_kem_seed!(ml_kem::MlKem768, spec, material).map_err(not_pkcs8(wrong))?
            }
            KeySpec::MlKem1024 => {
                ml_kem_seed!(ml_kem::MlKem1024, spec, material).map_err(not_pkcs8(wrong))?
            }
            other => {
                return Err(KmsError::UnsupportedOperation(format!(
                    "Key material cannot be imported for {other} keys"
                )));
            }
        })
    }

    fn secret_from_sealed(spec: KeySpec, bytes: &[u8]) -> KmsResult<Secret> {
        let corrupt =
            |e: String| KmsError::Internal(format!("stored {spec} key material is not valid: {e}"));
        if let Some(bits) = rsa_bits(spec) {
            let key = provider::RsaPrivateKey::from_pkcs8(bytes).map_err(corrupt)?;
            let size = key.bits();
            if size != bits {
                return Err(corrupt(format!("an RSA key of {size} bits")));
            }
            return Ok(Secret::Rsa(Box::new(key)));
        }
        if let Some(curve) = curve_of(spec) {
            return Ok(Secret::Ec(
                EcPrivateKey::from_pkcs8(curve, bytes).map_err(corrupt)?,
            ));
        }
        if let Some(lengths) = hmac_import_len(spec) {
            // Generated keys have the hash's length; imported ones any length AWS accepts.
            if !lengths.contains(&bytes.len()) {
                return Err(corrupt(format!("{} bytes", bytes.len())));
            }
            return Ok(Secret::Hmac(spec, Zeroizing::new(bytes.to_vec())));
        }
        Ok(match spec {
            KeySpec::SymmetricDefault => Secret::Symmetric(SymmetricKey::from_slice(bytes)?),
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                let seed: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| corrupt(format!("{} bytes", bytes.len())))?;
                Secret::MlDsa(spec, Zeroizing::new(seed))
            }
            KeySpec::EccNistEdwards25519 => {
                let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
                    bytes
                        .try_into()
                        .map_err(|_| corrupt(format!("{} bytes", bytes.len())))?,
                );
                Secret::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
                let seed: Zeroizing<[u8; 64]> = Zeroizing::new(
                    bytes
                        .try_into()
                        .map_err(|_| corrupt(format!("{} bytes", bytes.len())))?,
                );
                Secret::MlKem(spec, seed)
            }
            other => return Err(corrupt(format!("unsupported spec {other}"))),
        })
    }

    /// The symmetric key, or `InvalidKeyUsage` for any other spec.
    pub fn symmetric(&self) -> KmsResult<&SymmetricKey> {
        match &self.secret {
            Secret::Symmetric(key) => Ok(key),
            _ => Err(usage_error(self.spec(), "encrypt with AES-GCM")),
        }
    }

    /// The public key as DER SubjectPublicKeyInfo (`GetPublicKey`); `UnsupportedOperation` for
    /// symmetric and HMAC keys, which have none.
    pub fn public_key_der(&self) -> KmsResult<Vec<u8>> {
        let encode = |r: Result<rsa::pkcs8::Document, rsa::pkcs8::spki::Error>| {
            r.map(|d| d.as_bytes().to_vec())
                .map_err(|e| internal("encoding a public key")(e.to_string()))
        };
        match &self.secret {
            Secret::Rsa(_) | Secret::Ec(_) => self.public()?.to_der(),
            Secret::MlDsa(..) => self.with_ml_dsa(|k| k.public_key_der()),
            Secret::Ed25519(key) => encode(key.verifying_key().to_public_key_der()),
            Secret::MlKem(..) => self.with_ml_kem(|k| k.public_key_der()),
            _ => Err(KmsError::UnsupportedOperation(format!(
                "A {} key has no public key",
                self.spec()
            ))),
        }
    }

    /// The algorithms `sign` accepts for this key.
    pub fn signing_algorithms(&self) -> &'static [SigningAlgorithm] {
        signing_algorithms_for(self.spec())
    }

    fn check_algorithm(&self, algorithm: SigningAlgorithm) -> KmsResult<()> {
        if self.signing_algorithms().contains(&algorithm) {
            Ok(())
        } else if self.signing_algorithms().is_empty() {
            Err(usage_error(self.spec(), "sign or verify"))
        } else {
            Err(KmsError::InvalidKeyUsage(format!(
                "Signing algorithm {algorithm:?} is not compatible with a {} key",
                self.spec()
            )))
        }
    }

    /// Signs (`Sign`). RSA and ECDSA take a RAW message (hashed here) or a DIGEST; ML-DSA a RAW
    /// message or an EXTERNAL_MU; Ed25519 a RAW message (ED25519_SHA_512) or a SHA-512 DIGEST
    /// (ED25519_PH_SHA_512). ECDSA signatures are DER-encoded, as AWS returns them; Ed25519
    /// signatures are the 64 bytes `R || S` of RFC 8032.
    pub fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> KmsResult<Vec<u8>> {
        self.check_algorithm(algorithm)?;
        section(|| self.sign_checked(algorithm, message_type, message))
    }

    fn sign_checked(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> KmsResult<Vec<u8>> {
        match &self.secret {
            Secret::MlDsa(..) => return self.with_ml_dsa(|k| k.sign(message_type, message)),
            Secret::Ed25519(key) => return ed25519_sign(key, algorithm, message_type, message),
            _ => {}
        }
        let prehash = prehash(algorithm, message_type, message)?;
        match &self.secret {
            Secret::Rsa(key) => {
                let (padding, hash) = rsa_scheme(algorithm).expect("checked by check_algorithm");
                key.sign_digest(padding, hash, &prehash)
                    .map_err(internal("RSA signing failed"))
            }
            Secret::Ec(key) => key
                .sign_digest(&prehash)
                .map_err(|e| KmsError::invalid("Message", format!("cannot sign this digest: {e}"))),
            _ => Err(usage_error(self.spec(), "sign")),
        }
    }

    /// Verifies (`Verify`) with the public half; `InvalidSignature` when the signature does not
    /// verify.
    pub fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> KmsResult<()> {
        self.check_algorithm(algorithm)?;
        self.public()?
            .verify(algorithm, message_type, message, signature)
    }

    /// The public half of a key pair, derived once.
    pub fn public(&self) -> KmsResult<&PublicKey> {
        self.public
            .get_or_init(|| self.derive_public())
            .as_ref()
            .ok_or_else(|| {
                KmsError::UnsupportedOperation(format!("A {} key has no public key", self.spec()))
            })
    }

    fn derive_public(&self) -> Option<PublicKey> {
        Some(match &self.secret {
            Secret::Rsa(key) => PublicKey::Rsa(key.public_key().ok()?),
            Secret::Ec(key) => PublicKey::Ec(key.public_key().ok()?),
            Secret::MlDsa(spec, _) => PublicKey::MlDsa(
                *spec,
                self.with_ml_dsa(|k| Ok(k.encoded_public_key())).ok()?,
            ),
            Secret::Ed25519(key) => PublicKey::Ed25519(key.verifying_key()),
            Secret::MlKem(spec, _) => PublicKey::MlKem(
                *spec,
                self.with_ml_kem(|k| Ok(k.encoded_public_key())).ok()?,
            ),
            Secret::Symmetric(_) | Secret::Hmac(..) => return None,
        })
    }

    /// Runs `f` on the ML-DSA signing key, expanded from its seed once.
    fn with_ml_dsa<T>(&self, f: impl FnOnce(&dyn MlDsaOps) -> KmsResult<T>) -> KmsResult<T> {
        let Secret::MlDsa(spec, seed) = &self.secret else {
            return Err(usage_error(self.spec(), "sign with ML-DSA"));
        };
        let seed = ml_dsa::Seed::from(**seed);
        let key = self.ml_dsa.get_or_init(|| match spec {
            KeySpec::MlDsa44 => MlDsaKey::P44(Box::new(ml_dsa::SigningKey::from_seed(&seed))),
            KeySpec::MlDsa65 => MlDsaKey::P65(Box::new(ml_dsa::SigningKey::from_seed(&seed))),
            _ => MlDsaKey::P87(Box::new(ml_dsa::SigningKey::from_seed(&seed))),
        });
        match key {
            MlDsaKey::P44(k) => f(k.as_ref()),
            MlDsaKey::P65(k) => f(k.as_ref()),
            MlDsaKey::P87(k) => f(k.as_ref()),
        }
    }

    /// Runs `f` on the ML-KEM decapsulation key, expanded from its seed once.
    fn with_ml_kem<T>(&self, f: impl FnOnce(&dyn MlKemOps) -> KmsResult<T>) -> KmsResult<T> {
        let Secret::MlKem(spec, seed) = &self.secret else {
            return Err(usage_error(self.spec(), "encapsulate or decapsulate"));
        };
        let seed = ml_kem::Seed::from(**seed);
        let key = self.ml_kem.get_or_init(|| match spec {
            KeySpec::MlKem512 => {
                MlKemKey::P512(Box::new(ml_kem::DecapsulationKey::from_seed(seed)))
            }
            KeySpec::MlKem768 => {
                MlKemKey::P768(Box::new(ml_kem::DecapsulationKey::from_seed(seed)))
            }
            _ => MlKemKey::P1024(Box::new(ml_kem::DecapsulationKey::from_seed(seed))),
        });
        match key {
            MlKemKey::P512(k) => f(k.as_ref()),
            MlKemKey::P768(k) => f(k.as_ref()),
            MlKemKey::P1024(k) => f(k.as_ref()),
        }
    }

    /// The key encapsulation algorithms this key supports (`EncapsulationAlgorithms`).
    pub fn encapsulation_algorithms(&self) -> &'static [EncapsulationAlgorithm] {
        encapsulation_algorithms_for(self.spec())
    }

    /// `Encapsulate`: a fresh 32-byte shared secret and its ML-KEM ciphertext under this key's
    /// public key.
    pub fn encapsulate(
        &self,
        algorithm: EncapsulationAlgorithm,
    ) -> KmsResult<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        self.check_encapsulation(algorithm)?;
        section(|| self.public()?.encapsulate(algorithm))
    }

    /// `Decapsulate`: the shared secret of an ML-KEM ciphertext. A ciphertext of the wrong length
    /// is `InvalidCiphertext`; any other ciphertext yields a 32-byte value (FIPS 203's implicit
    /// rejection gives a pseudo-random one for a ciphertext that is not this key's).
    pub fn decapsulate(
        &self,
        algorithm: EncapsulationAlgorithm,
        ciphertext: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.check_encapsulation(algorithm)?;
        section(|| self.with_ml_kem(|k| k.decapsulate(ciphertext)))
    }

    fn check_encapsulation(&self, algorithm: EncapsulationAlgorithm) -> KmsResult<()> {
        if self.encapsulation_algorithms().contains(&algorithm) {
            Ok(())
        } else {
            Err(usage_error(self.spec(), "encapsulate or decapsulate"))
        }
    }

    /// The MAC algorithm of an HMAC key.
    pub fn mac_algorithm(&self) -> Option<MacAlgorithm> {
        mac_algorithm_for(self.spec())
    }

    /// `GenerateMac`.
    pub fn generate_mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> KmsResult<Vec<u8>> {
        match (&self.secret, self.mac_algorithm()) {
            (Secret::Hmac(_, key), Some(own)) if own == algorithm => {
                Ok(hmac_tag(algorithm, key, message))
            }
            (_, Some(_)) => Err(KmsError::InvalidKeyUsage(format!(
                "MAC algorithm {algorithm:?} is not compatible with a {} key",
                self.spec()
            ))),
            _ => Err(usage_error(self.spec(), "generate or verify MACs")),
        }
    }

    /// `VerifyMac`: constant-time; `InvalidMac` when the MAC does not match.
    pub fn verify_mac(&self, algorithm: MacAlgorithm, message: &[u8], mac: &[u8]) -> KmsResult<()> {
        let expected = self.generate_mac(algorithm, message)?;
        if constant_time_eq(&expected, mac) {
            Ok(())
        } else {
            Err(KmsError::InvalidMac(
                "The MAC is not valid for this message and key".into(),
            ))
        }
    }

    /// The most plaintext RSAES-OAEP takes under this key with `hash`.
    pub fn oaep_max_plaintext(&self, hash: OaepHash) -> KmsResult<usize> {
        match &self.secret {
            Secret::Rsa(key) => {
                let hash_len = match hash {
                    OaepHash::Sha1 => 20,
                    OaepHash::Sha256 => 32,
                };
                Ok(key.bits() / 8 - 2 * hash_len - 2)
            }
            _ => Err(usage_error(self.spec(), "encrypt with RSAES-OAEP")),
        }
    }

    /// RSAES-OAEP encryption with the public key (`Encrypt` under an RSA key).
    pub fn oaep_encrypt(&self, hash: OaepHash, plaintext: &[u8]) -> KmsResult<Vec<u8>> {
        let max = self.oaep_max_plaintext(hash)?;
        if plaintext.is_empty() || plaintext.len() > max {
            return Err(KmsError::invalid(
                "Plaintext",
                format!(
                    "Plaintext must be between 1 and {max} bytes for {hash:?} under a {} key",
                    self.spec()
                ),
            ));
        }
        let PublicKey::Rsa(public) = self.public()? else {
            unreachable!("oaep_max_plaintext refuses other keys")
        };
        section(|| public.oaep_encrypt(hash, plaintext)).map_err(internal("RSA encryption failed"))
    }

    /// Blinded RSAES-OAEP decryption; every failure is the same invalid ciphertext.
    pub fn oaep_decrypt(&self, hash: OaepHash, ciphertext: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
        let Secret::Rsa(key) = &self.secret else {
            return Err(usage_error(self.spec(), "decrypt with RSAES-OAEP"));
        };
        section(|| key.oaep_decrypt(hash, ciphertext)).ok_or_else(KmsError::invalid_ciphertext)
    }

    /// ECDH with the peer's DER SubjectPublicKeyInfo (`DeriveSharedSecret`): the raw shared
    /// x-coordinate.
    pub fn derive_shared_secret(
        &self,
        peer_public_key_der: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        match &self.secret {
            Secret::Ec(key) => section(|| key.diffie_hellman(peer_public_key_der)).map_err(|()| {
                KmsError::invalid(
                    "PublicKey",
                    format!(
                        "PublicKey must be a DER SubjectPublicKeyInfo of a {} key",
                        key.curve().name()
                    ),
                )
            }),
            _ => Err(usage_error(self.spec(), "derive shared secrets")),
        }
    }

    /// The private key as PKCS#8 DER (for GenerateDataKeyPair, whose pairs leave the host). An
    /// ML-KEM private key is in the seed form, as AWS returns it.
    pub fn private_key_pkcs8(&self) -> KmsResult<Zeroizing<Vec<u8>>> {
        let der = |r: Result<rsa::pkcs8::SecretDocument, rsa::pkcs8::Error>| {
            r.map(|d| Zeroizing::new(d.as_bytes().to_vec()))
                .map_err(|e| internal("encoding a private key")(e.to_string()))
        };
        match &self.secret {
            // RFC 8410's version 1 form, without the optional public key: the form OpenSSL writes
            // and the one OpenSSL 3.0 and Python's cryptography read.
            Secret::Ed25519(key) => der(ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()),
            Secret::MlKem(..) => self.with_ml_kem(|k| der(k.private_key_pkcs8())),
            Secret::Rsa(_) | Secret::Ec(_) => self.sealable(),
            _ => Err(KmsError::UnsupportedOperation(format!(
                "A {} key is not a data key pair",
                self.spec()
            ))),
        }
    }
}

/// The signing algorithms a key of `spec` supports, as AWS pairs them.
pub fn signing_algorithms_for(spec: KeySpec) -> &'static [SigningAlgorithm] {
    use SigningAlgorithm::*;
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
            RsassaPssSha256,
            RsassaPssSha384,
            RsassaPssSha512,
            RsassaPkcs1V15Sha256,
            RsassaPkcs1V15Sha384,
            RsassaPkcs1V15Sha512,
        ],
        KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &[EcdsaSha256],
        KeySpec::EccNistP384 => &[EcdsaSha384],
        KeySpec::EccNistP521 => &[EcdsaSha512],
        KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
        KeySpec::EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
        _ => &[],
    }
}

/// The key encapsulation algorithms a key of `spec` supports.
pub fn encapsulation_algorithms_for(spec: KeySpec) -> &'static [EncapsulationAlgorithm] {
    match spec {
        KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => {
            &[EncapsulationAlgorithm::MlKem]
        }
        _ => &[],
    }
}

/// The MAC algorithm of an HMAC key spec.
pub fn mac_algorithm_for(spec: KeySpec) -> Option<MacAlgorithm> {
    match spec {
        KeySpec::Hmac224 => Some(MacAlgorithm::HmacSha224),
        KeySpec::Hmac256 => Some(MacAlgorithm::HmacSha256),
        KeySpec::Hmac384 => Some(MacAlgorithm::HmacSha384),
        KeySpec::Hmac512 => Some(MacAlgorithm::HmacSha512),
        _ => None,
    }
}

/// The digest to sign or verify: the message hashed, or the caller's digest checked for length.
fn prehash(
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> KmsResult<Vec<u8>> {
    let hash = hash_of(algorithm).expect("checked by the caller");
    match message_type {
        MessageType::Raw => Ok(hash.digest(message)),
        MessageType::Digest if message.len() == hash.len() => Ok(message.to_vec()),
        MessageType::Digest => Err(KmsError::invalid(
            "Message",
            format!(
                "A {algorithm:?} digest is {} bytes, not {}",
                hash.len(),
                message.len()
            ),
        )),
        MessageType::ExternalMu => Err(KmsError::invalid(
            "MessageType",
            "MessageType EXTERNAL_MU is only for ML-DSA keys".into(),
        )),
    }
}

/// The public half of a key pair: what GetPublicKey returns, and what verifies signatures.
pub enum PublicKey {
    /// RSA, on the crate's provider.
    Rsa(provider::RsaPublicKey),
    /// P-256, P-384, P-521 or secp256k1, on the crate's provider.
    Ec(EcPublicKey),
    /// ML-DSA: the encoded verifying key of the spec's parameter set.
    MlDsa(KeySpec, Vec<u8>),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ML-KEM: the encoded encapsulation key of the spec's parameter set.
    MlKem(KeySpec, Vec<u8>),
}

impl PublicKey {
    /// public key of `spec` from a DER SubjectPublicKeyInfo.
    pub fn from_der(spec: KeySpec, der: &[u8]) -> KmsResult<Self> {
        use rsa::pkcs8::DecodePublicKey;
        let invalid =
            |e: String| KmsError::invalid("PublicKey", format!("not a DER {spec} public key: {e}"));
        if rsa_bits(spec).is_some() {
            return provider::RsaPublicKey::from_der(der)
                .map(PublicKey::Rsa)
                .map_err(invalid);
        }
        if let Some(curve) = curve_of(spec) {
            return EcPublicKey::from_der(curve, der)
                .map(PublicKey::Ec)
                .map_err(invalid);
        }
        Ok(match spec {
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => {
                let info = rsa::pkcs8::SubjectPublicKeyInfoRef::try_from(der)
                    .map_err(|e| invalid(e.to_string()))?;
                PublicKey::MlDsa(spec, info.subject_public_key.raw_bytes().to_vec())
            }
            KeySpec::EccNistEdwards25519 => PublicKey::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            KeySpec::MlKem512 => ml_kem_public!(ml_kem::MlKem512, spec, der),
            KeySpec::MlKem768 => ml_kem_public!(ml_kem::MlKem768, spec, der),
            KeySpec::MlKem1024 => ml_kem_public!(ml_kem::MlKem1024, spec, der),
            other => return Err(invalid(format!("{other} keys have no public key"))),
        })
    }

    /// Verifies `signature`; `InvalidSignature` when it does not verify, `Validation` for a
    /// digest of the wrong length.
    pub fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> KmsResult<()> {
        section(|| self.verify_now(algorithm, message_type, message, signature))
    }

    fn verify_now(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> KmsResult<()> {
        match self {
            PublicKey::MlDsa(spec, encoded) => {
                return ml_dsa_verify(*spec, encoded, message_type, message, signature);
            }
            PublicKey::Ed25519(key) => {
                return ed25519_verify(key, algorithm, message_type, message, signature);
            }
            PublicKey::MlKem(..) => return Err(usage_error(self.spec(), "verify signatures")),
            _ => {}
        }
        if hash_of(algorithm).is_none() {
            return Err(invalid_signature());
        }
        let prehash = prehash(algorithm, message_type, message)?;
        let valid = match self {
            PublicKey::Rsa(key) => rsa_scheme(algorithm).is_some_and(|(padding, hash)| {
                key.verify_digest(padding, hash, &prehash, signature)
            }),
            PublicKey::Ec(key) => key.verify_digest(&prehash, signature),
            PublicKey::MlDsa(..) | PublicKey::Ed25519(_) | PublicKey::MlKem(..) => {
                unreachable!("handled above")
            }
        };
        if valid {
            Ok(())
        } else {
            Err(invalid_signature())
        }
    }

    /// The DER SubjectPublicKeyInfo of an RSA or EC key.
    fn to_der(&self) -> KmsResult<Vec<u8>> {
        match self {
            PublicKey::Rsa(key) => key.to_der(),
            PublicKey::Ec(key) => key.to_der(),
            _ => Err(format!("{} keys are encoded elsewhere", self.spec())),
        }
        .map_err(internal("encoding a public key"))
    }

    /// The spec of the key pair this public key belongs to.
    pub fn spec(&self) -> KeySpec {
        match self {
            PublicKey::Rsa(key) => rsa_spec(key.bits()),
            PublicKey::Ec(key) => curve_spec(key.curve()),
            PublicKey::MlDsa(spec, _) | PublicKey::MlKem(spec, _) => *spec,
            PublicKey::Ed25519(_) => KeySpec::EccNistEdwards25519,
        }
    }

    /// ML-KEM encapsulation to this public key: the ciphertext and the 32-byte shared secret.
    pub fn encapsulate(
        &self,
        algorithm: EncapsulationAlgorithm,
    ) -> KmsResult<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let mut m = Zeroizing::new([0u8; 32]);
        fill_random(m.as_mut())?;
        self.encapsulate_deterministic(algorithm, &m)
    }

    /// Encapsulation with the caller's randomness `m`, for known-answer tests only.
    fn encapsulate_deterministic(
        &self,
        algorithm: EncapsulationAlgorithm,
        m: &[u8; 32],
    ) -> KmsResult<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let EncapsulationAlgorithm::MlKem = algorithm;
        let PublicKey::MlKem(spec, encoded) = self else {
            return Err(usage_error(self.spec(), "encapsulate"));
        };
        match spec {
            KeySpec::MlKem512 => ml_kem_encapsulate!(ml_kem::MlKem512, encoded, m),
            KeySpec::MlKem768 => ml_kem_encapsulate!(ml_kem::MlKem768, encoded, m),
            _ => ml_kem_encapsulate!(ml_kem::MlKem1024, encoded, m),
        }
    }
}

/// Ed25519 signing as AWS defines its two algorithms: ED25519_SHA_512 is pure Ed25519 over a RAW
/// message; ED25519_PH_SHA_512 is Ed25519ph (empty context) over a 64-byte DIGEST, which the
/// scheme's own SHA-512 prehash hashes once more (AWS: "the input is hashed twice").
fn ed25519_sign(
    key: &ed25519_dalek::SigningKey,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> KmsResult<Vec<u8>> {
    use ed25519_dalek::Signer;
    let signature = match ed25519_input(algorithm, message_type, message)? {
        Ed25519Input::Pure => key.sign(message),
        Ed25519Input::Prehashed => ed25519ph_sign(key, message)?,
    };
    Ok(signature.to_bytes().to_vec())
}

/// Ed25519ph over `message` (RFC 8032 section 5.1, `PH` = SHA-512, empty context).
fn ed25519ph_sign(
    key: &ed25519_dalek::SigningKey,
    message: &[u8],
) -> KmsResult<ed25519_dalek::Signature> {
    key.sign_prehashed(Sha512::new_with_prefix(message), None)
        .map_err(|e| internal("Ed25519ph signing failed")(e.to_string()))
}

/// Verifies an Ed25519 or Ed25519ph signature, refusing non-canonical encodings and
/// small-order keys (RFC 8032's strict rules, as Wycheproof expects).
fn ed25519_verify(
    key: &ed25519_dalek::VerifyingKey,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> KmsResult<()> {
    let signature =
        ed25519_dalek::Signature::from_slice(signature).map_err(|_| invalid_signature())?;
    match ed25519_input(algorithm, message_type, message)? {
        Ed25519Input::Pure => key.verify_strict(message, &signature),
        Ed25519Input::Prehashed => {
            key.verify_prehashed_strict(Sha512::new_with_prefix(message), None, &signature)
        }
    }
    .map_err(|_| invalid_signature())
}

/// How an Ed25519 algorithm reads its message.
enum Ed25519Input {
    /// The message itself (pure Ed25519).
    Pure,
    /// A 64-byte SHA-512 digest, signed with Ed25519ph.
    Prehashed,
}

/// The pairing AWS enforces: ED25519_SHA_512 with RAW, ED25519_PH_SHA_512 with a 64-byte DIGEST.
fn ed25519_input(
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> KmsResult<Ed25519Input> {
    match (algorithm, message_type) {
        (SigningAlgorithm::Ed25519Sha512, MessageType::Raw) => Ok(Ed25519Input::Pure),
        (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) if message.len() == 64 => {
            Ok(Ed25519Input::Prehashed)
        }
        (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) => Err(KmsError::invalid(
            "Message",
            format!(
                "An ED25519_PH_SHA_512 digest is 64 bytes, not {}",
                message.len()
            ),
        )),
        (SigningAlgorithm::Ed25519Sha512, _) => Err(KmsError::invalid(
            "MessageType",
            format!("ED25519_SHA_512 requires MessageType RAW, not {message_type}"),
        )),
        (SigningAlgorithm::Ed25519PhSha512, _) => Err(KmsError::invalid(
            "MessageType",
            format!("ED25519_PH_SHA_512 requires MessageType DIGEST, not {message_type}"),
        )),
        (other, _) => Err(KmsError::InvalidKeyUsage(format!(
            "Signing algorithm {other} is not compatible with a ECC_NIST_EDWARDS25519 key"
        ))),
    }
}

fn hmac_tag(algorithm: MacAlgorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    let hash = match algorithm {
        MacAlgorithm::HmacSha224 => Hash::Sha224,
        MacAlgorithm::HmacSha256 => Hash::Sha256,
        MacAlgorithm::HmacSha384 => Hash::Sha384,
        MacAlgorithm::HmacSha512 => Hash::Sha512,
    };
    provider::hmac(hash, key, &[message])
}

/// The padding and hash of an RSA signing algorithm.
fn rsa_scheme(algorithm: SigningAlgorithm) -> Option<(RsaPadding, Hash)> {
    use SigningAlgorithm::*;
    Some(match algorithm {
        RsassaPssSha256 => (RsaPadding::Pss, Hash::Sha256),
        RsassaPssSha384 => (RsaPadding::Pss, Hash::Sha384),
        RsassaPssSha512 => (RsaPadding::Pss, Hash::Sha512),
        RsassaPkcs1V15Sha256 => (RsaPadding::Pkcs1v15, Hash::Sha256),
        RsassaPkcs1V15Sha384 => (RsaPadding::Pkcs1v15, Hash::Sha384),
        RsassaPkcs1V15Sha512 => (RsaPadding::Pkcs1v15, Hash::Sha512),
        _ => return None,
    })
}

/// The ML-DSA operations, monomorphised per parameter set.
trait MlDsaOps {
    fn public_key_der(&self) -> KmsResult<Vec<u8>>;
    fn sign(&self, message_type: MessageType, message: &[u8]) -> KmsResult<Vec<u8>>;
    fn encoded_public_key(&self) -> Vec<u8>;
}

impl<P: ml_dsa::MlDsaParams> MlDsaOps for ml_dsa::SigningKey<P>
where
    ml_dsa::VerifyingKey<P>: EncodePublicKey,
{
    fn public_key_der(&self) -> KmsResult<Vec<u8>> {
        ml_dsa::signature::Keypair::verifying_key(self)
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| internal("encoding an ML-DSA public key")(e.to_string()))
    }

    fn sign(&self, message_type: MessageType, message: &[u8]) -> KmsResult<Vec<u8>> {
        let signature = match message_type {
            MessageType::Raw => self
                .expanded_key()
                .sign_randomized(message, &[], &mut rng())
                .map_err(|e| KmsError::invalid("Message", format!("cannot sign: {e}")))?,
            MessageType::ExternalMu => {
                let mu = external_mu(message)?;
                self.expanded_key()
                    .sign_mu_randomized(&mu, &mut rng())
                    .map_err(|e| KmsError::invalid("Message", format!("cannot sign: {e}")))?
            }
            MessageType::Digest => {
                return Err(KmsError::invalid(
                    "MessageType",
                    "ML-DSA keys sign RAW messages or an EXTERNAL_MU, not a DIGEST".into(),
                ));
            }
        };
        Ok(signature.encode().to_vec())
    }

    fn encoded_public_key(&self) -> Vec<u8> {
        ml_dsa::signature::Keypair::verifying_key(self)
            .encode()
            .to_vec()
    }
}

/// Verifies an ML-DSA signature (pure, empty context, or over an external mu) with an encoded
/// verifying key of `spec`'s parameter set.
fn ml_dsa_verify(
    spec: KeySpec,
    encoded_key: &[u8],
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> KmsResult<()> {
    fn check<P: ml_dsa::MlDsaParams>(
        encoded_key: &[u8],
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> KmsResult<()> {
        let key = ml_dsa::EncodedVerifyingKey::<P>::try_from(encoded_key).map_err(|_| {
            KmsError::invalid("PublicKey", "not an ML-DSA public key of this size".into())
        })?;
        let key = ml_dsa::VerifyingKey::<P>::decode(&key);
        let encoded =
            ml_dsa::EncodedSignature::<P>::try_from(signature).map_err(|_| invalid_signature())?;
        let signature = ml_dsa::Signature::<P>::decode(&encoded).ok_or_else(invalid_signature)?;
        let valid = match message_type {
            MessageType::Raw => key.verify_with_context(message, &[], &signature),
            MessageType::ExternalMu => key.verify_mu(&external_mu(message)?, &signature),
            MessageType::Digest => {
                return Err(KmsError::invalid(
                    "MessageType",
                    "ML-DSA keys verify RAW messages or an EXTERNAL_MU, not a DIGEST".into(),
                ));
            }
        };
        if valid {
            Ok(())
        } else {
            Err(invalid_signature())
        }
    }
    match spec {
        KeySpec::MlDsa44 => check::<ml_dsa::MlDsa44>(encoded_key, message_type, message, signature),
        KeySpec::MlDsa65 => check::<ml_dsa::MlDsa65>(encoded_key, message_type, message, signature),
        KeySpec::MlDsa87 => check::<ml_dsa::MlDsa87>(encoded_key, message_type, message, signature),
        other => Err(usage_error(other, "verify ML-DSA signatures")),
    }
}

/// ML-DSA's 64-byte message representative.
type Mu = ml_dsa::common::array::Array<u8, ml_dsa::common::typenum::U64>;

fn external_mu(message: &[u8]) -> KmsResult<Mu> {
    Mu::try_from(message).map_err(|_| {
        KmsError::invalid(
            "Message",
            format!("An EXTERNAL_MU is exactly 64 bytes, not {}", message.len()),
        )
    })
}

macro_rules! ml_kem_ops {
    ($($params:ty),+) => {$(
        impl MlKemOps for ml_kem::DecapsulationKey<$params> {
            fn public_key_der(&self) -> KmsResult<Vec<u8>> {
                use ml_kem::pkcs8::EncodePublicKey;
                self.encapsulation_key()
                    .to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .map_err(|e| internal("encoding an ML-KEM public key")(e.to_string()))
            }

            fn encoded_public_key(&self) -> Vec<u8> {
                ml_kem::KeyExport::to_bytes(self.encapsulation_key()).to_vec()
            }

            fn decapsulate(&self, ciphertext: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>> {
                let shared = ml_kem::Decapsulate::decapsulate_slice(self, ciphertext)
                    .map_err(|_| KmsError::invalid_ciphertext())?;
                Ok(Zeroizing::new(shared.to_vec()))
            }

            fn private_key_pkcs8(&self) -> Result<rsa::pkcs8::SecretDocument, rsa::pkcs8::Error> {
                use ml_kem::pkcs8::EncodePrivateKey;
                self.to_pkcs8_der()
            }
        }
    )+};
}

ml_kem_ops!(ml_kem::MlKem512, ml_kem::MlKem768, ml_kem::MlKem1024);

/// The ML-KEM operations, monomorphised per parameter set.
trait MlKemOps {
    fn public_key_der(&self) -> KmsResult<Vec<u8>>;
    fn encoded_public_key(&self) -> Vec<u8>;
    fn decapsulate(&self, ciphertext: &[u8]) -> KmsResult<Zeroizing<Vec<u8>>>;
    fn private_key_pkcs8(&self) -> Result<rsa::pkcs8::SecretDocument, rsa::pkcs8::Error>;
}

/// An ML-KEM decapsulation key of one of the three parameter sets.
enum MlKemKey {
    P512(Box<ml_kem::DecapsulationKey<ml_kem::MlKem512>>),
    P768(Box<ml_kem::DecapsulationKey<ml_kem::MlKem768>>),
    P1024(Box<ml_kem::DecapsulationKey<ml_kem::MlKem1024>>),
}

/// An ML-DSA signing key of one of the three parameter sets (zeroized on drop by the crate).
enum MlDsaKey {
    P44(Box<ml_dsa::SigningKey<ml_dsa::MlDsa44>>),
    P65(Box<ml_dsa::SigningKey<ml_dsa::MlDsa65>>),
    P87(Box<ml_dsa::SigningKey<ml_dsa::MlDsa87>>),
}

#[cfg(test)]
#[path = "asymmetric_tests.rs"]
mod tests;
