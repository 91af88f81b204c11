//! The AWS-LC provider (feature `aws-lc-rs`): the same primitives through `aws-lc-rs`, whose
//! AES-GCM and P-256 use AWS-LC's assembly (AES-NI/VAES, CLMUL), whose RSA is constant-time
//! without blinding tricks of its own, and whose randomness is AWS-LC's DRBG seeded from the
//! operating system. ECDH on secp256k1 is the one operation aws-lc-rs lacks here: it goes
//! through the RustCrypto provider, the key crossing as PKCS#8.

use std::sync::OnceLock;

use aws_lc_rs::digest::{self as lc_digest, Digest};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::{self, KeyPair as _};
use aws_lc_rs::{aead, agreement, hmac as lc_hmac, rand, rsa as lc_rsa};
use zeroize::Zeroizing;

use super::{Curve, Hash, RsaPadding, is_subject_public_key_info, rustcrypto};
use crate::asymmetric::OaepHash;
use crate::{NONCE_LEN, TAG_LEN};

/// The provider's name, as benchmarks print it.
pub(crate) const NAME: &str = "aws-lc-rs";

/// Fills `buf` from AWS-LC's DRBG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), String> {
    rand::fill(buf).map_err(|_| "AWS-LC's random generator failed".to_string())
}

fn digest_algorithm(hash: Hash) -> &'static lc_digest::Algorithm {
    match hash {
        Hash::Sha224 => &lc_digest::SHA224,
        Hash::Sha256 => &lc_digest::SHA256,
        Hash::Sha384 => &lc_digest::SHA384,
        Hash::Sha512 => &lc_digest::SHA512,
    }
}

/// The hash of the concatenated `parts`.
pub(crate) fn digest(hash: Hash, parts: &[&[u8]]) -> Vec<u8> {
    let mut context = lc_digest::Context::new(digest_algorithm(hash));
    for part in parts {
        context.update(part);
    }
    context.finish().as_ref().to_vec()
}

/// A caller's digest as AWS-LC's type; `None` when its length is not `hash`'s.
fn imported_digest(hash: Hash, digest: &[u8]) -> Option<Digest> {
    Digest::import_less_safe(digest, digest_algorithm(hash)).ok()
}

/// HMAC (RFC 2104) of the concatenated `parts` under `key`.
pub(crate) fn hmac(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let algorithm = match hash {
        Hash::Sha224 => lc_hmac::HMAC_SHA224,
        Hash::Sha256 => lc_hmac::HMAC_SHA256,
        Hash::Sha384 => lc_hmac::HMAC_SHA384,
        Hash::Sha512 => lc_hmac::HMAC_SHA512,
    };
    let key = lc_hmac::Key::new(algorithm, key);
    let mut context = lc_hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    context.sign().as_ref().to_vec()
}

/// AES-GCM under a 128- or 256-bit key; AWS-LC wipes the key schedule when it is freed.
pub struct AesGcm(aead::LessSafeKey);

impl AesGcm {
    /// The cipher for a 16- or 32-byte key; `None` for any other length.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        let algorithm = match key.len() {
            16 => &aead::AES_128_GCM,
            32 => &aead::AES_256_GCM,
            _ => return None,
        };
        aead::UnboundKey::new(algorithm, key)
            .ok()
            .map(|k| AesGcm(aead::LessSafeKey::new(k)))
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let tag = self
            .0
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                in_out,
            )
            .map_err(|_| ())?;
        tag.as_ref().try_into().map_err(|_| ())
    }

    /// Checks `tag` and decrypts `in_out` in place; on failure `in_out` holds no plaintext the
    /// caller may use (it must be discarded).
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ()> {
        self.0
            .open_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(*nonce),
                aead::Aad::from(aad),
                tag,
                in_out,
            )
            .map(|_| ())
            .map_err(|_| ())
    }
}

fn ecdsa_signing(curve: Curve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
    }
}

fn ecdsa_verification(curve: Curve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
    }
}

