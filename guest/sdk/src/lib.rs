//! The guest side of `kms:vault`: bindings to the host's key interfaces for WebAssembly
//! components, and the small conveniences that make them pleasant to call.
//!
//! The modules [`keys`], [`data_keys`], [`reveal`], [`log`] and [`types`] are generated from
//! the WIT contract in `wit/` (world `tenant-app-with-reveal`, which imports every interface a
//! guest can be granted and exports nothing). A component imports only what it calls, so one
//! that never calls [`reveal`] is not refused for want of that grant.
//!
//! ```no_run
//! use kms_guest::{EncryptionContext, KmsError, keys};
//!
//! fn protect(card: &[u8]) -> Result<Vec<u8>, KmsError> {
//!     let orders = keys::open("alias/orders")?;
//!     let context = EncryptionContext::new().with("tenant", "acme");
//!     orders.encrypt(card, &context)
//! }
//! ```
//!
//! A component that also exports an interface (a policy plugin, a data-key wrapper) generates
//! its own world and maps the imports onto this crate, so that both agree on one set of types:
//!
//! ```no_run
//! mod bindings {
//!     wit_bindgen::generate!({
//!         path: "../../wit", // the `kms:vault` WIT, relative to the component's Cargo.toml
//!         world: "kms:vault/data-key-wrapper",
//!         with: {
//!             "kms:vault/types@0.2.0": kms_guest::types,
//!             "kms:vault/keys@0.2.0": kms_guest::keys,
//!             "kms:vault/data-keys@0.2.0": kms_guest::data_keys,
//!             "kms:vault/log@0.2.0": kms_guest::log,
//!         },
//!     });
//! }
//!
//! use bindings::exports::kms::vault::envelope::Guest;
//! use kms_guest::types::{DataKeySpec, EncryptionContext};
//! use kms_guest::{KmsError, data_keys, keys};
//!
//! /// Envelope: the wrapped data key's length (4 bytes, big-endian), the wrapped data key, the
//! /// sealed data.
//! struct Wrapper;
//!
//! impl Guest for Wrapper {
//!     fn seal(
//!         key: String,
//!         plaintext: Vec<u8>,
//!         context: EncryptionContext,
//!     ) -> Result<Vec<u8>, KmsError> {
//!         let key = keys::open(&key)?;
//!         let data_key = data_keys::generate(&key, DataKeySpec::Aes256, &context)?;
//!         let wrapped = data_key.wrapped();
//!         let mut envelope = u32::try_from(wrapped.len()).unwrap().to_be_bytes().to_vec();
//!         envelope.extend(wrapped);
//!         envelope.extend(data_key.seal(&plaintext, &[])?);
//!         Ok(envelope)
//!     }
//!
//!     fn open(envelope: Vec<u8>, context: EncryptionContext) -> Result<Vec<u8>, KmsError> {
//!         // One answer for every malformed envelope, as the contract asks.
//!         let invalid = || KmsError::invalid_ciphertext("The envelope is invalid");
//!         let (len, rest) = envelope.split_first_chunk::<4>().ok_or_else(invalid)?;
//!         let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| invalid())?;
//!         if rest.len() < len {
//!             return Err(invalid());
//!         }
//!         let (wrapped, sealed) = rest.split_at(len);
//!         data_keys::unwrap(wrapped, &context)?.open(sealed, &[])
//!     }
//! }
//!
//! bindings::export!(Wrapper with_types_in bindings);
//! # fn main() {}
//! ```

#![warn(missing_docs)]
// Components are built without `std`: a `std` guest imports thirteen WASI interfaces (stdio,
// environment, clocks) that the host would have to refuse or stub. On the host (unit tests,
// docs) the crate is an ordinary `std` library.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

/// The runtime a `no_std` component needs: a global allocator and a panic handler. A panic
/// aborts the instance with a trap, which the host audits and reports as a failed call.
#[cfg(target_arch = "wasm32")]
mod wasm_runtime {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::{Cell, UnsafeCell};

    #[global_allocator]
    static ALLOCATOR: ArenaFirst = ArenaFirst;

