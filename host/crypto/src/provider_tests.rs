//! The two providers against each other (feature `aws-lc-rs`): what one seals the other opens,
//! what one signs the other verifies, and both write the same bytes for the same key, so that a
//! vault written with either opens with the other. The known-answer and Wycheproof tests of the
//! other modules run on the active provider, AWS-LC in this build.

use zeroize::Zeroizing;

use crate::asymmetric::{KeyMaterial, MessageType, OaepHash, PublicKey, SigningAlgorithm};
use crate::provider::{Curve, Hash, RsaPadding, aws_lc, rustcrypto};
use crate::{NONCE_LEN, SymmetricKey, blob};
use kms_core::types::{EncryptionContext, KeyId, KeySpec};

const CURVES: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];
const HASHES: [Hash; 4] = [Hash::Sha224, Hash::Sha256, Hash::Sha384, Hash::Sha512];

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    crate::fill_random(&mut bytes).unwrap();
    bytes
}

#[test]
fn the_active_provider_is_aws_lc() {
    assert_eq!(crate::PROVIDER, "aws-lc-rs");
}

#[test]
fn aes_gcm_output_is_the_same_on_both_providers_and_opens_on_either() {
    for key_len in [16, 32] {
        let key = random(key_len);
        let aws = aws_lc::AesGcm::new(&key).unwrap();
        let rc = rustcrypto::AesGcm::new(&key).unwrap();
        for len in [0, 1, 15, 16, 17, 255, 4096, 16 * 1024 + 3] {
            let nonce: [u8; NONCE_LEN] = random(NONCE_LEN).try_into().unwrap();
            let (plaintext, aad) = (random(len), random(len % 40));
            let mut by_aws = plaintext.clone();
            let aws_tag = aws.seal_in_place(&nonce, &aad, &mut by_aws).unwrap();
            let mut by_rc = plaintext.clone();
            let rc_tag = rc.seal_in_place(&nonce, &aad, &mut by_rc).unwrap();
            assert_eq!(
                (&by_aws, aws_tag),
                (&by_rc, rc_tag),
                "AES-{} {len}",
                key_len * 8
            );

            rc.open_in_place(&nonce, &aad, &mut by_aws, &aws_tag)
                .unwrap();
            assert_eq!(by_aws, plaintext);
            aws.open_in_place(&nonce, &aad, &mut by_rc, &rc_tag)
                .unwrap();
            assert_eq!(by_rc, plaintext);

            let mut bent = aws_tag;
            bent[0] ^= 1;
            let mut sealed = plaintext.clone();
            aws.seal_in_place(&nonce, &aad, &mut sealed).unwrap();
            assert!(
                aws.open_in_place(&nonce, &aad, &mut sealed.clone(), &bent)
                    .is_err()
            );
            assert!(rc.open_in_place(&nonce, &aad, &mut sealed, &bent).is_err());
        }
    }
    assert!(aws_lc::AesGcm::new(&[0; 24]).is_none());
}

#[test]
fn envelopes_sealed_on_one_provider_open_on_the_other() {
    let key_bytes = random(32);
    let key = SymmetricKey::from_slice(&key_bytes).unwrap();
    let rc = rustcrypto::AesGcm::new(&key_bytes).unwrap();
    // SymmetricKey (AWS-LC here) seals `nonce || ciphertext || tag`; RustCrypto opens it.
    let sealed = key.seal(b"root-sealed material", b"aad").unwrap();
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = body.split_at(body.len() - 16);
    let mut opened = ciphertext.to_vec();
    rc.open_in_place(
        nonce.try_into().unwrap(),
        b"aad",
        &mut opened,
        tag.try_into().unwrap(),
    )
    .unwrap();
    assert_eq!(opened, b"root-sealed material");
    // And a ciphertext blob that RustCrypto sealed opens through the blob format.
    let id = KeyId::random();
    let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let on_aws = blob::seal(blob::BlobKind::Ciphertext, &id, 2, &key, b"x", &context).unwrap();
    let header = &on_aws[..blob::HEADER_LEN];
    let nonce: [u8; NONCE_LEN] = header[blob::HEADER_LEN - NONCE_LEN..].try_into().unwrap();
    let mut aad = header.to_vec();
    aad.extend_from_slice(&context.canonical_bytes());
    let mut on_rc = header.to_vec();
    on_rc.extend_from_slice(b"y");
    let tag = rc
        .seal_in_place(&nonce, &aad, &mut on_rc[blob::HEADER_LEN..])
        .unwrap();
    on_rc.extend_from_slice(&tag);
    assert_eq!(&*blob::open(&on_rc, &key, &context).unwrap(), b"y");
}

