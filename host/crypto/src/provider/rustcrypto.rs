//! The RustCrypto provider, the default: pure Rust (`aes-gcm`, `sha2`, `hmac`, `p256`, `p384`,
//! `p521`, `k256`, `rsa`) and the operating system's CSPRNG through `getrandom`. RSA private-key
//! operations are blinded (the `rsa` crate's mitigation of RUSTSEC-2023-0071, not a cure).

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use p256::elliptic_curve::Generate;
use rand_core::UnwrapErr;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, Pkcs1v15Sign, Pss};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::{Curve, Hash, RsaPadding};
use crate::asymmetric::OaepHash;
use crate::{NONCE_LEN, TAG_LEN};

/// The provider's name, as benchmarks print it.
pub(crate) const NAME: &str = "RustCrypto";

/// The operating system's CSPRNG, for the crates that take an RNG.
fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| e.to_string())
}

/// The hash of the concatenated `parts`.
pub(crate) fn digest(hash: Hash, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = D::new();
        for part in parts {
            h.update(part);
        }
        h.finalize().to_vec()
    }
    match hash {
        Hash::Sha224 => run::<Sha224>(parts),
        Hash::Sha256 => run::<Sha256>(parts),
        Hash::Sha384 => run::<Sha384>(parts),
        Hash::Sha512 => run::<Sha512>(parts),
    }
}

