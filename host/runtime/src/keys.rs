//! `kms:vault/keys`: opening a KMS key as a `key` handle and using it (metadata, encrypt, sign,
//! verify, MAC, public key), plus the calls that name their key through a ciphertext (decrypt,
//! re-encrypt) and generate-random. `open` is the one place a key name crosses the boundary.

use wasmtime::component::Resource;

use crate::bindings::keys::{Decrypted, Encapsulated, Host, HostKey};
use crate::bindings::types as wit;
use crate::capability::KeyOperation;
use crate::ctx::{HostResult, KmsCtx, KmsCtxView, done};
use crate::handles::KeyHandle;
use crate::types::{
    data_key_pair_request, data_key_request, from_wit_context, from_wit_mac, from_wit_message_type,
    from_wit_signing, to_wit_metadata,
};
use kms_core::error::{KmsError, KmsResult};
use kms_core::types::{EncapsulationAlgorithmSpec, KeyAgreementAlgorithmSpec, KeyId};
use kms_service::{
    Accept, Admission, DecapsulateRequest, DecryptRequest, DeriveSharedSecretRequest,
    EncapsulateRequest, EncryptRequest, GenerateMacRequest, KeyMetadata, KeyRequest,
    ReEncryptRequest, SignRequest, VerifyMacRequest, VerifyRequest,
};

impl KmsCtxView<'_> {
    fn describe(&self, key_id: &KeyId) -> KmsResult<KeyMetadata> {
        self.ctx
            .service
            .describe_key(self.caller(), KeyRequest::new(key_id.to_string()))
            .map(|r| r.key_metadata)
    }
}

