//! What the fuzz targets in `fuzz/` share: a reader that cuts a fuzzer's bytes into the fields
//! of a structured input, and the entry point for the key references and encryption contexts a
//! guest or a request names. Hidden from the documentation: it serves `fuzz/` and the corpus
//! replay in `tests/tests/fuzz_corpus.rs`, nothing else.

use crate::arn::{Arn, KeyReference, parse_principal_arn, validate_account, validate_region};
use crate::types::{EncryptionContext, KeyId};

/// The fuzzer's bytes, read front to back. Every read succeeds: past the end it yields zeros
/// and empty slices, so every input means something.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    /// One byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) << 8 | u16::from(self.byte())
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        head
    }

    /// A field prefixed by its length in one byte.
    pub fn short(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte());
        self.take(n)
    }

    /// A field prefixed by its length in two bytes.
    pub fn long(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.take(n)
    }

    /// A short field as text (invalid UTF-8 replaced, so that mutations stay readable).
    pub fn text(&mut self) -> String {
        String::from_utf8_lossy(self.short()).into_owned()
    }

    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.rest.len())
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Up to `max` pairs of short text fields, preceded by their count in one byte: the shape of
    /// a WIT `encryption-context` (a list of string tuples, duplicates and all).
    pub fn pairs(&mut self, max: usize) -> Vec<(String, String)> {
        let count = usize::from(self.byte()).min(max);
        (0..count).map(|_| (self.text(), self.text())).collect()
    }
}

/// Writes what [`Input`] reads: for building seed inputs.
#[derive(Clone, Debug, Default)]
pub struct Seed(Vec<u8>);

impl Seed {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// One byte.
    pub fn byte(mut self, byte: u8) -> Self {
        self.0.push(byte);
        self
    }

    /// A field read by [`Input::short`] (cut at 255 bytes).
    pub fn short(mut self, field: impl AsRef<[u8]>) -> Self {
        let field = &field.as_ref()[..field.as_ref().len().min(255)];
        self.0.push(field.len() as u8);
        self.0.extend_from_slice(field);
        self
    }

    /// A field read by [`Input::long`] (cut at 65,535 bytes).
    pub fn long(mut self, field: impl AsRef<[u8]>) -> Self {
        let field = &field.as_ref()[..field.as_ref().len().min(0xFFFF)];
        self.0
            .extend_from_slice(&(field.len() as u16).to_be_bytes());
        self.0.extend_from_slice(field);
        self
    }

    /// Pairs read by [`Input::pairs`].
    pub fn pairs(mut self, pairs: &[(&str, &str)]) -> Self {
        self = self.byte(pairs.len() as u8);
        for (k, v) in pairs {
            self = self.short(k).short(v);
        }
        self
    }

    /// Bytes read by [`Input::rest`] (or by [`Input::take`]).
    pub fn raw(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.0.extend_from_slice(bytes.as_ref());
        self
    }

    /// The input.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// Seeds of [`names`].
pub fn names_seeds() -> Vec<Vec<u8>> {
    let context =
        EncryptionContext::from_pairs([("tenant", "acme"), ("app", "orders")]).expect("a context");
    [
        "alias/orders",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:alias/orders",
        "arn:aws:iam::111122223333:user/alice",
    ]
    .into_iter()
    .map(|name| {
        Seed::new()
            .pairs(&[("tenant", "acme"), ("app", "orders")])
            .long(context.canonical_bytes())
            .raw(name)
            .build()
    })
    .collect()
}

/// Key references and encryption contexts as a guest or a request names them: key ids, ARNs,
/// aliases, principal ARNs, and contexts built from a list of pairs. Checks that a context's
/// canonical form reads back as the same context, and that a parsed id or ARN prints as text
/// that parses to the same value.
pub fn names(data: &[u8]) {
    let mut input = Input::new(data);
    let pairs = input.pairs(64);
    if let Ok(context) = EncryptionContext::from_pairs(pairs) {
        let bytes = context.canonical_bytes();
        assert_eq!(
            EncryptionContext::from_canonical_bytes(&bytes).as_ref(),
            Some(&context),
            "a context's canonical bytes read back as the same context"
        );
        let _ = context.require_no_empty_pairs();
    }
    let _ = EncryptionContext::from_canonical_bytes(input.long());
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    if let Ok(reference) = KeyReference::parse(&text) {
        let _ = (reference.arn(), reference.alias_name(), reference.target());
    }
    if let Ok(id) = text.parse::<KeyId>() {
        assert_eq!(id.to_string().parse::<KeyId>().ok(), Some(id));
    }
    if let Ok(arn) = text.parse::<Arn>() {
        let printed = arn.to_string();
        assert_eq!(
            printed.parse::<Arn>().ok().as_ref(),
            Some(&arn),
            "{printed}"
        );
    }
    let _ = parse_principal_arn(&text);
    let _ = validate_account(&text);
    let _ = validate_region(&text);
}
