//! The ciphertext blob returned by Encrypt and GenerateDataKey*, format version 1:
//!
//! ```text
//! offset  size  field
//!      0     1  magic 0x6B ('k')
//!      1     1  format version and kind: 0x01 a ciphertext (Encrypt), 0x02 a data key
//!               (GenerateDataKey*); 0x10 is added when the key id is a multi-Region one
//!      2    16  KMS key id (UUID bytes; `mrk-` ids are the same 16 bytes with the 0x10 flag)
//!     18     4  backing-key version, big-endian u32
//!     22    12  AES-GCM nonce (random)
//!     34     n  AES-256-GCM ciphertext of the plaintext
//!   34+n    16  AES-GCM tag
//! ```
//!
//! The kind lets the host keep wrapped data keys from guests that were not granted `reveal`:
//! such a guest can turn a data key into a handle but cannot `decrypt` it. ReEncrypt keeps the
//! kind. The associated data is the 34-byte header followed by the canonical encryption context, so
//! changing any header byte, the key, the version or the context makes decryption fail. Every
//! malformed, truncated, altered or foreign blob yields the same `InvalidCiphertextException`.

use zeroize::Zeroizing;

use super::{NONCE_LEN, SymmetricKey, TAG_LEN};
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{EncryptionContext, KeyId};

const MAGIC: u8 = 0x6B;
/// Added to the kind byte when the key id is a multi-Region (`mrk-`) id.
const MULTI_REGION: u8 = 0x10;
/// What a blob holds; authenticated, because it is part of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    /// Data a caller encrypted (Encrypt).
    Ciphertext,
    /// A data key the service generated (GenerateDataKey*).
    DataKey,
}

impl BlobKind {
    fn byte(self) -> u8 {
        match self {
            BlobKind::Ciphertext => 0x01,
            BlobKind::DataKey => 0x02,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(BlobKind::Ciphertext),
            0x02 => Some(BlobKind::DataKey),
            _ => None,
        }
    }
}
/// Bytes before the AES-GCM body.
pub const HEADER_LEN: usize = 2 + 16 + 4 + NONCE_LEN;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The parsed, not yet authenticated header of a ciphertext blob: which key and backing-key version
/// to try. Nothing in it can be trusted until [`open`] succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobHeader {
    /// The KMS key the blob claims to be encrypted under.
    pub key_id: KeyId,
    /// The backing-key version the blob claims.
    pub version: u32,
    /// What the blob claims to hold.
    pub kind: BlobKind,
}

/// An AES-256-GCM key that blobs are sealed with somewhere other than this process's memory: a
/// key inside an HSM, which performs each operation and never hands out its bytes.
pub trait BlobKey {
    /// AES-256-GCM of `plaintext` under `nonce`, authenticating `aad`: the ciphertext followed by
    /// the 16-byte tag.
    fn seal_gcm(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8])
    -> KmsResult<Vec<u8>>;
    /// The reverse of [`seal_gcm`](Self::seal_gcm); `InvalidCiphertext` for anything that does not
    /// authenticate.
    fn open_gcm(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>>;
}

