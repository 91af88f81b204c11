//! The primitives that both crypto providers offer, behind one interface: randomness, SHA-2 and
//! HMAC, AES-GCM, ECDSA and ECDH on the NIST curves and secp256k1, RSA signatures and RSAES-OAEP.
//! [`rustcrypto`] is always compiled (it is the default, and the cross-provider tests need it next
//! to the other); [`aws_lc`] with the feature `aws-lc-rs`, which then makes it the active one.
//!
//! Both modules expose the same items with the same signatures; the rest of the crate names only
//! [`active`] (re-exported here). Keys cross between providers only as their standard encodings
//! (PKCS#8, SubjectPublicKeyInfo), which both write byte for byte alike, so a vault written with
//! one provider opens with the other.

#[cfg(feature = "aws-lc-rs")]
pub(crate) mod aws_lc;
#[cfg_attr(feature = "aws-lc-rs", allow(dead_code))]
pub(crate) mod rustcrypto;

#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc as active;
#[cfg(not(feature = "aws-lc-rs"))]
pub(crate) use rustcrypto as active;

pub(crate) use active::{
    AesGcm, EcPrivateKey, EcPublicKey, RsaPrivateKey, RsaPublicKey, digest, fill_random, hmac,
};

/// A hash of the SHA-2 family, as signatures, MACs and digests name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// Output length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The hash of `message`, on the active provider.
    pub(crate) fn digest(self, message: &[u8]) -> Vec<u8> {
        active::digest(self, &[message])
    }
}

/// An elliptic curve of the ECC key specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
    Secp256k1,
}

impl Curve {
    /// The hash AWS pairs with the curve for ECDSA (ECDSA_SHA_256 for P-256 and secp256k1, …).
    #[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
    pub(crate) fn hash(self) -> Hash {
        match self {
            Curve::P256 | Curve::Secp256k1 => Hash::Sha256,
            Curve::P384 => Hash::Sha384,
            Curve::P521 => Hash::Sha512,
        }
    }

    /// The name used in error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::Secp256k1 => "secp256k1",
        }
    }
}

/// The padding of an RSA signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsaPadding {
    /// RSASSA-PSS, MGF1 with the message hash, salt as long as the hash.
    Pss,
    /// RSASSA-PKCS1-v1_5.
    Pkcs1v15,
}

/// Whether `der` is shaped as a SubjectPublicKeyInfo: a SEQUENCE whose first element is the
/// algorithm's SEQUENCE. AWS-LC's parsers also take a bare curve point or a PKCS#1 key, which
/// `PublicKey` must refuse as the RustCrypto provider does.
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
pub(crate) fn is_subject_public_key_info(der: &[u8]) -> bool {
    let header = match der {
        [0x30, n, ..] if *n < 0x80 => 2,
        [0x30, n @ 0x81..=0x84, ..] => 2 + usize::from(n - 0x80),
        _ => return false,
    };
    der.get(header) == Some(&0x30)
}