impl HostKey for KmsCtxView<'_> {
    fn metadata(&mut self, handle: Resource<KeyHandle>) -> HostResult<wit::KeyMetadata> {
        let facts = match self.checked_key(&handle, KeyOperation::Describe)? {
            Ok(facts) => facts,
            Err(e) => return done(Err(e)),
        };
        done(self.describe(&facts.key_id).map(to_wit_metadata))
    }

    fn encrypt(
        &mut self,
        handle: Resource<KeyHandle>,
        plaintext: Vec<u8>,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::Encrypt)?;
        done(facts.and_then(|facts| {
            let req = EncryptRequest::new(facts.key_id.to_string(), plaintext)
                .with_context(from_wit_context(encryption_context)?);
            self.ctx
                .service
                .encrypt(self.caller(), req)
                .map(|r| r.ciphertext_blob)
        }))
    }

    fn generate_data_key_without_plaintext(
        &mut self,
        handle: Resource<KeyHandle>,
        spec: wit::DataKeySpec,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::GenerateDataKey)?;
        done(facts.and_then(|facts| {
            let req = data_key_request(&facts.key_id, spec, from_wit_context(encryption_context)?);
            self.ctx
                .service
                .generate_data_key_without_plaintext(self.caller(), req)
                .map(|r| r.ciphertext_blob)
        }))
    }

    fn sign(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        message_type: wit::MessageType,
        algorithm: wit::SigningAlgorithm,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::Sign)?;
        done(facts.and_then(|facts| {
            let req = SignRequest {
                grant_tokens: Vec::new(),
                dry_run: false,
                key_id: facts.key_id.to_string(),
                message,
                message_type: Some(from_wit_message_type(message_type)),
                signing_algorithm: Some(from_wit_signing(algorithm)),
            };
            self.ctx
                .service
                .sign(self.caller(), req)
                .map(|r| r.signature)
        }))
    }

    fn verify(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        message_type: wit::MessageType,
        signature: Vec<u8>,
        algorithm: wit::SigningAlgorithm,
    ) -> HostResult<()> {
        let facts = self.checked_key(&handle, KeyOperation::Verify)?;
        done(facts.and_then(|facts| {
            let req = VerifyRequest {
                grant_tokens: Vec::new(),
                dry_run: false,
                key_id: facts.key_id.to_string(),
                message,
                message_type: Some(from_wit_message_type(message_type)),
                signature,
                signing_algorithm: Some(from_wit_signing(algorithm)),
            };
            self.ctx.service.verify(self.caller(), req).map(|_| ())
        }))
    }

    fn public_key(&mut self, handle: Resource<KeyHandle>) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::GetPublicKey)?;
        done(facts.and_then(|facts| {
            self.ctx
                .service
                .get_public_key(self.caller(), KeyRequest::new(facts.key_id.to_string()))
                .map(|r| r.public_key)
        }))
    }

    fn generate_mac(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        algorithm: wit::MacAlgorithm,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::GenerateMac)?;
        done(facts.and_then(|facts| {
            let req = GenerateMacRequest {
                grant_tokens: Vec::new(),
                dry_run: false,
                key_id: facts.key_id.to_string(),
                message,
                mac_algorithm: Some(from_wit_mac(algorithm)),
            };
            self.ctx
                .service
                .generate_mac(self.caller(), req)
                .map(|r| r.mac)
        }))
    }

    fn verify_mac(
        &mut self,
        handle: Resource<KeyHandle>,
        message: Vec<u8>,
        mac: Vec<u8>,
        algorithm: wit::MacAlgorithm,
    ) -> HostResult<()> {
        let facts = self.checked_key(&handle, KeyOperation::VerifyMac)?;
        done(facts.and_then(|facts| {
            let req = VerifyMacRequest {
                grant_tokens: Vec::new(),
                dry_run: false,
                key_id: facts.key_id.to_string(),
                message,
                mac,
                mac_algorithm: Some(from_wit_mac(algorithm)),
            };
            self.ctx.service.verify_mac(self.caller(), req).map(|_| ())
        }))
    }

    fn derive_shared_secret(
        &mut self,
        handle: Resource<KeyHandle>,
        public_key: Vec<u8>,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::DeriveSharedSecret)?;
        done(facts.and_then(|facts| {
            let req = DeriveSharedSecretRequest {
                key_id: facts.key_id.to_string(),
                key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
                public_key,
                ..Default::default()
            };
            self.ctx
                .service
                .derive_shared_secret(self.caller(), req)
                .map(|r| r.shared_secret.to_vec())
        }))
    }

    fn encapsulate(&mut self, handle: Resource<KeyHandle>) -> HostResult<Encapsulated> {
        let facts = self.checked_key(&handle, KeyOperation::Encapsulate)?;
        done(facts.and_then(|facts| {
            let req = EncapsulateRequest {
                key_id: facts.key_id.to_string(),
                encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
                ..Default::default()
            };
            self.ctx
                .service
                .encapsulate(self.caller(), req)
                .map(|r| Encapsulated {
                    shared_secret: r.shared_secret.to_vec(),
                    ciphertext: r.shared_secret_ciphertext_blob,
                })
        }))
    }

    fn decapsulate(
        &mut self,
        handle: Resource<KeyHandle>,
        ciphertext: Vec<u8>,
    ) -> HostResult<Vec<u8>> {
        let facts = self.checked_key(&handle, KeyOperation::Decapsulate)?;
        done(facts.and_then(|facts| {
            let req = DecapsulateRequest {
                key_id: facts.key_id.to_string(),
                shared_secret_ciphertext_blob: ciphertext,
                encapsulation_algorithm: Some(EncapsulationAlgorithmSpec::MlKem),
                ..Default::default()
            };
            self.ctx
                .service
                .decapsulate(self.caller(), req)
                .map(|r| r.shared_secret.to_vec())
        }))
    }

    fn generate_data_key_pair_without_plaintext(
        &mut self,
        handle: Resource<KeyHandle>,
        spec: wit::DataKeyPairSpec,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<wit::DataKeyPair> {
        let facts = self.checked_key(&handle, KeyOperation::GenerateDataKeyPair)?;
        done(facts.and_then(|facts| {
            let req = data_key_pair_request(&facts.key_id, spec, encryption_context)?;
            self.ctx
                .service
                .generate_data_key_pair_without_plaintext(self.caller(), req)
                .map(|r| wit::DataKeyPair {
                    public_key: r.public_key,
                    private_key_ciphertext: r.private_key_ciphertext_blob,
                })
        }))
    }

    fn drop(&mut self, handle: Resource<KeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.ctx.open_handles = self.ctx.open_handles.saturating_sub(1);
        Ok(())
    }
}