/// HMAC (RFC 2104) of the concatenated `parts` under `key`.
pub(crate) fn hmac(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    macro_rules! tag {
        ($hash:ty) => {{
            let mut mac = <hmac::Hmac<$hash> as KeyInit>::new_from_slice(key)
                .expect("HMAC takes keys of any length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match hash {
        Hash::Sha224 => tag!(Sha224),
        Hash::Sha256 => tag!(Sha256),
        Hash::Sha384 => tag!(Sha384),
        Hash::Sha512 => tag!(Sha512),
    }
}

/// AES-GCM under a 128- or 256-bit key; the key schedule is zeroized when dropped.
pub enum AesGcm {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl AesGcm {
    /// The cipher for a 16- or 32-byte key; `None` for any other length.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        match key.len() {
            16 => Aes128Gcm::new_from_slice(key)
                .ok()
                .map(|c| AesGcm::Aes128(Box::new(c))),
            32 => Aes256Gcm::new_from_slice(key)
                .ok()
                .map(|c| AesGcm::Aes256(Box::new(c))),
            _ => None,
        }
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let nonce = Nonce::from(*nonce);
        let tag = match self {
            AesGcm::Aes128(c) => c.encrypt_inout_detached(&nonce, aad, in_out.into()),
            AesGcm::Aes256(c) => c.encrypt_inout_detached(&nonce, aad, in_out.into()),
        }
        .map_err(|_| ())?;
        Ok(tag.into())
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
        let nonce = Nonce::from(*nonce);
        let tag = Tag::from(*tag);
        match self {
            AesGcm::Aes128(c) => c.decrypt_inout_detached(&nonce, aad, in_out.into(), &tag),
            AesGcm::Aes256(c) => c.decrypt_inout_detached(&nonce, aad, in_out.into(), &tag),
        }
        .map_err(|_| ())
    }
}

/// An ECDSA/ECDH private key (zeroized on drop by the curve crates).
pub enum EcPrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Secp256k1(k256::ecdsa::SigningKey),
}

/// Runs `$body` with `$key` bound to the curve crate's key and `$curve` to the crate itself.
macro_rules! on_curve {
    ($value:expr, $enum:ident, |$key:ident, $curve:ident| $body:expr) => {
        match $value {
            $enum::P256($key) => {
                use p256 as $curve;
                $body
            }
            $enum::P384($key) => {
                use p384 as $curve;
                $body
            }
            $enum::P521($key) => {
                use p521 as $curve;
                $body
            }
            $enum::Secp256k1($key) => {
                use k256 as $curve;
                $body
            }
        }
    };
}

impl EcPrivateKey {
    /// A fresh key on `curve`.
    pub(crate) fn generate(curve: Curve) -> Result<Self, String> {
        Ok(match curve {
            Curve::P256 => {
                EcPrivateKey::P256(p256::ecdsa::SigningKey::generate_from_rng(&mut rng()))
            }
            Curve::P384 => {
                EcPrivateKey::P384(p384::ecdsa::SigningKey::generate_from_rng(&mut rng()))
            }
            Curve::P521 => {
                EcPrivateKey::P521(p521::ecdsa::SigningKey::generate_from_rng(&mut rng()))
            }
            Curve::Secp256k1 => {
                EcPrivateKey::Secp256k1(k256::ecdsa::SigningKey::generate_from_rng(&mut rng()))
            }
        })
    }

    /// A key on `curve` from an unencrypted PKCS#8 document.
    pub(crate) fn from_pkcs8(curve: Curve, der: &[u8]) -> Result<Self, String> {
        let e = |e: rsa::pkcs8::Error| e.to_string();
        Ok(match curve {
            Curve::P256 => {
                EcPrivateKey::P256(p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(e)?)
            }
            Curve::P384 => {
                EcPrivateKey::P384(p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(e)?)
            }
            Curve::P521 => {
                EcPrivateKey::P521(p521::ecdsa::SigningKey::from_pkcs8_der(der).map_err(e)?)
            }
            Curve::Secp256k1 => {
                EcPrivateKey::Secp256k1(k256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(e)?)
            }
        })
    }

    /// The curve of the key.
    pub(crate) fn curve(&self) -> Curve {
        match self {
            EcPrivateKey::P256(_) => Curve::P256,
            EcPrivateKey::P384(_) => Curve::P384,
            EcPrivateKey::P521(_) => Curve::P521,
            EcPrivateKey::Secp256k1(_) => Curve::Secp256k1,
        }
    }

    /// The key as PKCS#8 v1 DER (RFC 5915 ECPrivateKey with its public key, no parameters).
    pub(crate) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        match self {
            EcPrivateKey::P256(key) => key.to_pkcs8_der(),
            EcPrivateKey::P384(key) => key.to_pkcs8_der(),
            EcPrivateKey::P521(key) => key.to_pkcs8_der(),
            EcPrivateKey::Secp256k1(key) => key.to_pkcs8_der(),
        }
        .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
        .map_err(|e| e.to_string())
    }

    /// The public half.
    pub(crate) fn public_key(&self) -> Result<EcPublicKey, String> {
        Ok(match self {
            EcPrivateKey::P256(k) => EcPublicKey::P256(p256::PublicKey::from(k.verifying_key())),
            EcPrivateKey::P384(k) => EcPublicKey::P384(p384::PublicKey::from(k.verifying_key())),
            EcPrivateKey::P521(k) => EcPublicKey::P521(p521::PublicKey::from(k.verifying_key())),
            EcPrivateKey::Secp256k1(k) => {
                EcPublicKey::Secp256k1(k256::PublicKey::from(k.verifying_key()))
            }
        })
    }

    /// A DER-encoded ECDSA signature of `digest` (the curve's hash of the message).
    pub(crate) fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, String> {
        on_curve!(self, EcPrivateKey, |key, c| {
            use c::ecdsa::signature::hazmat::PrehashSigner;
            let signature: c::ecdsa::Signature =
                key.sign_prehash(digest).map_err(|e| e.to_string())?;
            Ok(signature.to_der().as_bytes().to_vec())
        })
    }

    /// ECDH with a peer's DER SubjectPublicKeyInfo on the same curve: the raw shared
    /// x-coordinate, or `Err` when the peer key is not such a key.
    pub(crate) fn diffie_hellman(&self, peer_der: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
        on_curve!(self, EcPrivateKey, |key, c| {
            let peer = c::PublicKey::from_public_key_der(peer_der).map_err(|_| ())?;
            let shared = c::ecdh::diffie_hellman(key.as_nonzero_scalar(), peer.as_affine());
            Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
        })
    }
}