#[test]
fn digests_and_macs_are_the_same_on_both_providers() {
    for hash in HASHES {
        for len in [0, 3, 64, 129, 1000] {
            let (key, message) = (random(len % 150 + 1), random(len));
            let parts = [&message[..len / 2], &message[len / 2..]];
            assert_eq!(
                aws_lc::digest(hash, &parts),
                rustcrypto::digest(hash, &[&message]),
                "{hash:?} {len}"
            );
            assert_eq!(
                aws_lc::hmac(hash, &key, &parts),
                rustcrypto::hmac(hash, &key, &[&message]),
                "HMAC {hash:?} {len}"
            );
        }
    }
}

/// The same EC key on both providers, whichever made it: equal PKCS#8 and public key bytes.
fn ec_pair_from(curve: Curve, pkcs8: &[u8]) -> (aws_lc::EcPrivateKey, rustcrypto::EcPrivateKey) {
    let aws = aws_lc::EcPrivateKey::from_pkcs8(curve, pkcs8).unwrap();
    let rc = rustcrypto::EcPrivateKey::from_pkcs8(curve, pkcs8).unwrap();
    assert_eq!(
        *aws.to_pkcs8().unwrap(),
        *rc.to_pkcs8().unwrap(),
        "{curve:?}: PKCS#8"
    );
    assert_eq!(
        aws.public_key().unwrap().to_der().unwrap(),
        rc.public_key().unwrap().to_der().unwrap(),
        "{curve:?}: SubjectPublicKeyInfo"
    );
    (aws, rc)
}

#[test]
fn ec_keys_encode_alike_and_sign_for_each_other() {
    for curve in CURVES {
        let made_by_aws = aws_lc::EcPrivateKey::generate(curve).unwrap();
        let made_by_rc = rustcrypto::EcPrivateKey::generate(curve).unwrap();
        for pkcs8 in [
            made_by_aws.to_pkcs8().unwrap(),
            made_by_rc.to_pkcs8().unwrap(),
        ] {
            let (aws, rc) = ec_pair_from(curve, &pkcs8);
            let digest = rustcrypto::digest(curve.hash(), &[b"release-1.2.3.tar.gz"]);
            let aws_public =
                aws_lc::EcPublicKey::from_der(curve, &rc.public_key().unwrap().to_der().unwrap())
                    .unwrap();
            let rc_public = rc.public_key().unwrap();

            let by_aws = aws.sign_digest(&digest).unwrap();
            assert!(rc_public.verify_digest(&digest, &by_aws), "{curve:?}");
            let by_rc = rc.sign_digest(&digest).unwrap();
            assert!(aws_public.verify_digest(&digest, &by_rc), "{curve:?}");

            let mut other = digest.clone();
            other[0] ^= 1;
            assert!(!rc_public.verify_digest(&other, &by_aws));
            assert!(!aws_public.verify_digest(&other, &by_rc));
        }
    }
}

#[test]
fn ecdh_agrees_across_providers() {
    for curve in CURVES {
        let alice = aws_lc::EcPrivateKey::generate(curve).unwrap();
        let bob = rustcrypto::EcPrivateKey::generate(curve).unwrap();
        let alice_public = alice.public_key().unwrap().to_der().unwrap();
        let bob_public = bob.public_key().unwrap().to_der().unwrap();
        let ab = alice.diffie_hellman(&bob_public).unwrap();
        let ba = bob.diffie_hellman(&alice_public).unwrap();
        assert_eq!(*ab, *ba, "{curve:?}");
        // A bare point is no SubjectPublicKeyInfo, on either provider.
        let point = &bob_public[bob_public.len() - ab.len() * 2 - 1..];
        assert!(alice.diffie_hellman(point).is_err(), "{curve:?}");
        assert!(bob.diffie_hellman(point).is_err(), "{curve:?}");
    }
}

