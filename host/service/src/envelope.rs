//! Envelope encryption of streams of any size: a fresh data key from GenerateDataKey encrypts the
//! payload in fixed-size chunks with the STREAM construction over AES-256-GCM, and only the data
//! key's ciphertext blob is kept beside the data. Memory use is two chunks, whatever the size.
//!
//! Envelope format, version 1 (all integers big-endian):
//!
//! ```text
//! "KMSENV" 0x00 0x01        8 bytes: magic and format version
//! chunk size                u32: plaintext bytes per chunk, 1 KiB to 16 MiB
//! context length, context   u16 + canonical encryption context (see EncryptionContext)
//! data key length, blob     u16 + the data key's KMS ciphertext blob (under that context)
//! nonce prefix              7 random bytes
//! chunks                    each `chunk size + 16` bytes; the last is 16..=chunk size + 16
//! ```
//!
//! Every chunk is authenticated with its position, whether it is the last, and the SHA-256 of the
//! whole header as associated data, so reordered, dropped, truncated, appended or altered chunks
//! and any header change are detected. Decryption ends with an error rather than a short output.

use std::io::{self, Read, Write};

use crate::{Caller, DecryptRequest, GenerateDataKeyRequest, Service};
use kms_core::error::KmsError;
use kms_core::types::{DataKeySpec, EncryptionContext};
use kms_crypto::{self as crypto, STREAM_NONCE_PREFIX_LEN, SymmetricKey, TAG_LEN};

const MAGIC: &[u8; 8] = b"KMSENV\x00\x01";
/// Default plaintext bytes per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
const MIN_CHUNK_SIZE: u32 = 1024;
const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
const MAX_WRAPPED_KEY: usize = 6144;

/// Why sealing or opening an envelope failed.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The KMS refused or failed (unknown key, disabled key, wrong context, access denied, …).
    #[error("{}: {}", .0.aws_type(), .0.message())]
    Kms(#[from] KmsError),
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The input is not an envelope of a known format, or it was altered or truncated.
    #[error("not a valid envelope: {0}")]
    Malformed(String),
    /// The envelope was sealed with an encryption context and the caller gave none.
    #[error(
        "the envelope was sealed with an encryption context (keys: {}) and none was given",
        .keys.join(", ")
    )]
    ContextRequired {
        /// The keys of the envelope's context (not their values).
        keys: Vec<String>,
    },
    /// The envelope's encryption context lacks a pair the caller required.
    #[error("the envelope's encryption context does not contain {key}={value}")]
    ContextMismatch {
        /// The required key.
        key: String,
        /// The required value.
        value: String,
    },
}

/// What sealing produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealSummary {
    /// ARN of the KMS key that protects the data key.
    pub key_arn: String,
    /// Plaintext bytes read.
    pub plaintext_bytes: u64,
    /// Envelope bytes written.
    pub envelope_bytes: u64,
}

/// What opening produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSummary {
    /// ARN of the KMS key that protected the data key.
    pub key_arn: String,
    /// Plaintext bytes written.
    pub plaintext_bytes: u64,
    /// The encryption context stored in the envelope.
    pub encryption_context: EncryptionContext,
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_full(input: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encrypts all of `input` into `output` under a new data key from `key`, binding `context`.
/// `progress` is told the number of plaintext bytes done after each chunk.
///
/// ```
/// use kms_service::{Caller, EncryptionContext, Service, envelope};
/// use kms_service::CreateKeyRequest;
/// let service = Service::in_memory().unwrap();
/// let me = Caller::account_root(service.account());
/// let key = service.create_key(&me, CreateKeyRequest::default()).unwrap().key_metadata.key_id;
/// let context = EncryptionContext::from_pairs([("file", "report.pdf")]).unwrap();
/// let mut sealed = Vec::new();
/// envelope::seal(&service, &me, &key, &context, &mut &b"hello"[..], &mut sealed, envelope::DEFAULT_CHUNK_SIZE, &mut |_| {}).unwrap();
/// let mut opened = Vec::new();
/// envelope::open(&service, &me, None, &mut &sealed[..], &mut opened, &mut |_| {}).unwrap();
/// assert_eq!(opened, b"hello");
/// ```
#[allow(clippy::too_many_arguments)]
pub fn seal(
    service: &Service,
    caller: &Caller,
    key: &str,
    context: &EncryptionContext,
    input: &mut (impl Read + ?Sized),
    output: &mut (impl Write + ?Sized),
    chunk_size: u32,
    progress: &mut dyn FnMut(u64),
) -> Result<SealSummary, EnvelopeError> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(KmsError::invalid(
            "chunk size",
            format!("chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes"),
        )
        .into());
    }
    let data_key = service.generate_data_key(
        caller,
        GenerateDataKeyRequest::new(key, DataKeySpec::Aes256).with_context(context.clone()),
    )?;
    let cipher = SymmetricKey::from_slice(&data_key.plaintext)?;
    let mut nonce_prefix = [0u8; STREAM_NONCE_PREFIX_LEN];
    crypto::fill_random(&mut nonce_prefix)?;

    let context_bytes = context.canonical_bytes();
    let mut header = Vec::with_capacity(64 + context_bytes.len() + data_key.ciphertext_blob.len());
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&chunk_size.to_be_bytes());
    header.extend_from_slice(&(context_bytes.len() as u16).to_be_bytes());
    header.extend_from_slice(&context_bytes);
    header.extend_from_slice(&(data_key.ciphertext_blob.len() as u16).to_be_bytes());
    header.extend_from_slice(&data_key.ciphertext_blob);
    header.extend_from_slice(&nonce_prefix);
    output.write_all(&header)?;
    let aad = crypto::sha256(&header);

    let mut encryptor = cipher.stream_encryptor(&nonce_prefix);
    let size = chunk_size as usize;
    let mut current = vec![0u8; size];
    let mut next = vec![0u8; size];
    let mut current_len = read_full(input, &mut current)?;
    let mut done = 0u64;
    let mut written = header.len() as u64;
    // One chunk of look-ahead tells whether the current chunk is the last.
    loop {
        let next_len = if current_len == size {
            read_full(input, &mut next)?
        } else {
            0
        };
        if next_len == 0 {
            break;
        }
        let sealed = encryptor.encrypt_next(&current[..current_len], &aad)?;
        output.write_all(&sealed)?;
        done += current_len as u64;
        written += sealed.len() as u64;
        progress(done);
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
    }
    let sealed = encryptor.encrypt_last(&current[..current_len], &aad)?;
    output.write_all(&sealed)?;
    done += current_len as u64;
    written += sealed.len() as u64;
    progress(done);
    zeroize::Zeroize::zeroize(&mut current);
    zeroize::Zeroize::zeroize(&mut next);
    output.flush()?;
    Ok(SealSummary {
        key_arn: data_key.key_id.clone(),
        plaintext_bytes: done,
        envelope_bytes: written,
    })
}

