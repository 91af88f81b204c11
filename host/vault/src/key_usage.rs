//! The last successful cryptographic use of each key (what GetKeyLastUsage answers). The
//! service keeps uses in memory and writes them here in batches, so that a request costs no
//! extra durable write; a store keeps, per key, the latest use it was handed.

use serde::{Deserialize, Serialize};

use kms_core::error::KmsResult;
use kms_core::types::KeyId;

/// One successful cryptographic use of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLastUse {
    /// The key that was used.
    pub key_id: KeyId,
    /// The region of the key that was used (related multi-Region keys share an id).
    pub region: String,
    /// The operation, as AWS names it (`Encrypt`, `Sign`, …).
    pub operation: String,
    /// When, seconds since the epoch.
    pub at: u64,
    /// The sequence number of the call's record in the audit trail (AWS: the CloudTrail event id).
    pub audit_seq: u64,
    /// The request id of the call.
    pub request_id: String,
}

/// Where the last uses of keys are kept.
pub trait KeyUsageStore: Send + Sync {
    /// Records a batch of uses, keeping for each key the latest of the stored use and the
    /// batch's (by time, then audit sequence), so that nodes writing in any order agree.
    fn record_key_uses(&self, uses: &[KeyLastUse]) -> KmsResult<()>;
    /// The latest recorded use of the key `key_id` of `region`, if any.
    fn key_last_use(&self, region: &str, key_id: &KeyId) -> KmsResult<Option<KeyLastUse>>;
}

impl KeyLastUse {
    /// Whether `self` happened after `other`: the order the stores keep the latest by.
    pub fn is_later_than(&self, other: &KeyLastUse) -> bool {
        (self.at, self.audit_seq) > (other.at, other.audit_seq)
    }
}
