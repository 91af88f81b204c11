//! The crypto provider this build runs on (RustCrypto, or AWS-LC with `--features aws-lc-rs`)
//! against `openssl speed`, measured in the same run, for issue 14's two goals: envelope sealing
//! of 16 KiB (the ciphertext blob Encrypt returns) at ≥ 1.5× `openssl speed -evp aes-256-gcm`,
//! and P-256 signing (ECDSA_SHA_256 of a 32-byte digest) at ≥ 1.2× `openssl speed ecdsap256`.
//!
//! Run with `cargo bench -p kms --bench providers [--features aws-lc-rs]` (add `-- --quick` for
//! a shorter run). Without `openssl` on the PATH it says so and prints only its own figures.

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

#[path = "util.rs"]
mod util;
use util::ops_per_second;

use kms_core::types::{EncryptionContext, KeyId, KeySpec};
use kms_crypto::SymmetricKey;
use kms_crypto::asymmetric::{KeyMaterial, MessageType, SigningAlgorithm};
use kms_crypto::blob::{self, BlobKind};

const PAYLOAD: usize = 16 * 1024;

/// Runs `openssl speed -mr` with `args`; the fields of its first `prefix` line, or `None` when
/// openssl is absent or printed no such line.
fn openssl_speed(args: &[&str], prefix: &str) -> Option<Vec<f64>> {
    let output = Command::new("openssl")
        .arg("speed")
        .arg("-mr")
        .args(args)
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(|rest| {
            rest.split(':')
                .filter_map(|field| field.parse().ok())
                .collect()
        })
}

/// `openssl speed -evp aes-256-gcm` at 16 KiB, in MB/s (`-mr` prints bytes per second).
fn openssl_aes_gcm(seconds: &str) -> Option<f64> {
    // "+F:<index>:aes-256-gcm:<bytes/s>"
    let fields = openssl_speed(
        &[
            "-evp",
            "aes-256-gcm",
            "-bytes",
            "16384",
            "-seconds",
            seconds,
        ],
        "+F:",
    )?;
    fields.last().map(|bytes_per_second| bytes_per_second / 1e6)
}

/// `openssl speed ecdsap256` signatures per second.
fn openssl_p256_sign(seconds: &str) -> Option<f64> {
    // "+F4:<index>:256:<sign/s>:<verify/s>"
    let fields = openssl_speed(&["-seconds", seconds, "ecdsap256"], "+F4:")?;
    match fields[..] {
        [_, 256.0, sign, _] => Some(sign),
        _ => None,
    }
}

fn compare(what: &str, ours: f64, theirs: Option<f64>, unit: &str, goal: f64) {
    match theirs {
        Some(theirs) => {
            let ratio = ours / theirs;
            let verdict = if ratio >= goal { "met" } else { "missed" };
            println!(
                "{what:<44} {ours:>10.0} {unit:<7} openssl {theirs:>10.0} {unit:<7} \
                 {ratio:>5.2}x (goal {goal}x: {verdict})"
            );
        }
        None => println!("{what:<44} {ours:>10.0} {unit:<7} (no openssl figure)"),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (budget, seconds) = if quick {
        (Duration::from_millis(500), "1")
    } else {
        (Duration::from_secs(2), "2")
    };
    println!("provider: {}", kms_crypto::PROVIDER);
    if Command::new("openssl").arg("version").output().is_err() {
        println!("openssl not found: printing this provider's figures only");
    }
    let openssl_gcm = openssl_aes_gcm(seconds);
    let openssl_sign = openssl_p256_sign(seconds);

    let key = SymmetricKey::generate().unwrap();
    let id = KeyId::random();
    let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
    let plaintext = vec![0x42u8; PAYLOAD];
    let blobs = ops_per_second(budget, || {
        black_box(blob::seal(BlobKind::Ciphertext, &id, 1, &key, &plaintext, &context).unwrap());
    });
    let to_mb = |ops: f64| ops * PAYLOAD as f64 / 1e6;
    compare(
        "envelope sealing, 16 KiB ciphertext blob",
        to_mb(blobs),
        openssl_gcm,
        "MB/s",
        1.5,
    );
    let sealed = ops_per_second(budget, || {
        black_box(key.seal(&plaintext, b"").unwrap());
    });
    compare(
        "AES-256-GCM SymmetricKey::seal, 16 KiB",
        to_mb(sealed),
        openssl_gcm,
        "MB/s",
        1.5,
    );

    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let digest = [0x42u8; 32];
    let signs = ops_per_second(budget, || {
        black_box(
            p256.sign(SigningAlgorithm::EcdsaSha256, MessageType::Digest, &digest)
                .unwrap(),
        );
    });
    compare(
        "P-256 ECDSA_SHA_256 sign, 32-byte DIGEST",
        signs,
        openssl_sign,
        "sign/s",
        1.2,
    );
}
