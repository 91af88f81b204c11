//! Data-key wrapper: envelope encryption of payloads of any size with data keys the component
//! never sees, and a data-key cache bounded like the AWS Encryption SDK's caching materials
//! manager (max age, max messages, max bytes per data key).
//!
//! # Envelope format, version 1
//!
//! ```text
//! offset  size  field
//!      0     4  magic "KMSW"
//!      4     1  format version, 0x01
//!      5     2  length W of the wrapped data key, big-endian
//!      7     W  the wrapped data key (a `kms:vault` ciphertext blob; it names its KMS key)
//!    7+W     4  chunk size C, big-endian (65536)
//!   11+W     …  chunks: each is `data-key.seal(chunk, aad)` = 12-byte nonce, ciphertext, 16-byte
//!               tag; every chunk but the last holds C plaintext bytes, the last 0 to C
//! ```
//!
//! A chunk's associated data is the header (bytes 0 to 11+W), the chunk's index (u64,
//! big-endian) and a final flag (1 for the last chunk, else 0). Reordering, dropping, truncating
//! at a chunk boundary or appending chunks therefore fails, and every failure answers the same
//! `invalid-ciphertext`. The encryption context is bound through the wrapped data key: `open`
//! unwraps it with the caller's context, which must equal the one given to `seal`.
//!
//! # Settings
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `cache-max-age-ms` | 300000 | a cached data key is used for at most this long |
//! | `cache-max-messages` | 1000 | ... for at most this many envelopes (0 turns caching off) |
//! | `cache-max-bytes` | 1073741824 | ... for at most this many plaintext bytes in all |
//! | `cache-capacity` | 16 | at most this many data keys are cached at once |
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use bindings::exports::kms::vault::envelope::Guest;
use bindings::kms::vault::config;
use kms_guest::types::{DataKeySpec, EncryptionContext};
use kms_guest::{InstanceState, KmsError, data_keys, keys};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/data-key-wrapper",
        with: {
            "kms:vault/types@0.2.0": kms_guest::types,
            "kms:vault/keys@0.2.0": kms_guest::keys,
            "kms:vault/data-keys@0.2.0": kms_guest::data_keys,
            "kms:vault/log@0.2.0": kms_guest::log,
        },
    });
}

const MAGIC: &[u8; 4] = b"KMSW";
const VERSION: u8 = 1;
const CHUNK: usize = 64 * 1024;
/// Nonce and tag that `data-key.seal` adds to each chunk.
const SEAL_OVERHEAD: usize = 12 + 16;

/// Bounds on reusing one data key, read from the settings at each call.
struct Limits {
    max_age_ms: u64,
    max_messages: u64,
    max_bytes: u64,
    capacity: usize,
}

