//! `kms:vault/config`: the settings an operator gave the instance (`Tenant::config`,
//! [`KmsCtxBuilder::config`](crate::KmsCtxBuilder::config)), read-only to the guest.

use crate::bindings::config;
use crate::ctx::KmsCtxView;

impl config::Host for KmsCtxView<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.ctx.config.get(&name).cloned())
    }

    fn entries(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .ctx
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
