//! `kms:vault/data-keys`: data keys held in the host as `data-key` handles, generated under a
//! KMS key or unwrapped from their stored form, that seal and open a guest's data without their
//! plaintext entering the guest (only `reveal` exports it).

use wasmtime::component::Resource;

use crate::bindings::data_keys::{Host, HostDataKey};
use crate::bindings::types as wit;
use crate::capability::KeyOperation;
use crate::ctx::{HostResult, KmsCtxView, done};
use crate::handles::{DataKeyHandle, KeyHandle};
use crate::types::{data_key_request, from_wit_context};
use kms_core::error::KmsError;
use kms_service::{DataKey, DecryptRequest};

impl KmsCtxView<'_> {
    fn push_data_key(&mut self, key: DataKey) -> wasmtime::Result<Resource<DataKeyHandle>> {
        let handle = self.table.push(DataKeyHandle::new(key))?;
        self.ctx.open_handles += 1;
        Ok(handle)
    }
}

impl HostDataKey for KmsCtxView<'_> {
    fn wrapped(&mut self, handle: Resource<DataKeyHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&handle)?.key.wrapped().to_vec())
    }

    fn age_ms(&mut self, handle: Resource<DataKeyHandle>) -> wasmtime::Result<u64> {
        let age = self.table.get(&handle)?.created.elapsed();
        Ok(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
    }

    fn seal(
        &mut self,
        handle: Resource<DataKeyHandle>,
        plaintext: Vec<u8>,
        aad: Vec<u8>,
    ) -> HostResult<Vec<u8>> {
        let limits = self.ctx.limits.clone();
        let key = self.table.get_mut(&handle)?;
        if plaintext.len() > limits.max_seal_bytes {
            return done(Err(KmsError::invalid(
                "plaintext",
                format!(
                    "seal takes at most {} bytes at once; split the data into chunks",
                    limits.max_seal_bytes
                ),
            )));
        }
        if key.seals >= limits.max_seals_per_data_key {
            return done(Err(KmsError::LimitExceeded(format!(
                "This data key has sealed {} messages, its limit; generate a new one",
                key.seals
            ))));
        }
        let sealed = key.key.seal(&plaintext, &aad);
        if sealed.is_ok() {
            key.seals += 1;
        }
        done(sealed)
    }

    fn open(
        &mut self,
        handle: Resource<DataKeyHandle>,
        sealed: Vec<u8>,
        aad: Vec<u8>,
    ) -> HostResult<Vec<u8>> {
        let key = self.table.get(&handle)?;
        done(key.key.open(&sealed, &aad).map(|p| p.to_vec()))
    }

    fn drop(&mut self, handle: Resource<DataKeyHandle>) -> wasmtime::Result<()> {
        // The handle's plaintext is zeroized as it drops here.
        self.table.delete(handle)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl Host for KmsCtxView<'_> {
    fn generate(
        &mut self,
        key: Resource<KeyHandle>,
        spec: wit::DataKeySpec,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Resource<DataKeyHandle>> {
        let facts = self.checked_key(&key, KeyOperation::GenerateDataKey)?;
        let generated = facts.and_then(|facts| {
            self.reserve_handle("GenerateDataKey", Some(facts.arn.clone()))?;
            let req = data_key_request(&facts.key_id, spec, from_wit_context(encryption_context)?);
            self.ctx.service.generate_data_key_held(self.caller(), req)
        });
        match generated {
            Ok(key) => done(Ok(self.push_data_key(key)?)),
            Err(e) => done(Err(e)),
        }
    }

    fn unwrap(
        &mut self,
        wrapped: Vec<u8>,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Resource<DataKeyHandle>> {
        let unwrapped = (|| {
            let encryption_context = from_wit_context(encryption_context)?;
            let facts = self.ciphertext_key(&wrapped, KeyOperation::Decrypt)?;
            self.reserve_handle("Decrypt", Some(facts.arn.clone()))?;
            let req = DecryptRequest::new(wrapped)
                .with_context(encryption_context)
                .with_key(facts.key_id.to_string());
            self.ctx.service.unwrap_data_key(self.caller(), req)
        })();
        match unwrapped {
            Ok(key) => done(Ok(self.push_data_key(key)?)),
            Err(e) => done(Err(e)),
        }
    }
}
