//! What the host keeps behind a guest's `key` and `data-key` handles. Plain data, named by the
//! generated bindings (`with`) and used by the interface modules, so that the bindings depend on
//! nothing that depends on them.

use std::time::Instant;

use kms_core::types::KeyId;
use kms_service::DataKey;

/// A guest's handle on a KMS key: only the key's id; what it may do is decided at each call.
#[derive(Debug)]
pub struct KeyHandle {
    pub(crate) key_id: KeyId,
}

/// A data key held in the host for a guest: the façade's [`DataKey`], whose plaintext never
/// crosses into the guest unless the instance was granted `reveal`, with how old it is and how
/// much it has sealed.
#[derive(Debug)]
pub struct DataKeyHandle {
    pub(crate) key: DataKey,
    pub(crate) created: Instant,
    pub(crate) seals: u64,
}

impl DataKeyHandle {
    /// A handle on `key`, created now, that has sealed nothing yet.
    pub(crate) fn new(key: DataKey) -> Self {
        DataKeyHandle {
            key,
            created: Instant::now(),
            seals: 0,
        }
    }
}