/// An ECDSA/ECDH public key.
pub enum EcPublicKey {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
    Secp256k1(k256::PublicKey),
}

impl EcPublicKey {
    /// A key on `curve` from a DER SubjectPublicKeyInfo.
    pub(crate) fn from_der(curve: Curve, der: &[u8]) -> Result<Self, String> {
        let e = |e: rsa::pkcs8::spki::Error| e.to_string();
        Ok(match curve {
            Curve::P256 => EcPublicKey::P256(p256::PublicKey::from_public_key_der(der).map_err(e)?),
            Curve::P384 => EcPublicKey::P384(p384::PublicKey::from_public_key_der(der).map_err(e)?),
            Curve::P521 => EcPublicKey::P521(p521::PublicKey::from_public_key_der(der).map_err(e)?),
            Curve::Secp256k1 => {
                EcPublicKey::Secp256k1(k256::PublicKey::from_public_key_der(der).map_err(e)?)
            }
        })
    }

    /// The curve of the key.
    pub(crate) fn curve(&self) -> Curve {
        match self {
            EcPublicKey::P256(_) => Curve::P256,
            EcPublicKey::P384(_) => Curve::P384,
            EcPublicKey::P521(_) => Curve::P521,
            EcPublicKey::Secp256k1(_) => Curve::Secp256k1,
        }
    }

    /// The key as DER SubjectPublicKeyInfo (uncompressed point, named curve).
    pub(crate) fn to_der(&self) -> Result<Vec<u8>, String> {
        match self {
            EcPublicKey::P256(key) => key.to_public_key_der(),
            EcPublicKey::P384(key) => key.to_public_key_der(),
            EcPublicKey::P521(key) => key.to_public_key_der(),
            EcPublicKey::Secp256k1(key) => key.to_public_key_der(),
        }
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| e.to_string())
    }

    /// Whether `signature` (DER) is an ECDSA signature of `digest` under this key.
    pub(crate) fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> bool {
        macro_rules! verify {
            ($curve:ident, $key:expr, $normalize:expr) => {{
                use $curve::ecdsa::signature::hazmat::PrehashVerifier;
                $curve::ecdsa::Signature::from_der(signature).is_ok_and(|s| {
                    $curve::ecdsa::VerifyingKey::from(*$key)
                        .verify_prehash(digest, &$normalize(s))
                        .is_ok()
                })
            }};
        }
        match self {
            EcPublicKey::P256(key) => verify!(p256, key, |s| s),
            EcPublicKey::P384(key) => verify!(p384, key, |s| s),
            EcPublicKey::P521(key) => verify!(p521, key, |s| s),
            // k256 verifies only low-S signatures (Bitcoin's rule); ECDSA as AWS and
            // Wycheproof define it accepts both, so the high-S form is normalised first.
            EcPublicKey::Secp256k1(key) => {
                verify!(k256, key, |s: k256::ecdsa::Signature| s.normalize_s())
            }
        }
    }
}

/// An RSA private key.
pub struct RsaPrivateKey(Box<rsa::RsaPrivateKey>);

impl RsaPrivateKey {
    /// A fresh key with a modulus of `bits` bits and exponent 65537.
    pub(crate) fn generate(bits: usize) -> Result<Self, String> {
        rsa::RsaPrivateKey::new(&mut rng(), bits)
            .map(|k| RsaPrivateKey(Box::new(k)))
            .map_err(|e| e.to_string())
    }