/// Keys openssl wrote, in the forms ImportKeyMaterial may receive them.
fn openssl_key(name: &str) -> Zeroizing<Vec<u8>> {
    let line = include_str!("testdata/openssl_keys.txt")
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap();
    Zeroizing::new(hex::decode(line.split_whitespace().nth(1).unwrap()).unwrap())
}

#[test]
fn imported_keys_in_other_encodings_are_stored_alike_by_both_providers() {
    for (name, curve) in [
        ("P384_WITH_PARAMETERS", Curve::P384),
        ("P384_WITHOUT_PUBLIC_KEY", Curve::P384),
        ("SECP256K1_OPENSSL", Curve::Secp256k1),
    ] {
        let (aws, _) = ec_pair_from(curve, &openssl_key(name));
        assert_eq!(aws.curve(), curve, "{name}");
    }
    let (aws, rc) = rsa_pair_from(&openssl_key("RSA2048_OPENSSL"));
    assert_eq!((aws.bits(), rc.bits()), (2048, 2048));
    // The two P-384 forms are one key: its canonical form is the same.
    assert_eq!(
        *KeyMaterial::from_imported(KeySpec::EccNistP384, &openssl_key("P384_WITH_PARAMETERS"))
            .unwrap()
            .to_sealable()
            .unwrap(),
        *KeyMaterial::from_imported(
            KeySpec::EccNistP384,
            &openssl_key("P384_WITHOUT_PUBLIC_KEY")
        )
        .unwrap()
        .to_sealable()
        .unwrap(),
    );
}

/// The same RSA key on both providers: equal PKCS#8 and public key bytes.
fn rsa_pair_from(pkcs8: &[u8]) -> (aws_lc::RsaPrivateKey, rustcrypto::RsaPrivateKey) {
    let aws = aws_lc::RsaPrivateKey::from_pkcs8(pkcs8).unwrap();
    let rc = rustcrypto::RsaPrivateKey::from_pkcs8(pkcs8).unwrap();
    assert_eq!(*aws.to_pkcs8().unwrap(), *rc.to_pkcs8().unwrap(), "PKCS#8");
    assert_eq!(
        aws.public_key().unwrap().to_der().unwrap(),
        rc.public_key().unwrap().to_der().unwrap(),
        "SubjectPublicKeyInfo"
    );
    (aws, rc)
}

#[test]
fn rsa_keys_encode_alike_and_sign_and_decrypt_for_each_other() {
    let made_by_aws = aws_lc::RsaPrivateKey::generate(2048).unwrap();
    let made_by_rc = rustcrypto::RsaPrivateKey::generate(2048).unwrap();
    for pkcs8 in [
        made_by_aws.to_pkcs8().unwrap(),
        made_by_rc.to_pkcs8().unwrap(),
    ] {
        let (aws, rc) = rsa_pair_from(&pkcs8);
        let (aws_public, rc_public) = (aws.public_key().unwrap(), rc.public_key().unwrap());
        for padding in [RsaPadding::Pss, RsaPadding::Pkcs1v15] {
            for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
                let digest = rustcrypto::digest(hash, &[b"release-1.2.3.tar.gz"]);
                let by_aws = aws.sign_digest(padding, hash, &digest).unwrap();
                let by_rc = rc.sign_digest(padding, hash, &digest).unwrap();
                assert!(rc_public.verify_digest(padding, hash, &digest, &by_aws));
                assert!(aws_public.verify_digest(padding, hash, &digest, &by_rc));
                if padding == RsaPadding::Pkcs1v15 {
                    assert_eq!(by_aws, by_rc, "PKCS#1 v1.5 signatures are deterministic");
                }
                let other = if padding == RsaPadding::Pss {
                    RsaPadding::Pkcs1v15
                } else {
                    RsaPadding::Pss
                };
                assert!(!rc_public.verify_digest(other, hash, &digest, &by_aws));
                assert!(!aws_public.verify_digest(other, hash, &digest, &by_rc));
            }
        }
        for hash in [OaepHash::Sha1, OaepHash::Sha256] {
            let to_rc = aws_public.oaep_encrypt(hash, b"a data key").unwrap();
            assert_eq!(*rc.oaep_decrypt(hash, &to_rc).unwrap(), b"a data key");
            let to_aws = rc_public.oaep_encrypt(hash, b"a data key").unwrap();
            assert_eq!(*aws.oaep_decrypt(hash, &to_aws).unwrap(), b"a data key");
            let mut bent = to_aws.clone();
            bent[7] ^= 1;
            assert!(aws.oaep_decrypt(hash, &bent).is_none());
        }
    }
}

