//! Entry points for the fuzz targets in `fuzz/` and the corpus replay in
//! `tests/tests/fuzz_corpus.rs`: the parsers of this crate that read bytes a caller chose —
//! ciphertext blobs, imported key material and its AES key wrap, public keys, signatures, MACs
//! and ML-KEM ciphertexts. Hidden from the documentation; nothing else uses it.

use std::sync::OnceLock;

use kms_core::fuzzing::{Input, Seed};
use kms_core::types::{
    EncapsulationAlgorithmSpec, EncryptionContext, KeyId, KeySpec, MacAlgorithmSpec, MessageType,
    SigningAlgorithmSpec,
};

use crate::SymmetricKey;
use crate::asymmetric::{KeyMaterial, PublicKey};
use crate::blob::{self, BlobKind};

/// The key id and AES key the blob target's seeds were made with, so that they open.
pub const BLOB_KEY_ID: &str = "b10b0000-0000-4000-8000-000000000001";
/// See [`BLOB_KEY_ID`].
pub const BLOB_KEY: [u8; 32] = [0x42; 32];

fn pick<T: Copy>(all: &[T], byte: u8) -> T {
    all[usize::from(byte) % all.len()]
}

/// A ciphertext blob as Decrypt reads it: one byte of context pairs' count and the pairs, then
/// the blob. The header is parsed, the blob opened under [`BLOB_KEY`]; what opens must have
/// been sealed under the key id, version and kind the header claims, and sealing anything
/// must open again to the same plaintext.
pub fn blob(data: &[u8]) {
    let mut input = Input::new(data);
    let Ok(context) = EncryptionContext::from_pairs(input.pairs(8)) else {
        return;
    };
    let blob_bytes = input.rest();
    let key = SymmetricKey::from_slice(&BLOB_KEY).expect("32 bytes");
    let header = blob::parse_header(blob_bytes);
    if let Ok(plaintext) = blob::open(blob_bytes, &key, &context) {
        let header = header.expect("a blob that opens has a header");
        assert_eq!(header.key_id.to_string(), BLOB_KEY_ID);
        assert_eq!(plaintext.len() + blob::OVERHEAD, blob_bytes.len());
    }
    let id: KeyId = BLOB_KEY_ID.parse().expect("a key id");
    let kind = if data.len().is_multiple_of(2) {
        BlobKind::Ciphertext
    } else {
        BlobKind::DataKey
    };
    let sealed = blob::seal(kind, &id, 7, &key, blob_bytes, &context).expect("sealing works");
    let reread = blob::parse_header(&sealed).expect("a sealed blob has a header");
    assert_eq!((reread.key_id, reread.version, reread.kind), (id, 7, kind));
    let opened = blob::open(&sealed, &key, &context).expect("a sealed blob opens");
    assert_eq!(opened.as_slice(), blob_bytes);
}

/// Imported key material: one byte choosing the key spec and one the reader, then the bytes.
/// The readers are ImportKeyMaterial's (raw keys, PKCS#8 DER), the vault's reader of sealed
/// material, and the RFC 5649 unwrap of the RSA_AES_KEY_WRAP algorithms under a fixed
/// ephemeral key. Material that reads as a key of its spec must also seal and read back.
pub fn key_material(data: &[u8]) {
    let mut input = Input::new(data);
    let spec = pick(KeySpec::ALL, input.byte());
    let reader = input.byte();
    let bytes = input.rest();
    // RSA keys are big numbers: reading one costs milliseconds, so only some inputs try.
    let material = match reader % 3 {
        0 => KeyMaterial::from_imported(spec, bytes),
        1 => KeyMaterial::from_sealed(spec, bytes),
        _ => {
            let kek = [0x4B; 32];
            let _ =
                crate::key_import::kwp_unwrap(&kek[..16 + 8 * usize::from(reader / 3 % 3)], bytes);
            if let Ok(unwrapped) = crate::key_import::kwp_unwrap(&kek, bytes) {
                let _ = KeyMaterial::from_imported(spec, &unwrapped);
            }
            return;
        }
    };
    if let Ok(material) = material {
        assert_eq!(
            material.spec(),
            spec,
            "material reads as the spec it was read for"
        );
        let sealable = material.sealable().expect("read material can be sealed");
        let again = KeyMaterial::from_sealed(spec, &sealable).expect("sealed material reads back");
        assert_eq!(
            again.sealable().expect("sealable").as_slice(),
            sealable.as_slice()
        );
    }
}

/// One key of every spec that does asymmetric work or MACs, made once per process.
fn keys() -> &'static [KeyMaterial] {
    static KEYS: OnceLock<Vec<KeyMaterial>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::MlDsa44,
            KeySpec::MlKem512,
            KeySpec::MlKem768,
            KeySpec::Hmac256,
            KeySpec::Hmac512,
        ]
        .into_iter()
        .map(|spec| KeyMaterial::generate(spec).expect("key generation works"))
        .collect()
    })
}