    /// A key from an unencrypted PKCS#8 document.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        rsa::RsaPrivateKey::from_pkcs8_der(der)
            .map(|k| RsaPrivateKey(Box::new(k)))
            .map_err(|e| e.to_string())
    }

    /// The key as PKCS#8 v1 DER.
    pub(crate) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        self.0
            .to_pkcs8_der()
            .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|e| e.to_string())
    }

    /// The modulus length in bits, rounded up to whole bytes.
    pub(crate) fn bits(&self) -> usize {
        self.0.size() * 8
    }

    /// The public half.
    pub(crate) fn public_key(&self) -> Result<RsaPublicKey, String> {
        Ok(RsaPublicKey(rsa::RsaPublicKey::from(self.0.as_ref())))
    }

    /// A signature of `digest` (of `hash`) with `padding`.
    pub(crate) fn sign_digest(
        &self,
        padding: RsaPadding,
        hash: Hash,
        digest: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut rng = rng();
        let key = self.0.as_ref();
        match (padding, hash) {
            (RsaPadding::Pss, Hash::Sha224) => {
                key.sign_with_rng(&mut rng, Pss::<Sha224>::new(), digest)
            }
            (RsaPadding::Pss, Hash::Sha256) => {
                key.sign_with_rng(&mut rng, Pss::<Sha256>::new(), digest)
            }
            (RsaPadding::Pss, Hash::Sha384) => {
                key.sign_with_rng(&mut rng, Pss::<Sha384>::new(), digest)
            }
            (RsaPadding::Pss, Hash::Sha512) => {
                key.sign_with_rng(&mut rng, Pss::<Sha512>::new(), digest)
            }
            (RsaPadding::Pkcs1v15, hash) => key.sign_with_rng(&mut rng, pkcs1v15(hash), digest),
        }
        .map_err(|e| e.to_string())
    }

    /// Blinded RSAES-OAEP decryption (no label); `None` for any failure.
    pub(crate) fn oaep_decrypt(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let key = self.0.as_ref();
        match hash {
            OaepHash::Sha1 => {
                key.decrypt_blinded(&mut rng(), Oaep::<sha1::Sha1>::new(), ciphertext)
            }
            OaepHash::Sha256 => key.decrypt_blinded(&mut rng(), Oaep::<Sha256>::new(), ciphertext),
        }
        .ok()
        .map(Zeroizing::new)
    }
}

fn pkcs1v15(hash: Hash) -> Pkcs1v15Sign {
    match hash {
        Hash::Sha224 => Pkcs1v15Sign::new::<Sha224>(),
        Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

/// An RSA public key.
pub struct RsaPublicKey(rsa::RsaPublicKey);

impl RsaPublicKey {
    /// A key from a DER SubjectPublicKeyInfo.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        rsa::RsaPublicKey::from_public_key_der(der)
            .map(RsaPublicKey)
            .map_err(|e| e.to_string())
    }

    /// The key as DER SubjectPublicKeyInfo.
    pub(crate) fn to_der(&self) -> Result<Vec<u8>, String> {
        self.0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| e.to_string())
    }

    /// The modulus length in bits, rounded up to whole bytes.
    pub(crate) fn bits(&self) -> usize {
        self.0.size() * 8
    }

    /// Whether `signature` is a signature of `digest` (of `hash`) with `padding`.
    pub(crate) fn verify_digest(
        &self,
        padding: RsaPadding,
        hash: Hash,
        digest: &[u8],
        signature: &[u8],
    ) -> bool {
        let key = &self.0;
        match (padding, hash) {
            (RsaPadding::Pss, Hash::Sha224) => key.verify(Pss::<Sha224>::new(), digest, signature),
            (RsaPadding::Pss, Hash::Sha256) => key.verify(Pss::<Sha256>::new(), digest, signature),
            (RsaPadding::Pss, Hash::Sha384) => key.verify(Pss::<Sha384>::new(), digest, signature),
            (RsaPadding::Pss, Hash::Sha512) => key.verify(Pss::<Sha512>::new(), digest, signature),
            (RsaPadding::Pkcs1v15, hash) => key.verify(pkcs1v15(hash), digest, signature),
        }
        .is_ok()
    }

    /// RSAES-OAEP encryption (no label).
    pub(crate) fn oaep_encrypt(&self, hash: OaepHash, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        match hash {
            OaepHash::Sha1 => self
                .0
                .encrypt(&mut rng(), Oaep::<sha1::Sha1>::new(), plaintext),
            OaepHash::Sha256 => self.0.encrypt(&mut rng(), Oaep::<Sha256>::new(), plaintext),
        }
        .map_err(|e| e.to_string())
    }
}
