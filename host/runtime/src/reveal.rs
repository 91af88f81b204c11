//! `kms:vault/reveal`: plaintext key bytes for the instances granted them — a held data key's
//! plaintext and the private key of a new data key pair. The host refuses a component that
//! imports this interface without the grant before it runs; each call checks the grant again
//! and the façade audits it.

use wasmtime::component::Resource;

use crate::bindings::reveal::{Host, RevealedKeyPair};
use crate::bindings::types as wit;
use crate::capability::KeyOperation;
use crate::ctx::{HostResult, KmsCtxView, done};
use crate::handles::{DataKeyHandle, KeyHandle};
use crate::types::data_key_pair_request;
use kms_core::error::KmsError;

impl Host for KmsCtxView<'_> {
    fn export_plaintext(&mut self, handle: Resource<DataKeyHandle>) -> HostResult<Vec<u8>> {
        let key = &self.table.get(&handle)?.key;
        done(
            self.ctx
                .service
                .reveal_data_key(&self.ctx.caller, key, self.ctx.capabilities.reveal())
                .map(|plaintext| plaintext.to_vec()),
        )
    }

    fn generate_data_key_pair(
        &mut self,
        key: Resource<KeyHandle>,
        spec: wit::DataKeyPairSpec,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<RevealedKeyPair> {
        if !self.ctx.capabilities.reveal() {
            let error = self.refuse(
                "GenerateDataKeyPair",
                None,
                KmsError::AccessDenied(
                    "This component is not granted reveal: it may not hold a private key".into(),
                ),
            );
            return done(Err(error));
        }
        let facts = self.checked_key(&key, KeyOperation::GenerateDataKeyPair)?;
        done(facts.and_then(|facts| {
            let req = data_key_pair_request(&facts.key_id, spec, encryption_context)?;
            let pair = self
                .ctx
                .service
                .generate_data_key_pair(self.caller(), req)?;
            let private_key_plaintext = pair.private_key_plaintext.ok_or_else(|| {
                KmsError::Internal("GenerateDataKeyPair returned no private key".into())
            })?;
            Ok(RevealedKeyPair {
                public_key: pair.public_key,
                private_key_plaintext: private_key_plaintext.to_vec(),
                private_key_ciphertext: pair.private_key_ciphertext_blob,
            })
        }))
    }
}
