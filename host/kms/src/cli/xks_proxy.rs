//! `kms xks-proxy`: this service as an external key manager, serving AWS's XKS Proxy API, so
//! that any XKS client (AWS KMS's external key stores, or another `kms serve`) can use the keys
//! of this vault as its external keys.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use zeroize::Zeroizing;

use super::Invocation;
use kms_server::xks::{ProxyCredential, XksProxyConfig};

#[derive(clap::Args, Debug)]
pub(super) struct XksProxyArgs {
    /// Address to listen on, as HOST:PORT (port 0 picks a free one). Plain HTTP: put a TLS
    /// terminator in front of it for AWS KMS, which speaks only HTTPS on port 443.
    #[arg(long, default_value = "127.0.0.1:4600")]
    listen: SocketAddr,
    /// The URI path prefix before /kms/xks/v1 (empty, or e.g. /example-prefix).
    #[arg(long, default_value = "")]
    uri_path_prefix: String,
    /// The access key id clients sign with (20 to 30 characters of A-Z and 2-7), as the
    /// store's XksProxyAuthenticationCredential names it.
    #[arg(long)]
    access_key_id: String,
    /// The raw secret of that credential (43 to 64 base64 characters); better given in the
    /// environment than on the command line.
    #[arg(long, env = "KMS_XKS_PROXY_SECRET", hide_env_values = true)]
    secret: String,
    /// Allowed clock difference of signed requests, in seconds (the spec: 5 minutes).
    #[arg(long, default_value_t = 300)]
    max_skew_seconds: u64,
}

pub(super) fn xks_proxy(kms: &Invocation, args: XksProxyArgs) -> anyhow::Result<()> {
    let prefix = args.uri_path_prefix.trim_end_matches('/').to_string();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        anyhow::bail!("--uri-path-prefix must start with / (or be empty)");
    }
    let config = Arc::new(XksProxyConfig {
        prefix: prefix.clone(),
        credentials: vec![ProxyCredential {
            access_key_id: args.access_key_id,
            secret: Zeroizing::new(args.secret),
        }],
        max_skew: args.max_skew_seconds,
        caller: kms.me.clone(),
    });
    kms_server::xks::run_xks_proxy(Arc::clone(&kms.service), config, args.listen, |addr| {
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "kms xks-proxy: listening on http://{addr} (XksProxyUriPath {prefix}/kms/xks/v1)"
        )?;
        stdout.flush()
    })
    .with_context(|| format!("kms xks-proxy on {}", args.listen))?;
    eprintln!("kms xks-proxy: stopped");
    Ok(())
}
