//! `kms:vault/reveal`: a held data key's plaintext, for the instances granted it. The host
//! refuses a component that imports this interface without the grant before it runs; the façade
//! checks the grant again on each call and audits it.

use wasmtime::component::Resource;

use crate::bindings::reveal::Host;
use crate::ctx::{HostResult, KmsCtxView, done};
use crate::handles::DataKeyHandle;

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
}
