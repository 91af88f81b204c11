//! Sign and verify operations per second for every key-pair spec, through the project's own
//! crypto module, next to `openssl speed` figures taken in the same run (where OpenSSL has the
//! algorithm: it has no secp256k1 or ML-DSA in `speed` on OpenSSL 3.0).
//!
//! Run with `cargo bench -p kms --bench signatures` (add `-- --quick` for a shorter run).

use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

#[path = "util.rs"]
mod util;
use util::ops_per_second;

use kms_core::types::KeySpec;
use kms_crypto::asymmetric::{KeyMaterial, MessageType, signing_algorithms_for};

/// `openssl speed -mr` sign/s and verify/s, by (kind, bits): kind 2 is RSA, 4 is ECDSA.
fn openssl_speed(seconds: u32) -> HashMap<(u32, u32), (f64, f64)> {
    let algorithms = [
        "rsa2048",
        "rsa3072",
        "rsa4096",
        "ecdsap256",
        "ecdsap384",
        "ecdsap521",
    ];
    let output = Command::new("openssl")
        .args(["speed", "-mr", "-seconds", &seconds.to_string()])
        .args(algorithms)
        .output();
    let mut figures = HashMap::new();
    let Ok(output) = output else {
        println!("(openssl not found: no baseline)");
        return figures;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(rest) = line.strip_prefix("+F") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(':').collect();
        if let [kind, _, bits, sign, verify] = fields[..]
            && let (Ok(kind), Ok(bits), Ok(sign), Ok(verify)) =
                (kind.parse(), bits.parse(), sign.parse(), verify.parse())
        {
            figures.insert((kind, bits), (sign, verify));
        }
    }
    figures
}

fn openssl_key(spec: KeySpec) -> Option<(u32, u32)> {
    match spec {
        KeySpec::Rsa2048 => Some((2, 2048)),
        KeySpec::Rsa3072 => Some((2, 3072)),
        KeySpec::Rsa4096 => Some((2, 4096)),
        KeySpec::EccNistP256 => Some((4, 256)),
        KeySpec::EccNistP384 => Some((4, 384)),
        KeySpec::EccNistP521 => Some((4, 521)),
        _ => None,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(1)
    };
    let baseline = openssl_speed(if quick { 1 } else { 2 });
    println!(
        "{:<16} {:<28} {:>12} {:>12} {:>14} {:>14}",
        "spec", "algorithm", "sign/s", "verify/s", "openssl sign", "openssl verify"
    );
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::MlDsa44,
        KeySpec::MlDsa65,
        KeySpec::MlDsa87,
    ] {
        let key = KeyMaterial::generate(spec).unwrap();
        // The first algorithm of each spec: PSS-SHA-256 for RSA, the curve's ECDSA, ML-DSA.
        let algorithm = signing_algorithms_for(spec)[0];
        let message = [0x42u8; 32];
        let signature = key.sign(algorithm, MessageType::Raw, &message).unwrap();
        let sign = ops_per_second(budget, || {
            black_box(key.sign(algorithm, MessageType::Raw, &message).unwrap());
        });
        let verify = ops_per_second(budget, || {
            key.verify(algorithm, MessageType::Raw, &message, &signature)
                .unwrap();
        });
        let versus = |ours: f64, theirs: Option<f64>| match theirs {
            Some(theirs) => format!("{theirs:>8.0} ({:.2}x)", ours / theirs),
            None => format!("{:>14}", "-"),
        };
        let theirs = openssl_key(spec).and_then(|k| baseline.get(&k).copied());
        println!(
            "{:<16} {:<28} {:>12.0} {:>12.0} {:>14} {:>14}",
            spec.to_string(),
            algorithm.to_string(),
            sign,
            verify,
            versus(sign, theirs.map(|t| t.0)),
            versus(verify, theirs.map(|t| t.1)),
        );
    }
}