fn take<'a>(
    input: &mut (impl Read + ?Sized),
    header: &'a mut Vec<u8>,
    n: usize,
) -> Result<&'a [u8], EnvelopeError> {
    let start = header.len();
    header.resize(start + n, 0);
    if read_full(input, &mut header[start..])? != n {
        return Err(EnvelopeError::Malformed("the header is truncated".into()));
    }
    Ok(&header[start..])
}

/// Decrypts an envelope from `input` into `output`. If `required_context` is given, every one of
/// its pairs must be in the envelope's context, and an empty one says the envelope has none: an
/// envelope sealed with a context is then refused ([`EnvelopeError::ContextRequired`]), as Decrypt
/// refuses a ciphertext without its context. `None` opens whatever context it was sealed with. Output is written chunk by chunk as each chunk
/// authenticates; if an error is returned, whatever was written must be discarded (the `kms open`
/// command writes to a temporary file and renames it only on success).
pub fn open(
    service: &Service,
    caller: &Caller,
    required_context: Option<&EncryptionContext>,
    input: &mut (impl Read + ?Sized),
    output: &mut (impl Write + ?Sized),
    progress: &mut dyn FnMut(u64),
) -> Result<OpenSummary, EnvelopeError> {
    let mut header = Vec::with_capacity(256);
    if take(input, &mut header, MAGIC.len())? != MAGIC {
        return Err(EnvelopeError::Malformed(
            "it does not start with the KMSENV version 1 magic".into(),
        ));
    }
    let chunk_size = u32::from_be_bytes(take(input, &mut header, 4)?.try_into().expect("4 bytes"));
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(EnvelopeError::Malformed(format!(
            "chunk size {chunk_size} is out of range"
        )));
    }
    let context_len = u16::from_be_bytes(take(input, &mut header, 2)?.try_into().expect("2 bytes"));
    let context =
        EncryptionContext::from_canonical_bytes(take(input, &mut header, context_len.into())?)
            .ok_or_else(|| {
                EnvelopeError::Malformed("the encryption context is malformed".into())
            })?;
    let wrapped_len = u16::from_be_bytes(take(input, &mut header, 2)?.try_into().expect("2 bytes"));
    if usize::from(wrapped_len) > MAX_WRAPPED_KEY {
        return Err(EnvelopeError::Malformed(
            "the wrapped data key is too long".into(),
        ));
    }
    let wrapped = take(input, &mut header, wrapped_len.into())?.to_vec();
    let nonce_prefix: [u8; STREAM_NONCE_PREFIX_LEN] =
        take(input, &mut header, STREAM_NONCE_PREFIX_LEN)?
            .try_into()
            .expect("prefix length");

    if let Some(required) = required_context {
        if required.is_empty() && !context.is_empty() {
            return Err(EnvelopeError::ContextRequired {
                keys: context.iter().map(|(k, _)| k.to_string()).collect(),
            });
        }
        for (k, v) in required.iter() {
            if context.get(k) != Some(v) {
                return Err(EnvelopeError::ContextMismatch {
                    key: k.to_string(),
                    value: v.to_string(),
                });
            }
        }
    }
    let data_key = service.decrypt(
        caller,
        DecryptRequest::new(wrapped).with_context(context.clone()),
    )?;
    let cipher = SymmetricKey::from_slice(&data_key.plaintext)
        .map_err(|_| EnvelopeError::Malformed("the data key has the wrong length".into()))?;
    let aad = crypto::sha256(&header);

    let mut decryptor = cipher.stream_decryptor(&nonce_prefix);
    let size = chunk_size as usize + TAG_LEN;
    let mut current = vec![0u8; size];
    let mut next = vec![0u8; size];
    let mut current_len = read_full(input, &mut current)?;
    let mut done = 0u64;
    let tampered = |_| EnvelopeError::Malformed("a chunk was altered, reordered or cut off".into());
    loop {
        let next_len = if current_len == size {
            read_full(input, &mut next)?
        } else {
            0
        };
        if next_len == 0 {
            break;
        }
        let plain = decryptor
            .decrypt_next(&current[..current_len], &aad)
            .map_err(tampered)?;
        output.write_all(&plain)?;
        done += plain.len() as u64;
        progress(done);
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
    }
    if current_len < TAG_LEN {
        return Err(EnvelopeError::Malformed("the envelope is truncated".into()));
    }
    let plain = decryptor
        .decrypt_last(&current[..current_len], &aad)
        .map_err(tampered)?;
    output.write_all(&plain)?;
    done += plain.len() as u64;
    progress(done);
    output.flush()?;
    Ok(OpenSummary {
        key_arn: data_key.key_id.clone(),
        plaintext_bytes: done,
        encryption_context: context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CreateKeyRequest;

    fn setup() -> (Service, Caller, String) {
        let service = Service::in_memory().unwrap();
        let caller = Caller::account_root(service.account());
        let key = service
            .create_key(&caller, CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        (service, caller, key)
    }

    fn seal_bytes(
        service: &Service,
        caller: &Caller,
        key: &str,
        data: &[u8],
        chunk: u32,
    ) -> Vec<u8> {
        let ctx = EncryptionContext::from_pairs([("purpose", "test")]).unwrap();
        let mut out = Vec::new();
        seal(
            service,
            caller,
            key,
            &ctx,
            &mut &data[..],
            &mut out,
            chunk,
            &mut |_| {},
        )
        .unwrap();
        out
    }

    fn open_bytes(
        service: &Service,
        caller: &Caller,
        sealed: &[u8],
    ) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        open(
            service,
            caller,
            None,
            &mut &sealed[..],
            &mut out,
            &mut |_| {},
        )?;
        Ok(out)
    }

    #[test]
    fn round_trips_sizes_around_chunk_boundaries() {
        let (service, caller, key) = setup();
        for len in [0usize, 1, 1023, 1024, 1025, 2048, 5000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let sealed = seal_bytes(&service, &caller, &key, &data, 1024);
            assert_eq!(
                open_bytes(&service, &caller, &sealed).unwrap(),
                data,
                "length {len}"
            );
        }
    }

    #[test]
    fn detects_truncation_at_a_chunk_boundary() {
        let (service, caller, key) = setup();
        let data = vec![9u8; 4096];
        let sealed = seal_bytes(&service, &caller, &key, &data, 1024);
        // Drop the last chunk (1024 + 16 bytes): the new last chunk is not marked as last.
        let cut = &sealed[..sealed.len() - 1040];
        assert!(matches!(
            open_bytes(&service, &caller, cut),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn detects_appended_bytes_and_header_changes() {
        let (service, caller, key) = setup();
        let sealed = seal_bytes(&service, &caller, &key, b"payload", 1024);
        let mut longer = sealed.clone();
        longer.extend_from_slice(&[0u8; 20]);
        assert!(open_bytes(&service, &caller, &longer).is_err());
        let mut bad_chunk_size = sealed.clone();
        bad_chunk_size[10] ^= 0x01; // chunk size 1024 -> 1280: still in range, header hash differs
        assert!(open_bytes(&service, &caller, &bad_chunk_size).is_err());
    }

    #[test]
    fn every_flipped_byte_fails() {
        let (service, caller, key) = setup();
        let sealed = seal_bytes(&service, &caller, &key, &[5u8; 1500], 1024);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert!(
                open_bytes(&service, &caller, &bad).is_err(),
                "flip at {i} accepted"
            );
        }
    }

    #[test]
    fn required_context_must_be_present() {
        let (service, caller, key) = setup();
        let sealed = seal_bytes(&service, &caller, &key, b"x", 1024);
        let wrong = EncryptionContext::from_pairs([("purpose", "other")]).unwrap();
        let mut out = Vec::new();
        let err = open(
            &service,
            &caller,
            Some(&wrong),
            &mut &sealed[..],
            &mut out,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, EnvelopeError::ContextMismatch { .. }));
    }

    #[test]
    fn foreign_input_is_refused() {
        let (service, caller, _) = setup();
        assert!(matches!(
            open_bytes(&service, &caller, b"%PDF-1.7 not an envelope"),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
