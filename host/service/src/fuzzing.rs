//! Entry points for the fuzz targets in `fuzz/` and the corpus replay in
//! `tests/tests/fuzz_corpus.rs`: what a caller or a guest hands the service as bytes —
//! ciphertext blobs and envelopes to decrypt, import tokens with wrapped key material, and the
//! arguments of guests' host calls. Each input runs against a fresh [`Fixture`]: a vault with a
//! fixed root key, a fixed clock and keys with fixed ids and material, so that the committed
//! seeds (real blobs, envelopes and tokens made by this code) decrypt in every process. Hidden
//! from the documentation; nothing else uses it.

use std::sync::{Arc, OnceLock};

use kms_core::fuzzing::{Input, Seed};
use kms_core::types::{
    DataKeySpec, EncryptionAlgorithm, ExpirationModel, ImportType, KeySpec, KeyState, KeyUsage,
    Origin, Tag,
};
use kms_crypto::asymmetric::KeyMaterial;
use kms_vault::{KeyRecord, MemoryStore, RootKey, Vault};

use crate::{
    Accept, Admission, AliasRequest, Caller, DecryptRequest, EncryptRequest, EncryptionContext,
    GenerateDataKeyRequest, GenerateRandomRequest, ImportKeyMaterialRequest, KeyId, KmsError,
    ManualClock, ReEncryptRequest, Service, envelope,
};

/// The fixture's clock: 2026-01-01T00:00:00Z.
pub const NOW: u64 = 1_767_225_600;
/// The fixture's root key, in hex.
pub const ROOT_KEY_HEX: &str = "f022f022f022f022f022f022f022f022f022f022f022f022f022f022f022f022";
/// An enabled SYMMETRIC_DEFAULT key with material `[0x11; 32]`, alias [`ALIAS`] and tag
/// `tenant=acme`.
pub const SYMMETRIC: &str = "f0220000-0000-4000-8000-000000000001";
/// The alias of [`SYMMETRIC`].
pub const ALIAS: &str = "alias/fuzz";
/// A disabled SYMMETRIC_DEFAULT key with material `[0x22; 32]`.
pub const DISABLED: &str = "f0220000-0000-4000-8000-000000000002";
/// An RSA_2048 ENCRYPT_DECRYPT key (its material is made once per process).
pub const RSA: &str = "f0220000-0000-4000-8000-000000000003";
/// Keys of origin EXTERNAL awaiting their material, of specs SYMMETRIC_DEFAULT, HMAC_256 and
/// ECC_NIST_P256.
pub const EXTERNAL: [(&str, KeySpec, KeyUsage); 3] = [
    (
        "f0220000-0000-4000-8000-0000000000e1",
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    ),
    (
        "f0220000-0000-4000-8000-0000000000e2",
        KeySpec::Hmac256,
        KeyUsage::GenerateVerifyMac,
    ),
    (
        "f0220000-0000-4000-8000-0000000000e3",
        KeySpec::EccNistP256,
        KeyUsage::SignVerify,
    ),
];

/// A service over a fresh in-memory vault with the keys above, and its account root.
pub struct Fixture {
    /// The service.
    pub service: Service,
    /// The account root, which every key policy allows.
    pub root: Caller,
}

fn rsa_material() -> &'static KeyMaterial {
    static RSA_MATERIAL: OnceLock<KeyMaterial> = OnceLock::new();
    RSA_MATERIAL.get_or_init(|| KeyMaterial::generate(KeySpec::Rsa2048).expect("RSA key"))
}

