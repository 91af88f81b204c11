//! Request-rate quotas, per account and operation class, as AWS KMS applies them: a token
//! bucket per (account, class) that refills at the class's rate and holds one second of it.
//! Past it, requests get ThrottlingException.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

use kms_core::types::{KeySpec, KeyUsage};
use kms_core::{Operation, QuotaClass};

/// The classes AWS KMS shares request quotas among.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// Cryptographic operations on symmetric encryption keys (and GenerateRandom).
    Symmetric,
    /// Cryptographic operations on RSA keys.
    Rsa,
    /// Cryptographic operations on ECC keys (and ML-DSA keys).
    Ecc,
    /// GenerateMac and VerifyMac.
    Hmac,
    /// Everything else: creating, describing, listing, tagging, policies, grants …
    Management,
}

impl OpClass {
    /// Every class, in the order of [`RateLimits::per_second`].
    pub const ALL: [OpClass; 5] = [
        OpClass::Symmetric,
        OpClass::Rsa,
        OpClass::Ecc,
        OpClass::Hmac,
        OpClass::Management,
    ];

    fn index(self) -> usize {
        OpClass::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    /// The name used in configuration (`symmetric`, `rsa`, `ecc`, `hmac`, `management`).
    pub fn name(self) -> &'static str {
        match self {
            OpClass::Symmetric => "symmetric",
            OpClass::Rsa => "rsa",
            OpClass::Ecc => "ecc",
            OpClass::Hmac => "hmac",
            OpClass::Management => "management",
        }
    }
}

impl FromStr for OpClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OpClass::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!("'{s}' is not a quota class (symmetric, rsa, ecc, hmac, management)")
            })
    }
}

/// The class of `operation`. Only a cryptographic operation asks `key` for the spec and usage of
/// the key it names (`None` when the key is not known, e.g. a Decrypt of a symmetric ciphertext,
/// which names its key inside the blob).
pub fn classify(
    operation: Operation,
    key: impl FnOnce() -> Option<(KeySpec, KeyUsage)>,
) -> OpClass {
    match operation.quota_class() {
        QuotaClass::Symmetric => return OpClass::Symmetric,
        QuotaClass::Management => return OpClass::Management,
        QuotaClass::ByKeyType => {}
    }
    match key() {
        None => OpClass::Symmetric,
        Some((_, KeyUsage::GenerateVerifyMac)) => OpClass::Hmac,
        Some((spec, _)) => class_of_spec(spec),
    }
}

/// The class of cryptographic work on a key of `spec`.
fn class_of_spec(spec: KeySpec) -> OpClass {
    match spec {
        KeySpec::SymmetricDefault => OpClass::Symmetric,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => OpClass::Rsa,
        KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => OpClass::Hmac,
        _ => OpClass::Ecc,
    }
}

/// The class of a GenerateDataKeyPair* request by what it costs: the pair it generates (an
/// RSA-4096 pair takes seconds of CPU), not the symmetric key that encrypts it.
pub fn classify_key_pair(spec: kms_core::types::DataKeyPairSpec) -> OpClass {
    class_of_spec(spec.key_spec())
}

/// Requests per second allowed per account, by class.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    /// In the order of [`OpClass::ALL`].
    pub per_second: [f64; 5],
}

impl Default for RateLimits {
    /// AWS's default quotas: 5,500/s symmetric (the smallest regional value), 500/s RSA,
    /// 300/s ECC, 2,000/s HMAC; management operations, whose quotas AWS sets per operation
    /// (5–50/s), share 50/s here.
    fn default() -> Self {
        RateLimits {
            per_second: [5500.0, 500.0, 300.0, 2000.0, 50.0],
        }
    }
}

impl RateLimits {
    /// Sets one class's rate from `class=rate`.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (class, rate) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected CLASS=REQUESTS_PER_SECOND, got '{spec}'"))?;
        let class: OpClass = class.parse()?;
        let rate: f64 = rate
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| format!("'{rate}' is not a positive number of requests per second"))?;
        self.per_second[class.index()] = rate;
        Ok(())
    }
}

/// A token bucket holding one second of `rate`.
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket for `rate` at `now`.
    fn full(rate: f64, now: Instant) -> Self {
        Bucket {
            tokens: rate,
            last: now,
        }
    }

    /// Refills for the time since the last call and takes one token; `false` when empty.
    fn take(&mut self, rate: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Token buckets per (account, region, class): AWS's request quotas are per account and region.
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<(String, String, OpClass), Bucket>>,
}

impl RateLimiter {
    /// A limiter with these rates.
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `class` for `account` in `region` at `now`; `false` when the
    /// bucket is empty.
    pub fn admit_at(&self, account: &str, region: &str, class: OpClass, now: Instant) -> bool {
        let rate = self.limits.per_second[class.index()];
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry((account.to_string(), region.to_string(), class))
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }

    /// [`admit_at`](Self::admit_at) now.
    pub fn admit(&self, account: &str, region: &str, class: OpClass) -> bool {
        self.admit_at(account, region, class, Instant::now())
    }
}

/// Refusals of requests that never authenticated, per source address: each is audited until its
/// source passes `per_second` (bucket of one second); beyond that they are still answered but
/// not recorded one by one, and the next recorded refusal of that source says how many were
/// left out. A flood of garbage cannot fill the vault's disk at the speed of the network.
pub struct RefusalLimiter {
    per_second: f64,
    sources: Mutex<HashMap<std::net::IpAddr, (Bucket, u64)>>,
}