    /// Bytes of an instance's first allocations served from its initial linear memory.
    const ARENA_BYTES: usize = 32 << 10;

    #[repr(C, align(16))]
    struct Arena {
        bytes: UnsafeCell<[u8; ARENA_BYTES]>,
        // Offset of the first free byte.
        next: Cell<usize>,
    }

    // SAFETY: a component instance runs one thread; nothing here is shared between threads.
    unsafe impl Sync for Arena {}

    static ARENA: Arena = Arena {
        bytes: UnsafeCell::new([0; ARENA_BYTES]),
        next: Cell::new(0),
    };

    /// The global allocator: an instance's first allocations (up to [`ARENA_BYTES`]) are
    /// bump-allocated from a static arena inside its initial memory, and the rest come from
    /// dlmalloc. Most instances live for one call (a policy decision, a request) and allocate a
    /// few KiB: served from the arena they never grow their memory, and growing it is the
    /// costliest part of a fresh instance for the host (a change of page protection, undone
    /// with a TLB shootdown when the instance's slot is reset). Freeing the newest arena block
    /// returns it; other arena blocks are kept until the instance ends.
    struct ArenaFirst;

    impl ArenaFirst {
        fn base() -> usize {
            ARENA.bytes.get() as usize
        }

        fn owns(ptr: *mut u8) -> bool {
            (Self::base()..Self::base() + ARENA_BYTES).contains(&(ptr as usize))
        }

        /// A block of `layout` from the arena, if it has room.
        fn bump(layout: Layout) -> Option<*mut u8> {
            let start = (Self::base() + ARENA.next.get()).next_multiple_of(layout.align());
            let end = start.checked_add(layout.size())?;
            if end > Self::base() + ARENA_BYTES {
                return None;
            }
            ARENA.next.set(end - Self::base());
            Some(start as *mut u8)
        }
    }

    // SAFETY: arena blocks are disjoint, aligned as asked and within the arena; every other
    // block is dlmalloc's, and goes back to dlmalloc.
    unsafe impl GlobalAlloc for ArenaFirst {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            match Self::bump(layout) {
                Some(ptr) => ptr,
                // SAFETY: as the caller promised for `layout`.
                None => unsafe { dlmalloc::GlobalDlmalloc.alloc(layout) },
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if !Self::owns(ptr) {
                // SAFETY: dlmalloc made this block.
                return unsafe { dlmalloc::GlobalDlmalloc.dealloc(ptr, layout) };
            }
            if ptr as usize + layout.size() == Self::base() + ARENA.next.get() {
                ARENA.next.set(ptr as usize - Self::base());
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if !Self::owns(ptr) {
                // SAFETY: dlmalloc made this block.
                return unsafe { dlmalloc::GlobalDlmalloc.realloc(ptr, layout, new_size) };
            }
            let offset = ptr as usize - Self::base();
            let newest = offset + layout.size() == ARENA.next.get();
            if new_size <= layout.size() || (newest && offset + new_size <= ARENA_BYTES) {
                if newest {
                    ARENA.next.set(offset + new_size);
                }
                return ptr;
            }
            // SAFETY: `layout.align()` is a valid alignment and `new_size` non-zero, as the
            // caller promised.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: as above; the old block holds `layout.size()` initialised bytes.
            unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    core::ptr::copy_nonoverlapping(ptr, new, layout.size());
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }

