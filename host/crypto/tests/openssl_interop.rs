//! Interop with the `openssl` command line, which nobody here wrote: key material wrapped for
//! import as AWS's "Importing key material" documentation does it with `openssl pkeyutl` and
//! `openssl enc -id-aes256-wrap-pad`, and Ed25519 signatures that openssl verifies.

use std::path::Path;
use std::process::Command;

use kms_crypto::asymmetric::{KeyMaterial, MessageType, SigningAlgorithm};
use kms_crypto::key_import::{KeySpec, WrappingAlgorithmSpec, WrappingKey, WrappingKeySpec};

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

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

/// `openssl pkeyutl -encrypt` with RSAES-OAEP of `md` (hash and MGF1) to `public.der`.
fn oaep_encrypt(dir: &Path, md: &str, input: &str, output: &str) {
    let hash = format!("rsa_oaep_md:{md}");
    let mgf1 = format!("rsa_mgf1_md:{md}");
    openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            "public.der",
            "-in",
            input,
            "-out",
            output,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &hash,
            "-pkeyopt",
            &mgf1,
        ],
    );
}

/// Wraps `material` with openssl the way AWS's documentation shows for `algorithm`.
fn wrap_with_openssl(dir: &Path, algorithm: WrappingAlgorithmSpec, material: &str) -> Vec<u8> {
    let md = match algorithm {
        WrappingAlgorithmSpec::RsaesOaepSha1 | WrappingAlgorithmSpec::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    };
    match algorithm {
        WrappingAlgorithmSpec::RsaesOaepSha1 | WrappingAlgorithmSpec::RsaesOaepSha256 => {
            oaep_encrypt(dir, md, material, "wrapped.bin");
            read(dir, "wrapped.bin")
        }
        WrappingAlgorithmSpec::RsaAesKeyWrapSha1 | WrappingAlgorithmSpec::RsaAesKeyWrapSha256 => {
            openssl(dir, &["rand", "-out", "aes-key.bin", "32"]);
            let aes_key = hex::encode(read(dir, "aes-key.bin"));
            openssl(
                dir,
                &[
                    "enc",
                    "-id-aes256-wrap-pad",
                    "-K",
                    &aes_key,
                    "-iv",
                    "A65959A6",
                    "-in",
                    material,
                    "-out",
                    "material-wrapped.bin",
                ],
            );
            oaep_encrypt(dir, md, "aes-key.bin", "aes-key-wrapped.bin");
            [
                read(dir, "aes-key-wrapped.bin"),
                read(dir, "material-wrapped.bin"),
            ]
            .concat()
        }
    }
}

#[test]
fn we_unwrap_key_material_that_openssl_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let wrapping = WrappingKey::generate(WrappingKeySpec::Rsa3072).unwrap();
    std::fs::write(dir.join("public.der"), wrapping.public_key_der().unwrap()).unwrap();

    // The test material of AWS's documentation: 32 random bytes, and private keys as PKCS#8 DER.
    openssl(dir, &["rand", "-out", "symmetric.bin", "32"]);
    for (algorithm, options, file) in [
        ("EC", &["-pkeyopt", "ec_paramgen_curve:P-256"][..], "p256"),
        ("RSA", &["-pkeyopt", "rsa_keygen_bits:2048"][..], "rsa"),
        ("ED25519", &[][..], "ed25519"),
    ] {
        let pem = format!("{file}.pem");
        let mut args = vec!["genpkey", "-algorithm", algorithm, "-out", &pem];
        args.extend_from_slice(options);
        openssl(dir, &args);
        // As AWS's documentation converts it: PKCS#8, DER, unencrypted.
        let der = format!("{file}.der");
        openssl(
            dir,
            &[
                "pkcs8", "-topk8", "-inform", "PEM", "-in", &pem, "-outform", "DER", "-nocrypt",
                "-out", &der,
            ],
        );
    }
    let cases = [
        ("symmetric.bin", KeySpec::SymmetricDefault),
        ("p256.der", KeySpec::EccNistP256),
        ("ed25519.der", KeySpec::EccNistEdwards25519),
        ("rsa.der", KeySpec::Rsa2048),
    ];
    for algorithm in [
        WrappingAlgorithmSpec::RsaesOaepSha1,
        WrappingAlgorithmSpec::RsaesOaepSha256,
        WrappingAlgorithmSpec::RsaAesKeyWrapSha1,
        WrappingAlgorithmSpec::RsaAesKeyWrapSha256,
    ] {
        for (file, spec) in cases {
            if spec == KeySpec::Rsa2048 && algorithm.as_aws_str().starts_with("RSAES") {
                continue; // a 2048-bit PKCS#8 key is longer than one OAEP block can carry
            }
            let blob = wrap_with_openssl(dir, algorithm, file);
            let key = wrapping
                .unwrap_key_material(algorithm, &blob, spec)
                .unwrap_or_else(|e| panic!("{algorithm} {spec}: {e}"));
            assert_eq!(key.spec(), spec);
            if spec != KeySpec::SymmetricDefault {
                let public = openssl(
                    dir,
                    &[
                        "pkey", "-inform", "DER", "-in", file, "-pubout", "-outform", "DER",
                    ],
                );
                assert_eq!(key.public_key_der().unwrap(), public, "{algorithm} {spec}");
            }
        }
    }
}

#[test]
fn openssl_verifies_our_ed25519_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let key = KeyMaterial::generate(KeySpec::EccNistEdwards25519).unwrap();
    let message = b"a release manifest";
    std::fs::write(dir.join("public.der"), key.public_key_der().unwrap()).unwrap();
    std::fs::write(dir.join("message"), message).unwrap();
    let signature = key
        .sign(SigningAlgorithm::Ed25519Sha512, MessageType::Raw, message)
        .unwrap();
    std::fs::write(dir.join("signature"), &signature).unwrap();
    let said = openssl(
        dir,
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            "public.der",
            "-rawin",
            "-in",
            "message",
            "-sigfile",
            "signature",
        ],
    );
    assert!(
        String::from_utf8_lossy(&said).contains("Signature Verified Successfully"),
        "{}",
        String::from_utf8_lossy(&said)
    );
}
