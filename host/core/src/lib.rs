//! `kms_core`: the KMS vocabulary every layer of the host shares: key ids, key specs and states,
//! encryption context, principal ARNs, the [`Caller`] and the one error type, [`KmsError`].
//! Plain values checked at construction; no storage, no crypto, no transport.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arn;
pub mod blocking;
mod caller;
mod condition;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
mod operation;
pub mod types;

pub use caller::{CallSource, Caller};
pub use condition::ConditionKey;
pub use error::{KmsError, KmsResult};
pub use operation::{Operation, QuotaClass, UnknownOperation};
pub use types::{EncryptionContext, KeyId};