/// An ECDSA/ECDH private key, freed (and wiped) by AWS-LC.
pub struct EcPrivateKey {
    curve: Curve,
    key: signature::EcdsaKeyPair,
}

impl EcPrivateKey {
    /// A fresh key on `curve`.
    pub(crate) fn generate(curve: Curve) -> Result<Self, String> {
        signature::EcdsaKeyPair::generate(ecdsa_signing(curve))
            .map(|key| EcPrivateKey { curve, key })
            .map_err(|e| e.to_string())
    }

    /// A key on `curve` from an unencrypted PKCS#8 document.
    pub(crate) fn from_pkcs8(curve: Curve, der: &[u8]) -> Result<Self, String> {
        let algorithm = ecdsa_signing(curve);
        let read =
            signature::EcdsaKeyPair::from_pkcs8(algorithm, der).map_err(|e| e.to_string())?;
        // AWS-LC writes a key back without its public key when it was read without one; the
        // stored form always carries it (as RustCrypto writes it), so the key is rebuilt from
        // its two halves, which AWS-LC then writes in full.
        let private: EcPrivateKeyBin<'static> = read
            .private_key()
            .as_be_bytes()
            .map_err(|e| e.to_string())?;
        let private = Zeroizing::new(private.as_ref().to_vec());
        signature::EcdsaKeyPair::from_private_key_and_public_key(
            algorithm,
            &private,
            read.public_key().as_ref(),
        )
        .map(|key| EcPrivateKey { curve, key })
        .map_err(|e| e.to_string())
    }

    /// The curve of the key.
    pub(crate) fn curve(&self) -> Curve {
        self.curve
    }

    /// The key as PKCS#8 v1 DER (RFC 5915 ECPrivateKey with its public key, no parameters).
    pub(crate) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        self.key
            .to_pkcs8v1()
            .map(|d| Zeroizing::new(d.as_ref().to_vec()))
            .map_err(|e| e.to_string())
    }

    /// The public half.
    pub(crate) fn public_key(&self) -> Result<EcPublicKey, String> {
        let der: PublicKeyX509Der<'static> =
            self.key.public_key().as_der().map_err(|e| e.to_string())?;
        EcPublicKey::from_der(self.curve, der.as_ref())
    }

    /// A DER-encoded ECDSA signature of `digest` (the curve's hash of the message).
    pub(crate) fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, String> {
        let digest = imported_digest(self.curve.hash(), digest)
            .ok_or_else(|| "a digest of the wrong length".to_string())?;
        self.key
            .sign_digest(&digest)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| e.to_string())
    }

    /// ECDH with a peer's DER SubjectPublicKeyInfo on the same curve: the raw shared
    /// x-coordinate, or `Err` when the peer key is not such a key.
    pub(crate) fn diffie_hellman(&self, peer_der: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
        let algorithm = match self.curve {
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
            Curve::P521 => &agreement::ECDH_P521,
            Curve::Secp256k1 => {
                let pkcs8 = self.to_pkcs8().map_err(|_| ())?;
                return rustcrypto::EcPrivateKey::from_pkcs8(self.curve, &pkcs8)
                    .map_err(|_| ())?
                    .diffie_hellman(peer_der);
            }
        };
        if !is_subject_public_key_info(peer_der) {
            return Err(());
        }
        let pkcs8 = self.to_pkcs8().map_err(|_| ())?;
        let private =
            agreement::PrivateKey::from_private_key_der(algorithm, &pkcs8).map_err(|_| ())?;
        let peer = agreement::UnparsedPublicKey::new(algorithm, peer_der);
        agreement::agree(&private, peer, (), |shared| {
            Ok(Zeroizing::new(shared.to_vec()))
        })
    }
}

/// An ECDSA/ECDH public key.
pub struct EcPublicKey {
    curve: Curve,
    key: signature::ParsedPublicKey,
}