    /// The canonical ABI's allocator: the host calls it to place arguments and results in
    /// linear memory. Written here because wit-bindgen's own copy is not linked into a `no_std`
    /// component.
    ///
    /// # Safety
    /// Called by the host as the canonical ABI specifies: `old_ptr`/`old_len`/`align` describe
    /// an allocation made by this function (or are 0 for a new one).
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn cabi_realloc(
        old_ptr: *mut u8,
        old_len: usize,
        align: usize,
        new_len: usize,
    ) -> *mut u8 {
        use alloc::alloc::{Layout, alloc, realloc};
        let ptr = if old_len == 0 {
            if new_len == 0 {
                return align as *mut u8;
            }
            // SAFETY: the canonical ABI passes a power-of-two alignment and a non-zero size.
            unsafe { alloc(Layout::from_size_align_unchecked(new_len, align)) }
        } else {
            // SAFETY: `old_ptr` was allocated here with this size and alignment.
            unsafe {
                realloc(
                    old_ptr,
                    Layout::from_size_align_unchecked(old_len, align),
                    new_len,
                )
            }
        };
        if ptr.is_null() {
            core::arch::wasm32::unreachable();
        }
        ptr
    }
}

// Generated code carries the WIT doc comments; the contract test in `tests/` checks that every
// WIT item has one, so `missing_docs` here would only flag the generator's own helpers.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "tenant-app-with-reveal",
        // Our own `KmsError` and `ErrorDetail`, for a readable `Display` (the generated one prints
        // `Debug`) and the accessors and constructors below.
        with: {
            "kms:vault/types@0.2.0/kms-error": crate::KmsError,
            "kms:vault/types@0.2.0/error-detail": crate::ErrorDetail,
        },
    });
}

pub use bindings::kms::vault::{data_keys, keys, log, reveal};

/// The vocabulary shared by every `kms:vault` interface: key specs, algorithms, key metadata
/// and [`KmsError`] with its [`ErrorDetail`].
///
/// [`types::EncryptionContext`] is the WIT list the host calls take; build one with the
/// crate-level [`EncryptionContext`].
pub mod types {
    pub use crate::bindings::kms::vault::types::*;
    pub use crate::{ErrorDetail, KmsError};
}

/// State that lives as long as the component instance, such as a data-key cache, kept in a
/// `static`. A component instance runs on one thread and is never re-entered while a call is
/// running, which is what makes this sound; it exists only when building for wasm32.
///
/// ```ignore
/// static CACHE: kms_guest::InstanceState<Vec<u8>> = kms_guest::InstanceState::new(Vec::new());
/// CACHE.with(|cache| cache.push(1));
/// ```
#[cfg(target_arch = "wasm32")]
pub struct InstanceState<T>(core::cell::RefCell<T>);

// SAFETY: wasm32 component instances are single-threaded (no `threads` proposal in the
// component model) and the host never runs two calls on one instance at once.
#[cfg(target_arch = "wasm32")]
unsafe impl<T> Sync for InstanceState<T> {}

#[cfg(target_arch = "wasm32")]
impl<T> InstanceState<T> {
    /// State starting at `value`.
    pub const fn new(value: T) -> Self {
        InstanceState(core::cell::RefCell::new(value))
    }

    /// Runs `f` on the state. Calling `with` again from inside `f` panics (traps).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

/// Lower-case hex of `bytes`, for reports a guest returns as text.
///
/// ```
/// assert_eq!(kms_guest::hex(&[0x00, 0xab, 0x7f]), "00ab7f");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// What every [`KmsError`] carries: the exact AWS KMS exception name and a message; the
/// `error-detail` record of the WIT contract.
///
/// ```
/// use kms_guest::ErrorDetail;
///
/// let detail = ErrorDetail::new("TagException", "Tag keys must not start with aws:");
/// assert_eq!(detail.aws_type, "TagException");
/// ```
// The shape must match `types.wit` exactly: the generated bindings lift and lower this type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorDetail {
    /// The AWS KMS exception name, as the HTTP API reports the same failure in `__type`
    /// (`NotFoundException`, `UnsupportedOperationException`, …).
    pub aws_type: String,
    /// A human-readable message, never parsed and never carrying key material.
    pub message: String,
}

impl ErrorDetail {
    /// A detail naming `aws_type`, saying `message`.
    pub fn new(aws_type: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorDetail {
            aws_type: aws_type.into(),
            message: message.into(),
        }
    }
}