/// The vault's own material is a blob key too: [`seal`] and [`open`] are its fast path.
impl BlobKey for SymmetricKey {
    fn seal_gcm(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> KmsResult<Vec<u8>> {
        let mut sealed = plaintext.to_vec();
        self.seal_in_place_append_tag(nonce, aad, &mut sealed, 0)?;
        Ok(sealed)
    }

    fn open_gcm(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        self.open_with_nonce(nonce, ciphertext_and_tag, aad)
    }
}

/// [`seal`] with a key held elsewhere: the same format, byte for byte.
pub fn seal_with(
    kind: BlobKind,
    key_id: &KeyId,
    version: u32,
    key: &dyn BlobKey,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> KmsResult<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    super::fill_random(&mut nonce)?;
    let mut blob = header(kind, key_id, version, &nonce);
    let sealed = key.seal_gcm(&nonce, &aad(&blob, context), plaintext)?;
    if sealed.len() != plaintext.len() + TAG_LEN {
        return Err(KmsError::Internal(format!(
            "The key store answered {} bytes for {} bytes of AES-GCM plaintext",
            sealed.len(),
            plaintext.len()
        )));
    }
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// [`open`] with a key held elsewhere.
pub fn open_with(
    blob: &[u8],
    key: &dyn BlobKey,
    context: &EncryptionContext,
) -> KmsResult<Zeroizing<Vec<u8>>> {
    parse_header(blob)?;
    let (header, body) = blob.split_at(HEADER_LEN);
    let nonce: [u8; NONCE_LEN] = header[22..].try_into().expect("12 bytes");
    key.open_gcm(&nonce, &aad(header, context), body)
}

/// The 34 bytes before the body.
fn header(kind: BlobKind, key_id: &KeyId, version: u32, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(HEADER_LEN);
    blob.push(MAGIC);
    blob.push(
        kind.byte()
            | if key_id.is_multi_region() {
                MULTI_REGION
            } else {
                0
            },
    );
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(&version.to_be_bytes());
    blob.extend_from_slice(nonce);
    blob
}

/// Encrypts `plaintext` under a backing-key version of `key_id`, binding the context.
pub fn seal(
    kind: BlobKind,
    key_id: &KeyId,
    version: u32,
    material: &SymmetricKey,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> KmsResult<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    super::fill_random(&mut nonce)?;
    let mut blob = header(kind, key_id, version, &nonce);
    blob.reserve(plaintext.len() + TAG_LEN);
    let aad = aad(&blob, context);
    blob.extend_from_slice(plaintext);
    material.seal_in_place_append_tag(&nonce, &aad, &mut blob, HEADER_LEN)?;
    Ok(blob)
}

/// Reads the header of a blob, refusing anything that is not a version-1 blob of plausible length.
pub fn parse_header(blob: &[u8]) -> KmsResult<BlobHeader> {
    if blob.len() < OVERHEAD || blob[0] != MAGIC {
        return Err(KmsError::invalid_ciphertext());
    }
    let multi_region = blob[1] & MULTI_REGION != 0;
    let kind =
        BlobKind::from_byte(blob[1] & !MULTI_REGION).ok_or_else(KmsError::invalid_ciphertext)?;
    let key_id = KeyId::from_bytes(blob[2..18].try_into().expect("16 bytes"), multi_region);
    let version = u32::from_be_bytes(blob[18..22].try_into().expect("4 bytes"));
    Ok(BlobHeader {
        key_id,
        version,
        kind,
    })
}

/// Decrypts a blob with the backing-key material its header names.
pub fn open(
    blob: &[u8],
    material: &SymmetricKey,
    context: &EncryptionContext,
) -> KmsResult<Zeroizing<Vec<u8>>> {
    open_with(blob, material, context)
}

fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&context.canonical_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (KeyId, SymmetricKey, EncryptionContext, Vec<u8>) {
        let id = KeyId::random();
        let key = SymmetricKey::generate().unwrap();
        let ctx = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
        let blob = seal(BlobKind::Ciphertext, &id, 3, &key, b"attack at dawn", &ctx).unwrap();
        (id, key, ctx, blob)
    }

    #[test]
    fn header_names_key_and_version() {
        let (id, _, _, blob) = fixture();
        assert_eq!(
            parse_header(&blob).unwrap(),
            BlobHeader {
                key_id: id,
                version: 3,
                kind: BlobKind::Ciphertext,
            }
        );
        assert_eq!(blob.len(), OVERHEAD + b"attack at dawn".len());
    }

    #[test]
    fn multi_region_ids_survive_the_header_and_the_flag_is_authenticated() {
        let id = KeyId::random_multi_region();
        let key = SymmetricKey::generate().unwrap();
        let ctx = EncryptionContext::default();
        let mut blob = seal(BlobKind::DataKey, &id, 1, &key, b"k", &ctx).unwrap();
        let header = parse_header(&blob).unwrap();
        assert_eq!((header.key_id, header.kind), (id, BlobKind::DataKey));
        assert_eq!(&*open(&blob, &key, &ctx).unwrap(), b"k");
        blob[1] &= !MULTI_REGION;
        assert!(!parse_header(&blob).unwrap().key_id.is_multi_region());
        assert!(open(&blob, &key, &ctx).is_err());
    }

    #[test]
    fn kind_is_authenticated() {
        let (id, key, ctx, _) = fixture();
        let blob = seal(BlobKind::DataKey, &id, 1, &key, &[9; 32], &ctx).unwrap();
        assert_eq!(parse_header(&blob).unwrap().kind, BlobKind::DataKey);
        let mut relabelled = blob.clone();
        relabelled[1] = BlobKind::Ciphertext.byte();
        assert!(matches!(
            open(&relabelled, &key, &ctx),
            Err(KmsError::InvalidCiphertext(_))
        ));
        relabelled[1] = 0x03;
        assert!(parse_header(&relabelled).is_err());
    }

    #[test]
    fn a_key_held_elsewhere_makes_and_opens_the_same_blobs() {
        let (id, key, context, _) = fixture();
        let elsewhere: &dyn BlobKey = &key;
        let made_elsewhere =
            seal_with(BlobKind::Ciphertext, &id, 7, elsewhere, b"secret", &context).unwrap();
        assert_eq!(made_elsewhere.len(), OVERHEAD + 6);
        assert_eq!(
            open(&made_elsewhere, &key, &context).unwrap().as_slice(),
            b"secret"
        );
        let made_here = seal(BlobKind::DataKey, &id, 7, &key, b"secret", &context).unwrap();
        assert_eq!(
            open_with(&made_here, elsewhere, &context)
                .unwrap()
                .as_slice(),
            b"secret"
        );
        let mut altered = made_here.clone();
        altered[40] ^= 1;
        assert!(matches!(
            open_with(&altered, elsewhere, &context),
            Err(KmsError::InvalidCiphertext(_))
        ));
    }

    #[test]
    fn round_trip_with_same_context() {
        let (_, key, ctx, blob) = fixture();
        assert_eq!(*open(&blob, &key, &ctx).unwrap(), b"attack at dawn");
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let (_, key, ctx, blob) = fixture();
        for byte in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    matches!(open(&bad, &key, &ctx), Err(KmsError::InvalidCiphertext(_))),
                    "flip at byte {byte} bit {bit} was accepted"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let (_, key, ctx, blob) = fixture();
        for len in 0..blob.len() {
            assert!(matches!(
                open(&blob[..len], &key, &ctx),
                Err(KmsError::InvalidCiphertext(_))
            ));
        }
    }

    #[test]
    fn different_context_is_rejected() {
        let (_, key, _, blob) = fixture();
        let other = EncryptionContext::from_pairs([("tenant", "evil")]).unwrap();
        assert!(open(&blob, &key, &other).is_err());
        assert!(open(&blob, &key, &EncryptionContext::new()).is_err());
    }

    #[test]
    fn foreign_blob_is_rejected() {
        let key = SymmetricKey::generate().unwrap();
        let foreign = vec![0x41u8; 80];
        assert!(matches!(
            parse_header(&foreign),
            Err(KmsError::InvalidCiphertext(_))
        ));
        assert!(open(&foreign, &key, &EncryptionContext::new()).is_err());
    }
}