#[test]
fn material_sealed_by_either_provider_reads_back_on_the_other() {
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        // Written by this build (AWS-LC), read by RustCrypto.
        let key = KeyMaterial::generate(spec).unwrap();
        let sealed = key.to_sealable().unwrap();
        let reread = match spec {
            KeySpec::Rsa2048 => rustcrypto::RsaPrivateKey::from_pkcs8(&sealed)
                .unwrap()
                .to_pkcs8()
                .unwrap(),
            _ => rustcrypto::EcPrivateKey::from_pkcs8(curve(spec), &sealed)
                .unwrap()
                .to_pkcs8()
                .unwrap(),
        };
        assert_eq!(*reread, *sealed, "{spec}");
        let algorithm = key.signing_algorithms()[0];
        let signature = key.sign(algorithm, MessageType::Raw, b"m").unwrap();
        let digest = rustcrypto::digest(hash(algorithm), &[b"m"]);
        let verified = match spec {
            KeySpec::Rsa2048 => rustcrypto::RsaPublicKey::from_der(&key.public_key_der().unwrap())
                .unwrap()
                .verify_digest(RsaPadding::Pss, Hash::Sha256, &digest, &signature),
            _ => rustcrypto::EcPublicKey::from_der(curve(spec), &key.public_key_der().unwrap())
                .unwrap()
                .verify_digest(&digest, &signature),
        };
        assert!(verified, "{spec}");

        // Written by RustCrypto, read by this build, with the same fingerprint.
        let rc_sealed = match spec {
            KeySpec::Rsa2048 => rustcrypto::RsaPrivateKey::generate(2048)
                .unwrap()
                .to_pkcs8()
                .unwrap(),
            _ => rustcrypto::EcPrivateKey::generate(curve(spec))
                .unwrap()
                .to_pkcs8()
                .unwrap(),
        };
        let key = KeyMaterial::from_sealed(spec, &rc_sealed).unwrap();
        assert_eq!(*key.to_sealable().unwrap(), *rc_sealed, "{spec}");
        let public = PublicKey::from_der(spec, &key.public_key_der().unwrap()).unwrap();
        let signature = key.sign(algorithm, MessageType::Raw, b"m").unwrap();
        public
            .verify(algorithm, MessageType::Raw, b"m", &signature)
            .unwrap();
    }
}

fn curve(spec: KeySpec) -> Curve {
    match spec {
        KeySpec::EccNistP256 => Curve::P256,
        KeySpec::EccNistP384 => Curve::P384,
        KeySpec::EccNistP521 => Curve::P521,
        _ => Curve::Secp256k1,
    }
}

fn hash(algorithm: SigningAlgorithm) -> Hash {
    match algorithm {
        SigningAlgorithm::EcdsaSha384 => Hash::Sha384,
        SigningAlgorithm::EcdsaSha512 => Hash::Sha512,
        _ => Hash::Sha256,
    }
}

#[test]
fn public_keys_must_be_subject_public_key_infos_on_aws_lc_too() {
    let key = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let der = key.public_key_der().unwrap();
    let point = &der[der.len() - 65..];
    assert!(PublicKey::from_der(KeySpec::EccNistP256, &der).is_ok());
    assert!(PublicKey::from_der(KeySpec::EccNistP256, point).is_err());
    assert!(PublicKey::from_der(KeySpec::EccNistP384, &der).is_err());
    let rsa = aws_lc::RsaPrivateKey::generate(2048).unwrap();
    let spki = rsa.public_key().unwrap().to_der().unwrap();
    // The PKCS#1 RSAPublicKey inside the SubjectPublicKeyInfo's BIT STRING.
    let pkcs1 = &spki[24..];
    assert!(rustcrypto::RsaPublicKey::from_der(pkcs1).is_err());
    assert!(PublicKey::from_der(KeySpec::Rsa2048, pkcs1).is_err());
}