/// Why a host call failed: the `kms-error` variant of the WIT contract. Match on the case to
/// decide what to do; [`aws_type`](KmsError::aws_type) is the exact AWS KMS exception, the one an
/// HTTP client would get for the same failure, and [`message`](KmsError::message) says what
/// happened. Messages are for people, never parsed, and never carry key material.
///
/// ```
/// use kms_guest::{ErrorDetail, KmsError};
///
/// let error = KmsError::not_found("Key 'alias/orders' does not exist");
/// assert_eq!(error.aws_type(), "NotFoundException");
/// assert_eq!(error.to_string(), "NotFoundException: Key 'alias/orders' does not exist");
///
/// // Several exceptions share a case; the detail tells them apart.
/// let error = KmsError::Validation(ErrorDetail::new(
///     "UnsupportedOperationException",
///     "A SYMMETRIC_DEFAULT key has no public key",
/// ));
/// assert!(matches!(error, KmsError::Validation(_)));
/// assert_eq!(error.aws_type(), "UnsupportedOperationException");
/// ```
// The shape must match `types.wit` exactly: the generated bindings lift and lower this type.
#[derive(Clone, PartialEq, Eq)]
pub enum KmsError {
    /// The key or alias does not exist, or is not in the caller's capability set: the two are
    /// deliberately indistinguishable (`NotFoundException`).
    NotFound(ErrorDetail),
    /// The key is disabled (`DisabledException`).
    Disabled(ErrorDetail),
    /// The key's state (pending deletion, pending import, unavailable) does not allow the
    /// operation (`KMSInvalidStateException`).
    InvalidState(ErrorDetail),
    /// The caller's key policy, grants, identity policies or policy plugins deny the operation,
    /// or its capability set does not include the operation on this key (`AccessDeniedException`).
    AccessDenied(ErrorDetail),
    /// The ciphertext could not be decrypted. Every cause answers the same (altered or truncated
    /// ciphertext, wrong encryption context, unknown key) so that it is no oracle
    /// (`InvalidCiphertextException`).
    InvalidCiphertext(ErrorDetail),
    /// The operation named a key other than the one the ciphertext was made under
    /// (`IncorrectKeyException`).
    IncorrectKey(ErrorDetail),
    /// The key's usage does not allow the operation, or the algorithm does not suit the key
    /// (`InvalidKeyUsageException`).
    InvalidKeyUsage(ErrorDetail),
    /// The request cannot be carried out as asked: a malformed or out-of-range argument
    /// (`ValidationException`), an operation that does not apply to the key
    /// (`UnsupportedOperationException`), and the other request exceptions (`InvalidArnException`,
    /// `AlreadyExistsException`, `TagException`, …); the detail names which.
    Validation(ErrorDetail),
    /// A quota would be exceeded (`LimitExceededException`).
    LimitExceeded(ErrorDetail),
    /// The caller is sending requests too fast; retry later (`ThrottlingException`).
    Throttled(ErrorDetail),
    /// The signature does not verify for this message, key and algorithm
    /// (`KMSInvalidSignatureException`).
    InvalidSignature(ErrorDetail),
    /// The MAC does not verify for this message, key and algorithm (`KMSInvalidMacException`).
    InvalidMac(ErrorDetail),
    /// The host failed; never caused by the arguments (`KMSInternalException`).
    Internal(ErrorDetail),
}

/// Constructors for errors a guest raises itself (an envelope it cannot open, say), each with
/// its case's own AWS exception name.
macro_rules! constructors {
    ($($name:ident => $case:ident, $aws_type:literal;)+) => {
        impl KmsError {
            $(
                #[doc = concat!("A [`KmsError::", stringify!($case), "`] naming `", $aws_type, "`.")]
                pub fn $name(message: impl Into<String>) -> Self {
                    KmsError::$case(ErrorDetail::new($aws_type, message))
                }
            )+
        }
    };
}

constructors! {
    not_found => NotFound, "NotFoundException";
    disabled => Disabled, "DisabledException";
    invalid_state => InvalidState, "KMSInvalidStateException";
    access_denied => AccessDenied, "AccessDeniedException";
    invalid_ciphertext => InvalidCiphertext, "InvalidCiphertextException";
    incorrect_key => IncorrectKey, "IncorrectKeyException";
    invalid_key_usage => InvalidKeyUsage, "InvalidKeyUsageException";
    validation => Validation, "ValidationException";
    limit_exceeded => LimitExceeded, "LimitExceededException";
    throttled => Throttled, "ThrottlingException";
    invalid_signature => InvalidSignature, "KMSInvalidSignatureException";
    invalid_mac => InvalidMac, "KMSInvalidMacException";
    internal => Internal, "KMSInternalException";
}