impl EcPublicKey {
    /// A key on `curve` from a DER SubjectPublicKeyInfo.
    pub(crate) fn from_der(curve: Curve, der: &[u8]) -> Result<Self, String> {
        if !is_subject_public_key_info(der) {
            return Err("not a SubjectPublicKeyInfo".into());
        }
        signature::ParsedPublicKey::new(ecdsa_verification(curve), der)
            .map(|key| EcPublicKey { curve, key })
            .map_err(|e| e.to_string())
    }

    /// The curve of the key.
    pub(crate) fn curve(&self) -> Curve {
        self.curve
    }

    /// The key as DER SubjectPublicKeyInfo (uncompressed point, named curve).
    pub(crate) fn to_der(&self) -> Result<Vec<u8>, String> {
        self.key
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Whether `signature` (DER) is an ECDSA signature of `digest` under this key.
    pub(crate) fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> bool {
        imported_digest(self.curve.hash(), digest)
            .is_some_and(|d| self.key.verify_digest_sig(&d, signature).is_ok())
    }
}

fn rsa_signing(padding: RsaPadding, hash: Hash) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match (padding, hash) {
        (RsaPadding::Pss, Hash::Sha256) => &signature::RSA_PSS_SHA256,
        (RsaPadding::Pss, Hash::Sha384) => &signature::RSA_PSS_SHA384,
        (RsaPadding::Pss, Hash::Sha512) => &signature::RSA_PSS_SHA512,
        (RsaPadding::Pkcs1v15, Hash::Sha256) => &signature::RSA_PKCS1_SHA256,
        (RsaPadding::Pkcs1v15, Hash::Sha384) => &signature::RSA_PKCS1_SHA384,
        (RsaPadding::Pkcs1v15, Hash::Sha512) => &signature::RSA_PKCS1_SHA512,
        (_, Hash::Sha224) => return None,
    })
}