impl Limits {
    fn from_config() -> Self {
        let setting = |name: &str, default: u64| {
            config::get(name)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        Limits {
            max_age_ms: setting("cache-max-age-ms", 300_000),
            max_messages: setting("cache-max-messages", 1000),
            max_bytes: setting("cache-max-bytes", 1 << 30),
            capacity: setting("cache-capacity", 16) as usize,
        }
    }

    fn fresh(&self, key: &data_keys::DataKey) -> bool {
        key.age_ms() < self.max_age_ms
    }
}

/// A data key cached for sealing: which KMS key and context it belongs to, and its use so far.
struct SealEntry {
    kms_key: String,
    context: EncryptionContext,
    data_key: data_keys::DataKey,
    messages: u64,
    bytes: u64,
}

/// A data key cached for opening, by its wrapped bytes and context.
struct OpenEntry {
    wrapped: Vec<u8>,
    context: EncryptionContext,
    data_key: data_keys::DataKey,
}

struct Cache {
    seal: Vec<SealEntry>,
    open: Vec<OpenEntry>,
}

static CACHE: InstanceState<Cache> = InstanceState::new(Cache {
    seal: Vec::new(),
    open: Vec::new(),
});

fn invalid() -> KmsError {
    KmsError::invalid_ciphertext("The envelope is not valid")
}

fn chunk_aad(header: &[u8], index: u64, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + 9);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

/// Seals `plaintext` with `data_key` behind `wrapped`.
fn seal_with(
    data_key: &data_keys::DataKey,
    wrapped: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let wrapped_len = u16::try_from(wrapped.len())
        .map_err(|_| KmsError::internal("the wrapped data key is too long"))?;
    let chunks = plaintext.len().div_ceil(CHUNK).max(1);
    let mut envelope =
        Vec::with_capacity(11 + wrapped.len() + plaintext.len() + chunks * SEAL_OVERHEAD);
    envelope.extend_from_slice(MAGIC);
    envelope.push(VERSION);
    envelope.extend_from_slice(&wrapped_len.to_be_bytes());
    envelope.extend_from_slice(wrapped);
    envelope.extend_from_slice(&(CHUNK as u32).to_be_bytes());
    let header = envelope.clone();
    for index in 0..chunks {
        let start = index * CHUNK;
        let end = (start + CHUNK).min(plaintext.len());
        let aad = chunk_aad(&header, index as u64, index + 1 == chunks);
        envelope.extend(data_key.seal(&plaintext[start..end], &aad)?);
    }
    Ok(envelope)
}

struct Wrapper;

impl Guest for Wrapper {
    fn seal(
        key: String,
        plaintext: Vec<u8>,
        context: EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let limits = Limits::from_config();
        let length = plaintext.len() as u64;
        CACHE.with(|cache| {
            // Forget entries that have served their bounds.
            cache.seal.retain(|e| {
                limits.fresh(&e.data_key)
                    && e.messages < limits.max_messages
                    && e.bytes < limits.max_bytes
            });
            let usable = cache.seal.iter().position(|e| {
                e.kms_key == key && e.context == context && e.bytes + length <= limits.max_bytes
            });
            if let Some(at) = usable {
                let entry = &mut cache.seal[at];
                entry.messages += 1;
                entry.bytes += length;
                return seal_with(&entry.data_key, &entry.data_key.wrapped(), &plaintext);
            }
            let kms_key = keys::open(&key)?;
            let data_key = data_keys::generate(&kms_key, DataKeySpec::Aes256, &context)?;
            let envelope = seal_with(&data_key, &data_key.wrapped(), &plaintext)?;
            // The new data key replaces any spent one for the same key and context.
            cache
                .seal
                .retain(|e| !(e.kms_key == key && e.context == context));
            if limits.max_messages > 1 && length < limits.max_bytes && limits.capacity > 0 {
                if cache.seal.len() >= limits.capacity {
                    cache.seal.remove(0);
                }
                cache.seal.push(SealEntry {
                    kms_key: key,
                    context,
                    data_key,
                    messages: 1,
                    bytes: length,
                });
            }
            Ok(envelope)
        })
    }

    fn open(envelope: Vec<u8>, context: EncryptionContext) -> Result<Vec<u8>, KmsError> {
        let limits = Limits::from_config();
        if envelope.len() < 7 || &envelope[..4] != MAGIC || envelope[4] != VERSION {
            return Err(invalid());
        }
        let wrapped_len = usize::from(u16::from_be_bytes([envelope[5], envelope[6]]));
        let header_len = 7 + wrapped_len + 4;
        if envelope.len() < header_len {
            return Err(invalid());
        }
        let wrapped = &envelope[7..7 + wrapped_len];
        let chunk_size =
            u32::from_be_bytes(envelope[7 + wrapped_len..header_len].try_into().unwrap());
        if chunk_size as usize != CHUNK {
            return Err(invalid());
        }
        let header = &envelope[..header_len];
        let body = &envelope[header_len..];
        // Every chunk but the last is exactly CHUNK + overhead; the last is what remains.
        let sealed_chunk = CHUNK + SEAL_OVERHEAD;
        let chunks = if body.len() <= sealed_chunk {
            1
        } else {
            body.len().div_ceil(sealed_chunk)
        };
        if body.len() < SEAL_OVERHEAD + (chunks - 1) * sealed_chunk {
            return Err(invalid());
        }
        CACHE.with(|cache| {
            cache.open.retain(|e| limits.fresh(&e.data_key));
            let cached = cache
                .open
                .iter()
                .position(|e| e.wrapped == wrapped && e.context == context);
            let at = match cached {
                Some(at) => at,
                None => {
                    // Any failure to unwrap is the same invalid envelope.
                    let data_key = data_keys::unwrap(wrapped, &context).map_err(|e| match e {
                        KmsError::InvalidCiphertext(_) => invalid(),
                        other => other,
                    })?;
                    if cache.open.len() >= limits.capacity.max(1) {
                        cache.open.remove(0);
                    }
                    cache.open.push(OpenEntry {
                        wrapped: wrapped.to_vec(),
                        context: context.clone(),
                        data_key,
                    });
                    cache.open.len() - 1
                }
            };
            let data_key = &cache.open[at].data_key;
            let mut plaintext = Vec::with_capacity(body.len());
            for (index, sealed) in body.chunks(sealed_chunk).enumerate() {
                let aad = chunk_aad(header, index as u64, index + 1 == chunks);
                plaintext.extend(data_key.open(sealed, &aad).map_err(|_| invalid())?);
            }
            if limits.max_messages <= 1 {
                cache.open.remove(at);
            }
            Ok(plaintext)
        })
    }
}

bindings::export!(Wrapper with_types_in bindings);