impl KmsError {
    /// The AWS exception name and the message.
    ///
    /// ```
    /// use kms_guest::KmsError;
    ///
    /// let detail = KmsError::throttled("Slow down").detail().clone();
    /// assert_eq!(detail.aws_type, "ThrottlingException");
    /// assert_eq!(detail.message, "Slow down");
    /// ```
    pub fn detail(&self) -> &ErrorDetail {
        match self {
            KmsError::NotFound(d)
            | KmsError::Disabled(d)
            | KmsError::InvalidState(d)
            | KmsError::AccessDenied(d)
            | KmsError::InvalidCiphertext(d)
            | KmsError::IncorrectKey(d)
            | KmsError::InvalidKeyUsage(d)
            | KmsError::Validation(d)
            | KmsError::LimitExceeded(d)
            | KmsError::Throttled(d)
            | KmsError::InvalidSignature(d)
            | KmsError::InvalidMac(d)
            | KmsError::Internal(d) => d,
        }
    }

    /// The AWS KMS exception name of this error, as the HTTP API reports it in `__type`.
    ///
    /// ```
    /// use kms_guest::KmsError;
    ///
    /// assert_eq!(KmsError::invalid_mac("The MAC is not valid").aws_type(), "KMSInvalidMacException");
    /// ```
    pub fn aws_type(&self) -> &str {
        &self.detail().aws_type
    }

    /// The host's human-readable message.
    ///
    /// ```
    /// use kms_guest::KmsError;
    ///
    /// assert_eq!(KmsError::throttled("Slow down").message(), "Slow down");
    /// ```
    pub fn message(&self) -> &str {
        &self.detail().message
    }
}

impl fmt::Debug for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.aws_type(), self.message())
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.aws_type(), self.message())
    }
}

impl core::error::Error for KmsError {}

/// An encryption context under construction, kept the way the host reads it: sorted by key, each
/// key once. Dereferences to the pair slice that every host call taking a context accepts.
///
/// Setting a key again replaces its value, as inserting into a map does. The host still checks
/// the rest of its rules (no empty keys, at most 8192 bytes) and answers
/// [`KmsError::Validation`] when one is broken.
///
/// ```
/// use kms_guest::EncryptionContext;
///
/// let context = EncryptionContext::new()
///     .with("tenant", "acme")
///     .with("purpose", "backup");
/// assert_eq!(context.get("tenant"), Some("acme"));
/// // Sorted by key, ready for `key.encrypt(plaintext, &context)`.
/// let pairs: &[(String, String)] = &context;
/// assert_eq!(pairs[0], ("purpose".to_string(), "backup".to_string()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EncryptionContext {
    /// Sorted by key, keys unique.
    pairs: Vec<(String, String)>,
}

impl EncryptionContext {
    /// The empty context.
    ///
    /// ```
    /// assert!(kms_guest::EncryptionContext::new().is_empty());
    /// ```
    pub fn new() -> Self {
        EncryptionContext::default()
    }

    /// This context with `key` set to `value`.
    ///
    /// ```
    /// use kms_guest::EncryptionContext;
    ///
    /// let context = EncryptionContext::new().with("tenant", "acme").with("tenant", "globex");
    /// assert_eq!(context.get("tenant"), Some("globex"));
    /// assert_eq!(context.len(), 1);
    /// ```
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Sets `key` to `value`, returning the value it replaces.
    ///
    /// ```
    /// use kms_guest::EncryptionContext;
    ///
    /// let mut context = EncryptionContext::new();
    /// assert_eq!(context.insert("tenant", "acme"), None);
    /// assert_eq!(context.insert("tenant", "globex"), Some("acme".to_string()));
    /// ```
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let (key, value) = (key.into(), value.into());
        match self.pairs.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(at) => Some(core::mem::replace(&mut self.pairs[at].1, value)),
            Err(at) => {
                self.pairs.insert(at, (key, value));
                None
            }
        }
    }

    /// The value of `key`, if it is set.
    ///
    /// ```
    /// use kms_guest::EncryptionContext;
    ///
    /// let context = EncryptionContext::new().with("tenant", "acme");
    /// assert_eq!(context.get("tenant"), Some("acme"));
    /// assert_eq!(context.get("purpose"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|at| self.pairs[at].1.as_str())
    }
}