fn rsa_verification(padding: RsaPadding, hash: Hash) -> Option<&'static signature::RsaParameters> {
    Some(match (padding, hash) {
        (RsaPadding::Pss, Hash::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (RsaPadding::Pss, Hash::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
        (RsaPadding::Pss, Hash::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
        (RsaPadding::Pkcs1v15, Hash::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (RsaPadding::Pkcs1v15, Hash::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (RsaPadding::Pkcs1v15, Hash::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (_, Hash::Sha224) => return None,
    })
}

fn oaep_algorithm(hash: OaepHash) -> &'static lc_rsa::OaepAlgorithm {
    match hash {
        OaepHash::Sha1 => &lc_rsa::OAEP_SHA1_MGF1SHA1,
        OaepHash::Sha256 => &lc_rsa::OAEP_SHA256_MGF1SHA256,
    }
}

/// An RSA private key, freed (and wiped) by AWS-LC. The decrypting form is parsed from the same
/// PKCS#8 on first use: AWS-LC types keys for signing and for decryption apart.
pub struct RsaPrivateKey {
    key: signature::RsaKeyPair,
    decrypting: OnceLock<Option<lc_rsa::OaepPrivateDecryptingKey>>,
}

impl RsaPrivateKey {
    fn new(key: signature::RsaKeyPair) -> Self {
        RsaPrivateKey {
            key,
            decrypting: OnceLock::new(),
        }
    }

    /// A fresh key with a modulus of `bits` bits and exponent 65537.
    pub(crate) fn generate(bits: usize) -> Result<Self, String> {
        let size = match bits {
            2048 => lc_rsa::KeySize::Rsa2048,
            3072 => lc_rsa::KeySize::Rsa3072,
            4096 => lc_rsa::KeySize::Rsa4096,
            other => return Err(format!("no {other}-bit RSA keys")),
        };
        signature::RsaKeyPair::generate(size)
            .map(Self::new)
            .map_err(|e| e.to_string())
    }

    /// A key from an unencrypted PKCS#8 document.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        signature::RsaKeyPair::from_pkcs8(der)
            .map(Self::new)
            .map_err(|e| e.to_string())
    }

    /// The key as PKCS#8 v1 DER.
    pub(crate) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        let der: Pkcs8V1Der<'static> = self.key.as_der().map_err(|e| e.to_string())?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    /// The modulus length in bits, rounded up to whole bytes.
    pub(crate) fn bits(&self) -> usize {
        self.key.public_modulus_len() * 8
    }

    /// The public half.
    pub(crate) fn public_key(&self) -> Result<RsaPublicKey, String> {
        let der: PublicKeyX509Der<'static> =
            self.key.public_key().as_der().map_err(|e| e.to_string())?;
        RsaPublicKey::from_der(der.as_ref())
    }

    /// A signature of `digest` (of `hash`) with `padding`.
    pub(crate) fn sign_digest(
        &self,
        padding: RsaPadding,
        hash: Hash,
        digest: &[u8],
    ) -> Result<Vec<u8>, String> {
        let encoding =
            rsa_signing(padding, hash).ok_or_else(|| format!("no RSA signatures with {hash:?}"))?;
        let digest = imported_digest(hash, digest)
            .ok_or_else(|| "a digest of the wrong length".to_string())?;
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign_digest(encoding, &digest, &mut signature)
            .map_err(|e| e.to_string())?;
        Ok(signature)
    }

    /// RSAES-OAEP decryption (no label), constant-time in AWS-LC; `None` for any failure.
    pub(crate) fn oaep_decrypt(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let key = self
            .decrypting
            .get_or_init(|| {
                let pkcs8 = self.to_pkcs8().ok()?;
                lc_rsa::PrivateDecryptingKey::from_pkcs8(&pkcs8)
                    .ok()
                    .and_then(|k| lc_rsa::OaepPrivateDecryptingKey::new(k).ok())
            })
            .as_ref()?;
        let mut plaintext = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let len = key
            .decrypt(oaep_algorithm(hash), ciphertext, &mut plaintext, None)
            .ok()?
            .len();
        plaintext.truncate(len);
        Some(plaintext)
    }
}

/// An RSA public key.
pub struct RsaPublicKey {
    key: lc_rsa::PublicEncryptingKey,
    der: Vec<u8>,
}

impl RsaPublicKey {
    /// A key from a DER SubjectPublicKeyInfo.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        let key = lc_rsa::PublicEncryptingKey::from_der(der).map_err(|e| e.to_string())?;
        let der = key.as_der().map_err(|e| e.to_string())?.as_ref().to_vec();
        Ok(RsaPublicKey { key, der })
    }

    /// The key as DER SubjectPublicKeyInfo.
    pub(crate) fn to_der(&self) -> Result<Vec<u8>, String> {
        Ok(self.der.clone())
    }

    /// The modulus length in bits, rounded up to whole bytes.
    pub(crate) fn bits(&self) -> usize {
        self.key.key_size_bytes() * 8
    }

    /// Whether `signature` is a signature of `digest` (of `hash`) with `padding`.
    pub(crate) fn verify_digest(
        &self,
        padding: RsaPadding,
        hash: Hash,
        digest: &[u8],
        signature: &[u8],
    ) -> bool {
        let (Some(parameters), Some(digest)) = (
            rsa_verification(padding, hash),
            imported_digest(hash, digest),
        ) else {
            return false;
        };
        signature::UnparsedPublicKey::new(parameters, &self.der)
            .verify_digest(&digest, signature)
            .is_ok()
    }

    /// RSAES-OAEP encryption (no label).
    pub(crate) fn oaep_encrypt(&self, hash: OaepHash, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let key =
            lc_rsa::OaepPublicEncryptingKey::new(self.key.clone()).map_err(|e| e.to_string())?;
        let mut ciphertext = vec![0u8; key.ciphertext_size()];
        let len = key
            .encrypt(oaep_algorithm(hash), plaintext, &mut ciphertext, None)
            .map_err(|e| e.to_string())?
            .len();
        ciphertext.truncate(len);
        Ok(ciphertext)
    }
}
