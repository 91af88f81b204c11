//! Key pairs and MAC keys through the service façade: every spec's operations, AWS's refusals,
//! and interop with the `openssl` command line, which nobody here wrote.

use std::path::Path;
use std::process::Command;

use kms_core::types::{
    DataKeyPairSpec, EncryptionAlgorithm, KeyAgreementAlgorithmSpec, KeySpec, KeyUsage,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use kms_service::{Caller, EncryptionContext, KmsError, Service};
use kms_service::{
    CreateKeyRequest, DecryptRequest, DeriveSharedSecretRequest, EnableKeyRotationRequest,
    EncryptRequest, GenerateDataKeyPairRequest, GenerateMacRequest, KeyRequest, SignRequest,
    VerifyMacRequest, VerifyRequest,
};

struct Fixture {
    service: Service,
    me: Caller,
    /// The same storage and root key, seen directly.
    vault: kms_vault::Vault,
}

fn fixture() -> Fixture {
    let (service, vault) = kms_integration_tests::in_memory_service();
    let me = Caller::account_root(service.account());
    Fixture { service, me, vault }
}

impl Fixture {
    fn key(&self, spec: KeySpec, usage: KeyUsage) -> String {
        self.service
            .create_key(
                &self.me,
                CreateKeyRequest {
                    key_spec: Some(spec),
                    key_usage: Some(usage),
                    ..CreateKeyRequest::default()
                },
            )
            .unwrap()
            .key_metadata
            .key_id
    }

    fn sign(
        &self,
        key: &str,
        algorithm: SigningAlgorithmSpec,
        message: &[u8],
    ) -> KmsResult<Vec<u8>> {
        self.service
            .sign(
                &self.me,
                SignRequest {
                    dry_run: false,
                    grant_tokens: Vec::new(),
                    key_id: key.into(),
                    message: message.to_vec(),
                    message_type: None,
                    signing_algorithm: Some(algorithm),
                },
            )
            .map(|r| r.signature)
    }

    fn verify(
        &self,
        key: &str,
        algorithm: SigningAlgorithmSpec,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> KmsResult<()> {
        self.service
            .verify(
                &self.me,
                VerifyRequest {
                    dry_run: false,
                    grant_tokens: Vec::new(),
                    key_id: key.into(),
                    message: message.to_vec(),
                    message_type: Some(message_type),
                    signature: signature.to_vec(),
                    signing_algorithm: Some(algorithm),
                },
            )
            .map(|r| assert!(r.signature_valid))
    }

    fn public_key(&self, key: &str) -> Vec<u8> {
        self.service
            .get_public_key(&self.me, KeyRequest::new(key))
            .unwrap()
            .public_key
    }
}

type KmsResult<T> = Result<T, KmsError>;

#[test]
fn every_spec_signs_and_verifies_with_its_algorithms() {
    let f = fixture();
    for (spec, algorithms) in [
        (
            KeySpec::Rsa2048,
            &[
                SigningAlgorithmSpec::RsassaPssSha256,
                SigningAlgorithmSpec::RsassaPssSha512,
                SigningAlgorithmSpec::RsassaPkcs1V15Sha384,
            ][..],
        ),
        (
            KeySpec::EccNistP256,
            &[SigningAlgorithmSpec::EcdsaSha256][..],
        ),
        (
            KeySpec::EccNistP384,
            &[SigningAlgorithmSpec::EcdsaSha384][..],
        ),
        (
            KeySpec::EccNistP521,
            &[SigningAlgorithmSpec::EcdsaSha512][..],
        ),
        (
            KeySpec::EccSecgP256k1,
            &[SigningAlgorithmSpec::EcdsaSha256][..],
        ),
        (KeySpec::MlDsa44, &[SigningAlgorithmSpec::MlDsaShake256][..]),
        (KeySpec::MlDsa65, &[SigningAlgorithmSpec::MlDsaShake256][..]),
        (KeySpec::MlDsa87, &[SigningAlgorithmSpec::MlDsaShake256][..]),
    ] {
        let key = f.key(spec, KeyUsage::SignVerify);
        let meta = f
            .service
            .describe_key(&f.me, KeyRequest::new(&key))
            .unwrap()
            .key_metadata;
        assert!(meta.encryption_algorithms.is_empty(), "{spec}");
        for &algorithm in algorithms {
            assert!(
                meta.signing_algorithms.contains(&algorithm),
                "{spec} {algorithm}"
            );
            let signature = f.sign(&key, algorithm, b"message").unwrap();
            f.verify(&key, algorithm, MessageType::Raw, b"message", &signature)
                .unwrap();
            let forged = f.verify(&key, algorithm, MessageType::Raw, b"massage", &signature);
            assert!(
                matches!(forged, Err(KmsError::InvalidSignature(_))),
                "{spec} {algorithm}: {forged:?}"
            );
        }
    }
}

#[test]
fn wrong_algorithms_usages_and_digest_lengths_fail_as_aws_does() {
    let f = fixture();
    let p256 = f.key(KeySpec::EccNistP256, KeyUsage::SignVerify);
    assert!(matches!(
        f.sign(&p256, SigningAlgorithmSpec::RsassaPssSha256, b"m"),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    let symmetric = f.key(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    assert!(matches!(
        f.sign(&symmetric, SigningAlgorithmSpec::EcdsaSha256, b"m"),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    let short = f.verify(
        &p256,
        SigningAlgorithmSpec::EcdsaSha256,
        MessageType::Digest,
        &[0; 31],
        &[0; 70],
    );
    assert!(matches!(short, Err(KmsError::Validation(_))), "{short:?}");
    let big = f.sign(&p256, SigningAlgorithmSpec::EcdsaSha256, &[0; 4097]);
    assert!(matches!(big, Err(KmsError::Validation(_))));
    // Usage must suit the spec at creation.
    for (spec, usage) in [
        (KeySpec::EccNistP256, KeyUsage::EncryptDecrypt),
        (KeySpec::Hmac256, KeyUsage::SignVerify),
        (KeySpec::EccSecgP256k1, KeyUsage::KeyAgreement),
        (KeySpec::SymmetricDefault, KeyUsage::SignVerify),
        (KeySpec::MlDsa65, KeyUsage::EncryptDecrypt),
    ] {
        let created = f.service.create_key(
            &f.me,
            CreateKeyRequest {
                key_spec: Some(spec),
                key_usage: Some(usage),
                ..CreateKeyRequest::default()
            },
        );
        assert!(
            matches!(created, Err(KmsError::Validation(_))),
            "{spec} {usage}"
        );
    }
    // No rotation for key pairs and MAC keys.
    let hmac = f.key(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    for key in [&p256, &hmac] {
        let rotation = f.service.enable_key_rotation(
            &f.me,
            EnableKeyRotationRequest {
                key_id: key.to_string(),
                rotation_period_in_days: None,
            },
        );
        assert!(matches!(rotation, Err(KmsError::UnsupportedOperation(_))));
        assert!(matches!(
            f.service.rotate_key_on_demand(&f.me, KeyRequest::new(key)),
            Err(KmsError::UnsupportedOperation(_))
        ));
    }
    assert!(matches!(
        f.service.get_public_key(&f.me, KeyRequest::new(&hmac)),
        Err(KmsError::UnsupportedOperation(_))
    ));
    // A disabled key pair refuses to sign.
    f.service
        .disable_key(&f.me, KeyRequest::new(&p256))
        .unwrap();
    assert!(matches!(
        f.sign(&p256, SigningAlgorithmSpec::EcdsaSha256, b"m"),
        Err(KmsError::Disabled(_))
    ));
}

#[test]
fn digest_signatures_verify_as_raw_ones() {
    let f = fixture();
    let key = f.key(KeySpec::EccNistP384, KeyUsage::SignVerify);
    let signature = f
        .service
        .sign(
            &f.me,
            SignRequest {
                dry_run: false,
                grant_tokens: Vec::new(),
                key_id: key.clone(),
                message: sha384(b"release"),
                message_type: Some(MessageType::Digest),
                signing_algorithm: Some(SigningAlgorithmSpec::EcdsaSha384),
            },
        )
        .unwrap()
        .signature;
    f.verify(
        &key,
        SigningAlgorithmSpec::EcdsaSha384,
        MessageType::Raw,
        b"release",
        &signature,
    )
    .unwrap();
}

fn sha384(data: &[u8]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["dgst", "-sha384", "-binary"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(data)?;
            child.wait_with_output()
        })
        .unwrap();
    out.stdout
}

#[test]
fn ml_dsa_signs_an_external_mu() {
    let f = fixture();
    let key = f.key(KeySpec::MlDsa65, KeyUsage::SignVerify);
    let mu = [0x5a; 64];
    let signature = f
        .service
        .sign(
            &f.me,
            SignRequest {
                dry_run: false,
                grant_tokens: Vec::new(),
                key_id: key.clone(),
                message: mu.to_vec(),
                message_type: Some(MessageType::ExternalMu),
                signing_algorithm: Some(SigningAlgorithmSpec::MlDsaShake256),
            },
        )
        .unwrap()
        .signature;
    f.verify(
        &key,
        SigningAlgorithmSpec::MlDsaShake256,
        MessageType::ExternalMu,
        &mu,
        &signature,
    )
    .unwrap();
    assert!(
        f.verify(
            &key,
            SigningAlgorithmSpec::MlDsaShake256,
            MessageType::ExternalMu,
            &[0x5b; 64],
            &signature
        )
        .is_err()
    );
}

#[test]
fn hmac_keys_generate_and_verify_macs() {
    let f = fixture();
    for (spec, algorithm, len) in [
        (KeySpec::Hmac224, MacAlgorithmSpec::HmacSha224, 28),
        (KeySpec::Hmac256, MacAlgorithmSpec::HmacSha256, 32),
        (KeySpec::Hmac384, MacAlgorithmSpec::HmacSha384, 48),
        (KeySpec::Hmac512, MacAlgorithmSpec::HmacSha512, 64),
    ] {
        let key = f.key(spec, KeyUsage::GenerateVerifyMac);
        let meta = f
            .service
            .describe_key(&f.me, KeyRequest::new(&key))
            .unwrap()
            .key_metadata;
        assert_eq!(meta.mac_algorithms, [algorithm]);
        let mac = f
            .service
            .generate_mac(
                &f.me,
                GenerateMacRequest {
                    dry_run: false,
                    grant_tokens: Vec::new(),
                    key_id: key.clone(),
                    message: b"session=42".to_vec(),
                    mac_algorithm: Some(algorithm),
                },
            )
            .unwrap()
            .mac;
        assert_eq!(mac.len(), len);
        let verify = |message: &[u8], mac: &[u8], algorithm| {
            f.service.verify_mac(
                &f.me,
                VerifyMacRequest {
                    dry_run: false,
                    grant_tokens: Vec::new(),
                    key_id: key.clone(),
                    message: message.to_vec(),
                    mac: mac.to_vec(),
                    mac_algorithm: Some(algorithm),
                },
            )
        };
        assert!(verify(b"session=42", &mac, algorithm).unwrap().mac_valid);
        assert!(matches!(
            verify(b"session=43", &mac, algorithm),
            Err(KmsError::InvalidMac(_))
        ));
        let other = if algorithm == MacAlgorithmSpec::HmacSha512 {
            MacAlgorithmSpec::HmacSha256
        } else {
            MacAlgorithmSpec::HmacSha512
        };
        assert!(matches!(
            verify(b"session=42", &mac, other),
            Err(KmsError::InvalidKeyUsage(_))
        ));
    }
}

#[test]
fn ecdh_key_agreement_matches_the_peer() {
    let f = fixture();
    let ours = f.key(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let theirs = f.key(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let derive = |key: &str, peer: Vec<u8>| {
        f.service
            .derive_shared_secret(
                &f.me,
                DeriveSharedSecretRequest {
                    dry_run: false,
                    grant_tokens: Vec::new(),
                    key_id: key.into(),
                    key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
                    public_key: peer,
                },
            )
            .map(|r| r.shared_secret.to_vec())
    };
    let a = derive(&ours, f.public_key(&theirs)).unwrap();
    let b = derive(&theirs, f.public_key(&ours)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 32);
    let signer = f.key(KeySpec::EccNistP256, KeyUsage::SignVerify);
    assert!(matches!(
        derive(&signer, f.public_key(&theirs)),
        Err(KmsError::InvalidKeyUsage(_))
    ));
}

#[test]
fn rsa_keys_encrypt_with_oaep() {
    let f = fixture();
    let key = f.key(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    for algorithm in [
        EncryptionAlgorithm::RsaesOaepSha1,
        EncryptionAlgorithm::RsaesOaepSha256,
    ] {
        let mut req = EncryptRequest::new(&key, b"card ending 4242".to_vec());
        req.encryption_algorithm = Some(algorithm);
        let ciphertext = f.service.encrypt(&f.me, req).unwrap().ciphertext_blob;
        assert_eq!(ciphertext.len(), 256);
        let mut decrypt = DecryptRequest::new(ciphertext).with_key(&key);
        decrypt.encryption_algorithm = Some(algorithm);
        let plaintext = f.service.decrypt(&f.me, decrypt).unwrap().plaintext;
        assert_eq!(plaintext.as_slice(), b"card ending 4242");
    }
    // SYMMETRIC_DEFAULT, a context, or too much plaintext are refused.
    let plain = EncryptRequest::new(&key, b"x".to_vec());
    assert!(matches!(
        f.service.encrypt(&f.me, plain),
        Err(KmsError::InvalidKeyUsage(_))
    ));
    let mut with_context = EncryptRequest::new(&key, b"x".to_vec())
        .with_context(EncryptionContext::from_pairs([("a", "b")]).unwrap());
    with_context.encryption_algorithm = Some(EncryptionAlgorithm::RsaesOaepSha256);
    assert!(matches!(
        f.service.encrypt(&f.me, with_context),
        Err(KmsError::Validation(_))
    ));
    let mut too_long = EncryptRequest::new(&key, vec![1; 191]);
    too_long.encryption_algorithm = Some(EncryptionAlgorithm::RsaesOaepSha256);
    assert!(matches!(
        f.service.encrypt(&f.me, too_long),
        Err(KmsError::Validation(_))
    ));
}

#[test]
fn data_key_pairs_come_encrypted_under_a_symmetric_key() {
    let f = fixture();
    let key = f.key(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let context = EncryptionContext::from_pairs([("purpose", "signing")]).unwrap();
    for spec in [DataKeyPairSpec::EccNistP256, DataKeyPairSpec::Rsa2048] {
        let pair = f
            .service
            .generate_data_key_pair(
                &f.me,
                GenerateDataKeyPairRequest {
                    dry_run: false,
                    grant_tokens: Vec::new(),
                    key_id: key.clone(),
                    key_pair_spec: Some(spec),
                    encryption_context: context.clone(),
                },
            )
            .unwrap();
        let private = pair.private_key_plaintext.unwrap();
        let decrypted = f
            .service
            .decrypt(
                &f.me,
                DecryptRequest::new(pair.private_key_ciphertext_blob).with_context(context.clone()),
            )
            .unwrap()
            .plaintext;
        assert_eq!(decrypted.as_slice(), private.as_slice());
        // openssl reads the PKCS#8 private key and derives the same public key.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("private.der"), private.as_slice()).unwrap();
        let derived = openssl(
            dir.path(),
            &[
                "pkey",
                "-inform",
                "DER",
                "-in",
                "private.der",
                "-pubout",
                "-outform",
                "DER",
            ],
        );
        assert_eq!(derived, pair.public_key, "{spec}");
    }
    let without = f
        .service
        .generate_data_key_pair_without_plaintext(
            &f.me,
            GenerateDataKeyPairRequest {
                dry_run: false,
                grant_tokens: Vec::new(),
                key_id: key.clone(),
                key_pair_spec: Some(DataKeyPairSpec::EccSecgP256k1),
                encryption_context: context,
            },
        )
        .unwrap();
    assert!(without.private_key_plaintext.is_none());
    let json = serde_json::to_value(&without).unwrap();
    assert!(json.get("PrivateKeyPlaintext").is_none(), "{json}");
    let signer = f.key(KeySpec::EccNistP256, KeyUsage::SignVerify);
    let refused = f.service.generate_data_key_pair(
        &f.me,
        GenerateDataKeyPairRequest {
            dry_run: false,
            grant_tokens: Vec::new(),
            key_id: signer,
            key_pair_spec: Some(DataKeyPairSpec::EccNistP256),
            encryption_context: EncryptionContext::new(),
        },
    );
    assert!(matches!(refused, Err(KmsError::InvalidKeyUsage(_))));
}

// ----- interop with openssl -----

/// Runs openssl in `dir`; panics with its stderr when it fails.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is needed for the interop tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn openssl_verifies_our_signatures() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let message = b"a release manifest";
    std::fs::write(dir.path().join("message"), message).unwrap();
    let cases: &[(KeySpec, SigningAlgorithmSpec, &str, &[&str])] = &[
        (
            KeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            "-sha256",
            &[],
        ),
        (
            KeySpec::EccNistP384,
            SigningAlgorithmSpec::EcdsaSha384,
            "-sha384",
            &[],
        ),
        (
            KeySpec::EccNistP521,
            SigningAlgorithmSpec::EcdsaSha512,
            "-sha512",
            &[],
        ),
        (
            KeySpec::EccSecgP256k1,
            SigningAlgorithmSpec::EcdsaSha256,
            "-sha256",
            &[],
        ),
        (
            KeySpec::Rsa2048,
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            "-sha256",
            &[],
        ),
        (
            KeySpec::Rsa2048,
            SigningAlgorithmSpec::RsassaPssSha384,
            "-sha384",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:48",
            ],
        ),
    ];
    for (spec, algorithm, digest, options) in cases {
        let key = f.key(*spec, KeyUsage::SignVerify);
        std::fs::write(dir.path().join("public.der"), f.public_key(&key)).unwrap();
        let signature = f.sign(&key, *algorithm, message).unwrap();
        std::fs::write(dir.path().join("signature"), &signature).unwrap();
        let mut args = vec!["dgst", digest, "-keyform", "DER", "-verify", "public.der"];
        args.extend_from_slice(options);
        args.extend(["-signature", "signature", "message"]);
        let said = openssl(dir.path(), &args);
        assert_eq!(
            String::from_utf8_lossy(&said).trim(),
            "Verified OK",
            "{spec} {algorithm}"
        );
    }
}

#[test]
fn we_decrypt_what_openssl_encrypted_to_our_public_key() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let key = f.key(KeySpec::Rsa3072, KeyUsage::EncryptDecrypt);
    std::fs::write(dir.path().join("public.der"), f.public_key(&key)).unwrap();
    std::fs::write(dir.path().join("secret"), b"from a tool nobody here wrote").unwrap();
    for (algorithm, md) in [
        (EncryptionAlgorithm::RsaesOaepSha256, "sha256"),
        (EncryptionAlgorithm::RsaesOaepSha1, "sha1"),
    ] {
        let ciphertext = openssl(
            dir.path(),
            &[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "public.der",
                "-in",
                "secret",
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &format!("rsa_oaep_md:{md}"),
                "-pkeyopt",
                &format!("rsa_mgf1_md:{md}"),
            ],
        );
        let mut req = DecryptRequest::new(ciphertext).with_key(&key);
        req.encryption_algorithm = Some(algorithm);
        let plaintext = f.service.decrypt(&f.me, req).unwrap().plaintext;
        assert_eq!(plaintext.as_slice(), b"from a tool nobody here wrote");
    }
}

#[test]
fn openssl_derives_the_same_ecdh_secret() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let key = f.key(KeySpec::EccNistP384, KeyUsage::KeyAgreement);
    std::fs::write(dir.path().join("kms.der"), f.public_key(&key)).unwrap();
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "peer.pem",
        ],
    );
    let peer_public = openssl(
        dir.path(),
        &["pkey", "-in", "peer.pem", "-pubout", "-outform", "DER"],
    );
    let theirs = openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-derive",
            "-inkey",
            "peer.pem",
            "-peerform",
            "DER",
            "-peerkey",
            "kms.der",
        ],
    );
    let ours = f
        .service
        .derive_shared_secret(
            &f.me,
            DeriveSharedSecretRequest {
                dry_run: false,
                grant_tokens: Vec::new(),
                key_id: key,
                key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
                public_key: peer_public,
            },
        )
        .unwrap()
        .shared_secret;
    assert_eq!(ours.as_slice(), theirs.as_slice());
}

#[test]
fn re_encrypt_moves_ciphertexts_between_symmetric_and_rsa_keys() {
    use kms_service::ReEncryptRequest;
    let f = fixture();
    let symmetric = f.key(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let rsa = f.key(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let blob = f
        .service
        .encrypt(
            &f.me,
            EncryptRequest::new(&symmetric, b"moving".to_vec()).with_context(context.clone()),
        )
        .unwrap()
        .ciphertext_blob;
    // Symmetric to RSA.
    let to_rsa = f
        .service
        .re_encrypt(
            &f.me,
            ReEncryptRequest {
                ciphertext_blob: blob,
                source_encryption_context: context.clone(),
                destination_key_id: rsa.clone(),
                destination_encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
                ..ReEncryptRequest::default()
            },
        )
        .unwrap();
    assert_eq!(
        to_rsa.destination_encryption_algorithm,
        EncryptionAlgorithm::RsaesOaepSha256
    );
    // RSA back to symmetric, with a new context.
    let back = f
        .service
        .re_encrypt(
            &f.me,
            ReEncryptRequest {
                ciphertext_blob: to_rsa.ciphertext_blob,
                source_key_id: Some(rsa.clone()),
                source_encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
                destination_key_id: symmetric.clone(),
                destination_encryption_context: context.clone(),
                ..ReEncryptRequest::default()
            },
        )
        .unwrap();
    let plaintext = f
        .service
        .decrypt(
            &f.me,
            DecryptRequest::new(back.ciphertext_blob).with_context(context),
        )
        .unwrap()
        .plaintext;
    assert_eq!(plaintext.as_slice(), b"moving");
    // An RSA destination needs an RSAES algorithm.
    let blob = f
        .service
        .encrypt(&f.me, EncryptRequest::new(&symmetric, b"x".to_vec()))
        .unwrap()
        .ciphertext_blob;
    let refused = f.service.re_encrypt(
        &f.me,
        ReEncryptRequest {
            ciphertext_blob: blob,
            destination_key_id: rsa,
            ..ReEncryptRequest::default()
        },
    );
    assert!(
        matches!(refused, Err(KmsError::InvalidKeyUsage(_))),
        "{refused:?}"
    );
}

// ----- persistence -----

#[test]
fn key_pairs_survive_reopening_the_vault_file_and_never_appear_in_it() {
    use kms_vault::{RootKey, SqliteStore, Vault};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let root = RootKey::create_file(&dir.path().join("root.key")).unwrap();
    Vault::create(
        Box::new(SqliteStore::open(&path).unwrap()),
        root.clone(),
        "111122223333",
        "us-east-1",
    )
    .unwrap();
    let service = Service::open_sqlite(&path, root.clone()).unwrap();
    let me = Caller::account_root(service.account());
    let vault = Vault::open(Box::new(SqliteStore::open(&path).unwrap()), root.clone()).unwrap();
    let f = Fixture { service, me, vault };
    let specs = [
        (
            KeySpec::EccNistP256,
            KeyUsage::SignVerify,
            SigningAlgorithmSpec::EcdsaSha256,
        ),
        (
            KeySpec::Rsa2048,
            KeyUsage::SignVerify,
            SigningAlgorithmSpec::RsassaPssSha256,
        ),
        (
            KeySpec::MlDsa44,
            KeyUsage::SignVerify,
            SigningAlgorithmSpec::MlDsaShake256,
        ),
    ];
    let mut signed = Vec::new();
    let mut secrets = Vec::new();
    for (spec, usage, algorithm) in specs {
        let key = f.key(spec, usage);
        let signature = f.sign(&key, algorithm, b"kept").unwrap();
        let material = f
            .vault
            .key_material(&key.parse().unwrap(), spec, 1)
            .unwrap();
        let sealable = material.to_sealable().unwrap();
        // The whole encoding, and a 24-byte stretch from its end (inside the private scalar,
        // seed or private exponent).
        secrets.push(sealable.to_vec());
        secrets.push(sealable[sealable.len() - 24..].to_vec());
        signed.push((key, algorithm, signature));
    }
    let hmac = f.key(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let hmac_key = f
        .vault
        .key_material(&hmac.parse().unwrap(), KeySpec::Hmac256, 1)
        .unwrap()
        .to_sealable()
        .unwrap();
    secrets.push(hmac_key.to_vec());
    drop(f);

    let service = Service::open_sqlite(&path, root.clone()).unwrap();
    let me = Caller::account_root(service.account());
    let vault = Vault::open(Box::new(SqliteStore::open(&path).unwrap()), root).unwrap();
    let f = Fixture { service, me, vault };
    for (key, algorithm, signature) in &signed {
        f.verify(key, *algorithm, MessageType::Raw, b"kept", signature)
            .unwrap();
    }
    drop(f);
    let mut file = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("vault.db-wal")) {
        file.extend(wal);
    }
    for secret in &secrets {
        assert!(
            !file.windows(secret.len()).any(|w| w == &secret[..]),
            "private key bytes found in the vault file"
        );
    }
    // Positive control: the scan does find what is stored in clear (a key id).
    let (key, _, _) = &signed[0];
    assert!(file.windows(key.len()).any(|w| w == key.as_bytes()));
}