/// Whether a refusal is audited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalRecord {
    /// Audit it, noting this many earlier refusals of its source that were not recorded.
    Record {
        /// Refusals left out since the last recorded one.
        left_out: u64,
    },
    /// Answer it without an audit record (counted for the next recorded one).
    Skip,
}

/// Sources tracked at most; past this the table starts over (forgetting only counts).
const MAX_REFUSAL_SOURCES: usize = 100_000;

impl RefusalLimiter {
    /// A limiter auditing up to `per_second` refusals per source.
    pub fn new(per_second: f64) -> Self {
        RefusalLimiter {
            per_second,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Decides about one refusal of a request from `source` at `now`.
    pub fn refusal_at(&self, source: std::net::IpAddr, now: Instant) -> RefusalRecord {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if sources.len() >= MAX_REFUSAL_SOURCES && !sources.contains_key(&source) {
            sources.clear();
        }
        let rate = self.per_second;
        let (bucket, left_out) = sources
            .entry(source)
            .or_insert_with(|| (Bucket::full(rate, now), 0));
        if bucket.take(rate, now) {
            RefusalRecord::Record {
                left_out: std::mem::take(left_out),
            }
        } else {
            *left_out += 1;
            RefusalRecord::Skip
        }
    }

    /// [`refusal_at`](Self::refusal_at) now.
    pub fn refusal(&self, source: std::net::IpAddr) -> RefusalRecord {
        self.refusal_at(source, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn data_key_pairs_are_classed_by_the_pair_they_generate() {
        use kms_core::types::DataKeyPairSpec;
        assert_eq!(classify_key_pair(DataKeyPairSpec::Rsa4096), OpClass::Rsa);
        assert_eq!(
            classify_key_pair(DataKeyPairSpec::EccNistP256),
            OpClass::Ecc
        );
        assert_eq!(classify_key_pair(DataKeyPairSpec::MlKem768), OpClass::Ecc);
    }

    #[test]
    fn operations_are_classed_by_their_key() {
        assert_eq!(classify(Operation::CreateKey, || None), OpClass::Management);
        // A management operation never looks its key up.
        assert_eq!(
            classify(Operation::TagResource, || unreachable!("looked up")),
            OpClass::Management
        );
        assert_eq!(classify(Operation::Decrypt, || None), OpClass::Symmetric);
        assert_eq!(
            classify(Operation::Sign, || Some((
                KeySpec::Rsa2048,
                KeyUsage::SignVerify
            ))),
            OpClass::Rsa
        );
        assert_eq!(
            classify(Operation::Sign, || Some((
                KeySpec::EccNistP256,
                KeyUsage::SignVerify
            ))),
            OpClass::Ecc
        );
        assert_eq!(
            classify(Operation::GenerateMac, || Some((
                KeySpec::Hmac256,
                KeyUsage::GenerateVerifyMac
            ))),
            OpClass::Hmac
        );
        assert_eq!(
            classify(Operation::GenerateRandom, || None),
            OpClass::Symmetric
        );
        assert_eq!(
            classify(Operation::DescribeKey, || Some((
                KeySpec::Rsa2048,
                KeyUsage::SignVerify
            ))),
            OpClass::Management
        );
    }

    #[test]
    fn a_bucket_holds_one_second_and_refills_at_its_rate() {
        let mut limits = RateLimits::default();
        limits.set("management=10").unwrap();
        let limiter = RateLimiter::new(limits);
        let t0 = Instant::now();
        let admitted = (0..20)
            .filter(|_| limiter.admit_at("111122223333", "us-east-1", OpClass::Management, t0))
            .count();
        assert_eq!(admitted, 10);
        // Another account has its own bucket, another region and another class too.
        assert!(limiter.admit_at("111122223333", "eu-west-1", OpClass::Management, t0));
        assert!(limiter.admit_at("444455556666", "us-east-1", OpClass::Management, t0));
        assert!(limiter.admit_at("111122223333", "us-east-1", OpClass::Symmetric, t0));
        // A tenth of a second later, one more.
        let later = t0 + Duration::from_millis(100);
        assert!(limiter.admit_at("111122223333", "us-east-1", OpClass::Management, later));
        assert!(!limiter.admit_at("111122223333", "us-east-1", OpClass::Management, later));
    }

    #[test]
    fn rates_are_parsed_strictly() {
        let mut limits = RateLimits::default();
        assert!(limits.set("rsa=20").is_ok());
        assert_eq!(limits.per_second[1], 20.0);
        for bad in ["rsa", "dsa=1", "rsa=0", "rsa=-3", "rsa=x"] {
            assert!(limits.set(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod refusal_tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn refusals_past_the_rate_are_counted_not_recorded() {
        let limiter = RefusalLimiter::new(5.0);
        let flood: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let other: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        let outcomes: Vec<_> = (0..8).map(|_| limiter.refusal_at(flood, t0)).collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == RefusalRecord::Skip)
                .count(),
            3
        );
        // Another source is not held back by the flood.
        assert_eq!(
            limiter.refusal_at(other, t0),
            RefusalRecord::Record { left_out: 0 }
        );
        // The next recorded refusal of the flooding source says how many were left out.
        let later = t0 + Duration::from_millis(300);
        assert_eq!(
            limiter.refusal_at(flood, later),
            RefusalRecord::Record { left_out: 3 }
        );
    }
}