/// What a caller hands the asymmetric operations: a peer's public key (DeriveSharedSecret,
/// and public keys read for Verify), signatures, MACs and ML-KEM ciphertexts. One byte picks
/// the key, one the algorithm, one the message type; then a message and the bytes under test.
pub fn public_keys(data: &[u8]) {
    let mut input = Input::new(data);
    let key = &keys()[usize::from(input.byte()) % keys().len()];
    let algorithm = pick(SigningAlgorithmSpec::ALL, input.byte());
    let message_type = pick(MessageType::ALL, input.byte());
    let message = input.short();
    let bytes = input.rest();
    let _ = key.derive_shared_secret(bytes);
    let _ = key.verify(algorithm, message_type, message, bytes);
    if let Ok(public) = PublicKey::from_der(key.spec(), bytes) {
        let _ = public.verify(algorithm, message_type, message, bytes);
    }
    let _ = key.decapsulate(
        pick(EncapsulationAlgorithmSpec::ALL, algorithm as u8),
        bytes,
    );
    if let Some(mac) = key.mac_algorithm() {
        let _ = key.verify_mac(
            pick(MacAlgorithmSpec::ALL, message_type as u8),
            message,
            bytes,
        );
        let made = key
            .generate_mac(mac, message)
            .expect("a MAC key makes MACs");
        key.verify_mac(mac, message, &made).expect("a MAC verifies");
    }
}

fn index_of<T: PartialEq>(all: &[T], item: &T) -> u8 {
    all.iter().position(|x| x == item).expect("listed") as u8
}

/// Seeds of [`blob`]: real blobs under [`BLOB_KEY`], with and without a context.
pub fn blob_seeds() -> Vec<Vec<u8>> {
    let key = SymmetricKey::from_slice(&BLOB_KEY).expect("32 bytes");
    let id: KeyId = BLOB_KEY_ID.parse().expect("a key id");
    let tenant = EncryptionContext::from_pairs([("tenant", "acme")]).expect("a context");
    vec![
        Seed::new()
            .pairs(&[("tenant", "acme")])
            .raw(
                blob::seal(
                    BlobKind::Ciphertext,
                    &id,
                    1,
                    &key,
                    b"attack at dawn",
                    &tenant,
                )
                .expect("sealed"),
            )
            .build(),
        Seed::new()
            .pairs(&[])
            .raw(
                blob::seal(
                    BlobKind::DataKey,
                    &id,
                    2,
                    &key,
                    &[9; 32],
                    &EncryptionContext::new(),
                )
                .expect("sealed"),
            )
            .build(),
    ]
}

/// Seeds of [`key_material`]: real material of several specs in each reader's form.
pub fn key_material_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for spec in [
        KeySpec::SymmetricDefault,
        KeySpec::Hmac256,
        KeySpec::EccNistP256,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlDsa44,
        KeySpec::MlKem768,
        KeySpec::Rsa2048,
    ] {
        let material = KeyMaterial::generate(spec).expect("generated");
        let sealable = material.sealable().expect("sealable");
        let imported = match spec {
            KeySpec::SymmetricDefault | KeySpec::Hmac256 => sealable.to_vec(),
            // ML-DSA keys have no PKCS#8 form here: their seed stands in.
            _ => material
                .private_key_pkcs8()
                .unwrap_or(sealable.clone())
                .to_vec(),
        };
        let spec_byte = index_of(KeySpec::ALL, &spec);
        let wrapped = crate::key_import::kwp_wrap(&[0x4B; 32], &imported).expect("wrapped");
        for (reader, bytes) in [(0, imported), (1, sealable.to_vec()), (2, wrapped)] {
            seeds.push(Seed::new().byte(spec_byte).byte(reader).raw(bytes).build());
        }
    }
    seeds
}

/// Seeds of [`public_keys`]: for each key, a peer's public key, a valid signature, MAC or
/// ML-KEM ciphertext.
pub fn public_keys_seeds() -> Vec<Vec<u8>> {
    let raw = index_of(MessageType::ALL, &MessageType::Raw);
    let message = b"the message";
    keys()
        .iter()
        .enumerate()
        .flat_map(|(i, key)| {
            let spec = key.spec();
            let (algorithm, bytes) = if let Some(&algorithm) = key.signing_algorithms().first() {
                let signature = key
                    .sign(algorithm, MessageType::Raw, message)
                    .expect("signed");
                (index_of(SigningAlgorithmSpec::ALL, &algorithm), signature)
            } else if let Some(mac) = key.mac_algorithm() {
                (0, key.generate_mac(mac, message).expect("a MAC"))
            } else if let Some(&algorithm) = key.encapsulation_algorithms().first() {
                let (ciphertext, _) = key.encapsulate(algorithm).expect("encapsulated");
                (
                    index_of(EncapsulationAlgorithmSpec::ALL, &algorithm),
                    ciphertext,
                )
            } else {
                (0, Vec::new())
            };
            let seed = |algorithm: u8, bytes: Vec<u8>| {
                Seed::new()
                    .byte(i as u8)
                    .byte(algorithm)
                    .byte(raw)
                    .short(message)
                    .raw(bytes)
                    .build()
            };
            let mut seeds = vec![seed(algorithm, bytes)];
            if key
                .signing_algorithms()
                .iter()
                .any(|a| a.to_string().starts_with("ECDSA"))
            {
                let peer = KeyMaterial::generate(spec).expect("a peer");
                seeds.push(seed(algorithm, peer.public_key_der().expect("DER")));
            }
            seeds
        })
        .collect()
}