impl Fixture {
    /// Builds the fixture.
    pub fn new() -> Fixture {
        let vault = Vault::create(
            Box::new(MemoryStore::new()),
            RootKey::from_hex(ROOT_KEY_HEX).expect("a root key"),
            crate::DEFAULT_ACCOUNT,
            crate::DEFAULT_REGION,
        )
        .expect("a vault");
        let service = Service::new(vault, Arc::new(ManualClock::new(NOW))).expect("a service");
        let root = Caller::account_root(service.account());
        let vault = &service.shared.vault;
        let record = |id: &str, spec: KeySpec, usage: KeyUsage| KeyRecord {
            key_spec: spec,
            key_usage: usage,
            ..KeyRecord::new_symmetric(
                id.parse().expect("a key id"),
                vault.account(),
                vault.region(),
                NOW,
            )
        };
        let with_material = |record: KeyRecord, material: &KeyMaterial| {
            let version = vault
                .seal_imported_version(&record.key_id, material, 1, NOW)
                .expect("sealing");
            vault
                .store()
                .insert_key(&record, Some(&version))
                .expect("a new key");
        };
        let symmetric = |byte: u8| {
            KeyMaterial::from_imported(KeySpec::SymmetricDefault, &[byte; 32]).expect("AES key")
        };
        let tagged = KeyRecord {
            tags: vec![Tag {
                tag_key: "tenant".into(),
                tag_value: "acme".into(),
            }],
            ..record(
                SYMMETRIC,
                KeySpec::SymmetricDefault,
                KeyUsage::EncryptDecrypt,
            )
        };
        with_material(tagged, &symmetric(0x11));
        let disabled = KeyRecord {
            state: KeyState::Disabled,
            ..record(
                DISABLED,
                KeySpec::SymmetricDefault,
                KeyUsage::EncryptDecrypt,
            )
        };
        with_material(disabled, &symmetric(0x22));
        with_material(
            record(RSA, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt),
            rsa_material(),
        );
        for (id, spec, usage) in EXTERNAL {
            let pending = KeyRecord {
                origin: Origin::External,
                state: KeyState::PendingImport,
                ..record(id, spec, usage)
            };
            vault.store().insert_key(&pending, None).expect("a new key");
        }
        service
            .create_alias(
                &root,
                AliasRequest {
                    alias_name: ALIAS.into(),
                    target_key_id: SYMMETRIC.into(),
                },
            )
            .expect("an alias");
        Fixture { service, root }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// A fault of the service's own making: bad input must get a typed error of the caller's
/// making, never `KMSInternalException`.
fn no_internal<T>(what: &str, result: &Result<T, KmsError>) {
    if let Err(error @ KmsError::Internal(_)) = result {
        panic!("{what}: bad input made an internal error: {error:?}");
    }
}

/// A key the input names: none, the symmetric key by id, ARN or alias, another key, or text.
fn key_name(input: &mut Input<'_>) -> Option<String> {
    let arn = |id: &str| format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
    match input.byte() % 7 {
        0 => None,
        1 => Some(SYMMETRIC.into()),
        2 => Some(arn(SYMMETRIC)),
        3 => Some(ALIAS.into()),
        4 => Some(DISABLED.into()),
        5 => Some(RSA.into()),
        _ => Some(input.text()),
    }
}

fn grant_tokens(input: &mut Input<'_>) -> Vec<String> {
    (0..input.byte() % 3).map(|_| input.text()).collect()
}

/// An attacker's ciphertext: one byte picks the path (Decrypt, ReEncrypt, a guest's decrypt or
/// data-key unwrap, or an envelope), then the key the request insists on, grant tokens, the
/// encryption context and the bytes. Whatever the bytes, the answer is a typed error or the
/// plaintext of a blob made under the key the blob names.
pub fn decrypt(data: &[u8]) {
    let fixture = Fixture::new();
    let (service, root) = (&fixture.service, &fixture.root);
    let mut input = Input::new(data);
    let path = input.byte();
    let key = key_name(&mut input);
    let tokens = grant_tokens(&mut input);
    let algorithm = match input.byte() % 4 {
        0 => None,
        n => Some(EncryptionAlgorithm::ALL[usize::from(n) % EncryptionAlgorithm::ALL.len()]),
    };
    let Ok(context) = EncryptionContext::from_pairs(input.pairs(8)) else {
        return;
    };
    let blob = input.rest().to_vec();
    let request = DecryptRequest {
        ciphertext_blob: blob.clone(),
        encryption_context: context.clone(),
        key_id: key.clone(),
        encryption_algorithm: algorithm,
        grant_tokens: tokens.clone(),
        dry_run: false,
    };
    match path % 5 {
        0 => {
            let answer = service.decrypt(root, request);
            no_internal("Decrypt", &answer);
            if let Ok(answer) = answer {
                let header = kms_crypto::blob::parse_header(&blob);
                let named = header
                    .map(|h| h.key_id.to_string())
                    .unwrap_or_else(|_| RSA.into());
                assert!(
                    answer.key_id.ends_with(&named),
                    "{} under {named}",
                    answer.key_id
                );
            }
        }
        1 => {
            let request = ReEncryptRequest {
                ciphertext_blob: blob,
                source_encryption_context: context.clone(),
                source_key_id: key,
                destination_key_id: ALIAS.into(),
                destination_encryption_context: context,
                source_encryption_algorithm: algorithm,
                destination_encryption_algorithm: None,
                grant_tokens: tokens,
                dry_run: false,
            };
            no_internal("ReEncrypt", &service.re_encrypt(root, request));
        }
        2 => {
            let mut refusals = crate::guest::GuestRefusals::new(16);
            let facts =
                service.ciphertext_key(root, &mut refusals, "Decrypt", &blob, true, |_| Ok(()));
            no_internal("a guest's decrypt", &facts);
            let answer = service.decrypt_accepting(root, request, Accept::CiphertextOnly);
            no_internal("a guest's decrypt", &answer);
        }
        3 => {
            let unwrapped = service.unwrap_data_key(root, request);
            no_internal("data-keys.unwrap", &unwrapped);
            if let Ok(data_key) = unwrapped {
                let sealed = data_key.seal(b"payload", b"aad").expect("a data key seals");
                let opened = data_key.open(&sealed, b"aad").expect("and opens");
                assert_eq!(opened.as_slice(), b"payload");
            }
        }
        _ => {
            let required = (!context.is_empty()).then_some(&context);
            let mut output = Vec::new();
            let opened = envelope::open(
                service,
                root,
                required,
                &mut &blob[..],
                &mut output,
                &mut |_| {},
            );
            if let Err(envelope::EnvelopeError::Kms(error)) = &opened {
                no_internal("envelope::open", &Err::<(), _>(error.clone()));
            }
        }
    }
}

/// ImportKeyMaterial as a caller sends it: one byte picks the key awaiting material, one the
/// import type and expiration, then the import token and the wrapped material. Every failure
/// is typed; material that imports leaves the key Enabled (or, for NEW_KEY_MATERIAL, ready for
/// rotation).
pub fn import(data: &[u8]) {
    let fixture = Fixture::new();
    let (service, root) = (&fixture.service, &fixture.root);
    let mut input = Input::new(data);
    let (key_id, ..) = EXTERNAL[usize::from(input.byte()) % EXTERNAL.len()];
    let options = input.byte();
    let import_token = input.long().to_vec();
    let key_material_id = (options & 0x10 != 0).then(|| input.text());
    let request = ImportKeyMaterialRequest {
        key_id: key_id.into(),
        import_token,
        encrypted_key_material: input.rest().to_vec(),
        valid_to: (options & 1 != 0).then_some(NOW + 3600 * u64::from(options >> 5)),
        expiration_model: match options >> 1 & 3 {
            0 => None,
            1 => Some(ExpirationModel::KeyMaterialExpires),
            _ => Some(ExpirationModel::KeyMaterialDoesNotExpire),
        },
        import_type: (options & 8 != 0).then_some(ImportType::NewKeyMaterial),
        key_material_description: None,
        key_material_id,
    };
    let imported = service.import_key_material(root, request);
    no_internal("ImportKeyMaterial", &imported);
    if imported.is_ok() {
        let key = service
            .describe_key(root, crate::KeyRequest::new(key_id))
            .expect("an imported key is described");
        assert_eq!(key.key_metadata.key_state, KeyState::Enabled);
    }
}

/// The host side of guests' calls with the arguments a guest chooses: `keys.open` of a name,
/// `keys.decrypt`, `data-keys.unwrap`, `data-keys.generate` and a data key's `open` of sealed
/// bytes, `key.encrypt` and `keys.generate-random`, up to eight calls per input. Each answers
/// a typed error or what it should.
pub fn guest_calls(data: &[u8]) {
    let fixture = Fixture::new();
    let (service, root) = (&fixture.service, &fixture.root);
    let mut input = Input::new(data);
    for _ in 0..8 {
        if input.is_empty() {
            break;
        }
        let call = input.byte();
        let context = EncryptionContext::from_pairs(input.pairs(8));
        no_internal("an encryption-context", &context);
        let Ok(context) = context else { continue };
        match call % 6 {
            0 => {
                let name = input.text();
                let mut refusals = crate::guest::GuestRefusals::new(16);
                let opened =
                    service.open_key(root, &mut refusals, &name, true, |_| Admission::Admit);
                no_internal("keys.open", &opened);
                if let Ok(facts) = opened {
                    assert_eq!(service.key_facts(&name).ok(), Some(facts));
                }
            }
            1 => {
                let request = DecryptRequest::new(input.long().to_vec()).with_context(context);
                let answer = service.decrypt_accepting(root, request, Accept::CiphertextOnly);
                no_internal("keys.decrypt", &answer);
            }
            2 => {
                let request = DecryptRequest::new(input.long().to_vec()).with_context(context);
                no_internal("data-keys.unwrap", &service.unwrap_data_key(root, request));
            }
            3 => {
                let mut request =
                    GenerateDataKeyRequest::new(ALIAS, DataKeySpec::Aes256).with_context(context);
                let length = input.byte();
                if length != 0 {
                    (request.key_spec, request.number_of_bytes) = (None, Some(u32::from(length)));
                }
                let generated = service.generate_data_key_held(root, request);
                no_internal("data-keys.generate", &generated);
                if let Ok(data_key) = generated {
                    let (sealed, aad) = (input.long(), input.short());
                    no_internal("data-key.open", &data_key.open(sealed, aad));
                    // Data keys of other lengths than AES's cannot seal (InvalidKeyUsage).
                    let resealed = data_key.seal(sealed, aad);
                    no_internal("data-key.seal", &resealed);
                    if let Ok(resealed) = resealed {
                        let opened = data_key.open(&resealed, aad).expect("a sealed data opens");
                        assert_eq!(opened.as_slice(), sealed);
                    }
                }
            }
            4 => {
                let name = input.text();
                let request =
                    EncryptRequest::new(name, input.long().to_vec()).with_context(context);
                let sealed = service.encrypt(root, request);
                no_internal("key.encrypt", &sealed);
            }
            _ => {
                let request = GenerateRandomRequest {
                    number_of_bytes: Some(u32::from(input.u16())),
                };
                no_internal(
                    "keys.generate-random",
                    &service.generate_random(root, request),
                );
            }
        }
    }
}

/// The key ids of the fixture, parsed (for the seed corpus).
pub fn fixture_key_ids() -> Vec<KeyId> {
    [SYMMETRIC, DISABLED, RSA]
        .into_iter()
        .chain(EXTERNAL.iter().map(|(id, ..)| *id))
        .map(|id| id.parse().expect("a key id"))
        .collect()
}

/// What every seed of the service's targets starts from: a fixture and real ciphertexts.
struct Made {
    fixture: Fixture,
    /// A blob of "attack at dawn" under [`SYMMETRIC`] with context `tenant=acme`.
    ciphertext: Vec<u8>,
    /// A data key's blob under [`SYMMETRIC`] with the same context.
    data_key: Vec<u8>,
    /// An envelope under [`ALIAS`] with the same context.
    envelope: Vec<u8>,
}

const TENANT: [(&str, &str); 1] = [("tenant", "acme")];

fn made() -> Made {
    let fixture = Fixture::new();
    let (service, root) = (&fixture.service, &fixture.root);
    let context = EncryptionContext::from_pairs(TENANT).expect("a context");
    let ciphertext = service
        .encrypt(
            root,
            EncryptRequest::new(ALIAS, b"attack at dawn".to_vec()).with_context(context.clone()),
        )
        .expect("encrypted")
        .ciphertext_blob;
    let data_key = service
        .generate_data_key(
            root,
            GenerateDataKeyRequest::new(ALIAS, DataKeySpec::Aes256).with_context(context.clone()),
        )
        .expect("a data key")
        .ciphertext_blob;
    let mut envelope = Vec::new();
    envelope::seal(
        service,
        root,
        ALIAS,
        &context,
        &mut &b"a payload of two chunks, and then some more of it"[..],
        &mut envelope,
        1024,
        &mut |_| {},
    )
    .expect("sealed");
    Made {
        fixture,
        ciphertext,
        data_key,
        envelope,
    }
}

/// Seeds of [`decrypt`]: each path with the real blob it takes.
pub fn decrypt_seeds() -> Vec<Vec<u8>> {
    let made = made();
    let rsa = made
        .fixture
        .service
        .encrypt(
            &made.fixture.root,
            EncryptRequest {
                encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
                ..EncryptRequest::new(RSA, b"to the RSA key".to_vec())
            },
        )
        .expect("encrypted")
        .ciphertext_blob;
    let oaep = EncryptionAlgorithm::ALL
        .iter()
        .position(|a| *a == EncryptionAlgorithm::RsaesOaepSha256)
        .expect("listed") as u8;
    let seed = |path: u8, key: u8, algorithm: u8, pairs: &[(&str, &str)], blob: &[u8]| {
        Seed::new()
            .byte(path)
            .byte(key)
            .byte(0)
            .byte(algorithm)
            .pairs(pairs)
            .raw(blob)
            .build()
    };
    vec![
        seed(0, 0, 0, &TENANT, &made.ciphertext),
        seed(0, 3, 0, &TENANT, &made.data_key),
        seed(0, 5, oaep, &[], &rsa),
        seed(1, 1, 0, &TENANT, &made.ciphertext),
        seed(2, 0, 0, &TENANT, &made.ciphertext),
        seed(3, 0, 0, &TENANT, &made.data_key),
        seed(4, 0, 0, &TENANT, &made.envelope),
    ]
}

/// Seeds of [`import`]: real import tokens of the fixture's keys (valid at [`NOW`] in every
/// process: they are sealed under a key derived from the fixed root key) with material wrapped
/// to their wrapping keys, by each of the two wrapping algorithms AWS recommends.
pub fn import_seeds() -> Vec<Vec<u8>> {
    use kms_core::types::{WrappingAlgorithmSpec, WrappingKeySpec};
    let fixture = Fixture::new();
    let mut seeds = Vec::new();
    for (index, (key_id, spec, _)) in EXTERNAL.iter().enumerate() {
        let plain = match spec {
            KeySpec::SymmetricDefault | KeySpec::Hmac256 => vec![0x5A; 32],
            _ => KeyMaterial::generate(*spec)
                .and_then(|m| m.private_key_pkcs8())
                .expect("PKCS#8")
                .to_vec(),
        };
        for algorithm in [
            WrappingAlgorithmSpec::RsaesOaepSha256,
            WrappingAlgorithmSpec::RsaAesKeyWrapSha256,
        ] {
            if plain.len() > 190 && algorithm == WrappingAlgorithmSpec::RsaesOaepSha256 {
                continue;
            }
            let parameters = fixture
                .service
                .get_parameters_for_import(
                    &fixture.root,
                    crate::GetParametersForImportRequest::new(
                        *key_id,
                        algorithm,
                        WrappingKeySpec::Rsa2048,
                    ),
                )
                .expect("import parameters");
            let wrapped =
                kms_crypto::key_import::wrap_for_import(&parameters.public_key, algorithm, &plain)
                    .expect("wrapped");
            // Options 4: ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE, no ValidTo.
            seeds.push(
                Seed::new()
                    .byte(index as u8)
                    .byte(4)
                    .long(&parameters.import_token)
                    .raw(wrapped)
                    .build(),
            );
        }
    }
    seeds
}

/// Seeds of [`guest_calls`]: each call with real arguments, and one input making all of them.
pub fn guest_calls_seeds() -> Vec<Vec<u8>> {
    let made = made();
    let calls = [
        Seed::new().byte(0).pairs(&[]).short(ALIAS),
        Seed::new().byte(1).pairs(&TENANT).long(&made.ciphertext),
        Seed::new().byte(2).pairs(&TENANT).long(&made.data_key),
        Seed::new()
            .byte(3)
            .pairs(&TENANT)
            .byte(0)
            .long(b"sealed bytes")
            .short(b"aad"),
        Seed::new()
            .byte(4)
            .pairs(&TENANT)
            .short(ALIAS)
            .long(b"a secret"),
        Seed::new().byte(5).pairs(&[]).raw(32u16.to_be_bytes()),
    ];
    let all = calls
        .iter()
        .fold(Seed::new(), |all, call| all.raw(call.clone().build()));
    calls.into_iter().chain([all]).map(Seed::build).collect()
}

/// A real blob of "attack at dawn" under [`SYMMETRIC`] with context `tenant=acme`, for other
/// crates' seeds.
pub fn sample_ciphertext() -> Vec<u8> {
    made().ciphertext
}
