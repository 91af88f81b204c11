//! `kms_host`: a self-hostable key management service modelled on AWS KMS.
//!
//! The host holds all key material and performs every cryptographic operation. Every front door
//! (the `kms` command line, the Rust embedding API, guest host calls and the HTTP API)
//! goes through one façade, [`Service`]:
//!
//! ```
//! use kms_host::{Caller, EncryptionContext, Service};
//! use kms_host::service::{CreateKeyRequest, DecryptRequest, EncryptRequest};
//!
//! let service = Service::in_memory().unwrap();
//! let admin = Caller::account_root(service.account());
//! let key = service.create_key(&admin, CreateKeyRequest::default()).unwrap().key_metadata;
//! let context = EncryptionContext::from_pairs([("tenant", "acme")]).unwrap();
//! let sealed = service
//!     .encrypt(&admin, EncryptRequest::new(&key.key_id, b"hello".to_vec()).with_context(context.clone()))
//!     .unwrap();
//! let opened = service
//!     .decrypt(&admin, DecryptRequest::new(sealed.ciphertext_blob).with_context(context))
//!     .unwrap();
//! assert_eq!(opened.plaintext.as_slice(), b"hello");
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod authz;
pub mod cli;
pub mod crypto;
pub mod envelope;
mod error;
pub mod runtime;
pub mod server;
pub mod service;
pub mod types;
pub mod vault;

pub use error::{KmsError, KmsResult};
pub use service::{CallSource, Caller, Clock, Service};
pub use types::{EncryptionContext, KeyId};