// `Deref` to the slice lets `&context` go straight into the generated host calls, which take
// `&[(String, String)]`; the sorted, duplicate-free invariant holds because no `&mut` is exposed.
impl Deref for EncryptionContext {
    type Target = [(String, String)];

    fn deref(&self) -> &Self::Target {
        &self.pairs
    }
}

impl From<EncryptionContext> for types::EncryptionContext {
    /// The WIT list, sorted by key.
    ///
    /// ```
    /// use kms_guest::{EncryptionContext, types};
    ///
    /// let context = EncryptionContext::new().with("b", "2").with("a", "1");
    /// let list: types::EncryptionContext = context.into();
    /// assert_eq!(list[0], ("a".to_string(), "1".to_string()));
    /// ```
    fn from(context: EncryptionContext) -> Self {
        context.pairs
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    /// A context from pairs; a later pair with the same key wins.
    ///
    /// ```
    /// use kms_guest::EncryptionContext;
    ///
    /// let pairs = [("tenant", "acme"), ("purpose", "backup")];
    /// let context: EncryptionContext = pairs.into_iter().collect();
    /// assert_eq!(context.get("purpose"), Some("backup"));
    /// ```
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut context = EncryptionContext::new();
        context.extend(pairs);
        context
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for EncryptionContext {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_context_is_sorted_by_key_whatever_the_insertion_order() {
        let context = EncryptionContext::new()
            .with("tenant", "acme")
            .with("a", "1")
            .with("purpose", "backup");
        let keys: Vec<&str> = context.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "purpose", "tenant"]);
    }

    #[test]
    fn encryption_context_setting_a_key_again_replaces_its_value() {
        let context = EncryptionContext::new()
            .with("tenant", "acme")
            .with("tenant", "globex");
        assert_eq!(
            &*context,
            [("tenant".to_string(), "globex".to_string())].as_slice()
        );
    }

    #[test]
    fn encryption_contexts_with_the_same_pairs_are_equal_whatever_the_order() {
        let a: EncryptionContext = [("a", "1"), ("b", "2")].into_iter().collect();
        let b: EncryptionContext = [("b", "2"), ("a", "1")].into_iter().collect();
        assert_eq!(a, b);
    }

    #[test]
    fn empty_values_are_kept() {
        let context = EncryptionContext::new().with("flag", "");
        assert_eq!(context.get("flag"), Some(""));
    }

    #[test]
    fn kms_error_display_names_the_aws_exception_and_the_message() {
        let error = KmsError::invalid_ciphertext("The ciphertext is invalid");
        assert_eq!(
            error.to_string(),
            "InvalidCiphertextException: The ciphertext is invalid"
        );
    }

    #[test]
    fn kms_error_displays_the_exception_the_host_named_not_its_case() {
        let error = KmsError::Validation(ErrorDetail::new(
            "UnsupportedOperationException",
            "A SYMMETRIC_DEFAULT key has no public key",
        ));
        assert_eq!(
            error.to_string(),
            "UnsupportedOperationException: A SYMMETRIC_DEFAULT key has no public key"
        );
    }

    #[test]
    fn kms_error_constructors_name_their_case_s_own_exception() {
        assert_eq!(
            KmsError::invalid_signature("The signature is not valid"),
            KmsError::InvalidSignature(ErrorDetail::new(
                "KMSInvalidSignatureException",
                "The signature is not valid"
            ))
        );
        assert_eq!(KmsError::throttled("m").aws_type(), "ThrottlingException");
        assert_eq!(
            KmsError::invalid_state("m").aws_type(),
            "KMSInvalidStateException"
        );
    }

    #[test]
    fn kms_error_is_a_std_error() {
        let error: Box<dyn std::error::Error> = Box::new(KmsError::invalid_mac("m"));
        assert!(error.to_string().starts_with("KMSInvalidMacException"));
    }
}
