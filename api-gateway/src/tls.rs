//! HTTPS: rustls with the ring provider (no aws-lc), with the certificate
//! chain and key the configuration loaded (`common::tls`), ALPN for HTTP/2
//! and HTTP/1.1.

use crate::StartError;
use common::config::GatewayConfig;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The acceptor when `tls_cert` and `tls_key` are set, `None` otherwise.
pub(crate) fn acceptor(config: &GatewayConfig) -> Result<Option<TlsAcceptor>, StartError> {
    let Some(identity) = &config.tls else {
        return Ok(None);
    };
    let (certs, key) = identity.certified();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(e.to_string()))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}