impl Host for KmsCtxView<'_> {
    fn open(&mut self, name: String) -> HostResult<Resource<KeyHandle>> {
        let KmsCtx {
            service,
            caller,
            capabilities,
            refusals,
            limits,
            open_handles,
            ..
        } = &mut *self.ctx;
        let opened = if capabilities.grants().is_empty() {
            // Nothing can be opened: refused before any lookup, alike for every name.
            service.refuse_open(caller, refusals, &name)
        } else {
            let needs_tags = capabilities.selects_by_tag();
            service.open_key(caller, refusals, &name, needs_tags, |facts| {
                if capabilities.allowed(facts).is_empty() {
                    Admission::OutsideCapability
                } else if let Err(limit) = crate::ctx::handle_slot(limits, *open_handles) {
                    Admission::Refuse(limit)
                } else {
                    Admission::Admit
                }
            })
        };
        match opened {
            Ok(facts) => {
                let handle = self.table.push(KeyHandle {
                    key_id: facts.key_id,
                })?;
                self.ctx.open_handles += 1;
                done(Ok(handle))
            }
            Err(e) => done(Err(e)),
        }
    }

    fn decrypt(
        &mut self,
        ciphertext: Vec<u8>,
        encryption_context: wit::EncryptionContext,
    ) -> HostResult<Decrypted> {
        done((|| {
            let encryption_context = from_wit_context(encryption_context)?;
            let facts = self.ciphertext_key(&ciphertext, KeyOperation::Decrypt)?;
            let accept = if self.ctx.capabilities.reveal() {
                Accept::Any
            } else {
                Accept::CiphertextOnly
            };
            let req = DecryptRequest::new(ciphertext)
                .with_context(encryption_context)
                .with_key(facts.key_id.to_string());
            let response = self
                .ctx
                .service
                .decrypt_accepting(self.caller(), req, accept)?;
            Ok(Decrypted {
                key_id: response.key_id,
                plaintext: response.plaintext.to_vec(),
            })
        })())
    }

    fn re_encrypt(
        &mut self,
        ciphertext: Vec<u8>,
        source_context: wit::EncryptionContext,
        destination: Resource<KeyHandle>,
        destination_context: wit::EncryptionContext,
    ) -> HostResult<Vec<u8>> {
        let destination = self.checked_key(&destination, KeyOperation::ReEncryptTo)?;
        done((|| {
            let destination = destination?;
            let source = self.ciphertext_key(&ciphertext, KeyOperation::ReEncryptFrom)?;
            let req = ReEncryptRequest {
                grant_tokens: Vec::new(),
                dry_run: false,
                ciphertext_blob: ciphertext,
                source_encryption_context: from_wit_context(source_context)?,
                source_key_id: Some(source.key_id.to_string()),
                destination_key_id: destination.key_id.to_string(),
                destination_encryption_context: from_wit_context(destination_context)?,
                source_encryption_algorithm: None,
                destination_encryption_algorithm: None,
            };
            let accept = if self.ctx.capabilities.reveal() {
                Accept::Any
            } else {
                Accept::CiphertextOnly
            };
            self.ctx
                .service
                .re_encrypt_accepting(self.caller(), req, accept)
                .map(|r| r.ciphertext_blob)
        })())
    }

    fn generate_random(&mut self, len: u32) -> HostResult<Vec<u8>> {
        if !self.ctx.capabilities.random() {
            let error = self.refuse(
                "GenerateRandom",
                None,
                KmsError::AccessDenied(
                    "This component's capability set does not allow generate-random".into(),
                ),
            );
            return done(Err(error));
        }
        let req = kms_service::GenerateRandomRequest {
            number_of_bytes: Some(len),
        };
        done(
            self.ctx
                .service
                .generate_random(self.caller(), req)
                .map(|r| r.plaintext.to_vec()),
        )
    }
}
