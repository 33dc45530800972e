//! `serve --tls-cert/--tls-key`: the server's rustls configuration (ring provider: it needs only a
//! C compiler to build, aws-lc-rs also needs cmake), TLS 1.2 and 1.3, HTTP/1.1 by ALPN.

use std::path::Path;
use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot read the certificate chain {path}: {message}: give a PEM file of the server certificate (then any intermediates) with --tls-cert"
    )]
    Cert { path: String, message: String },
    #[error(
        "cannot read the private key {path}: {message}: give a PEM file with one PKCS#8, PKCS#1 or SEC1 key with --tls-key"
    )]
    Key { path: String, message: String },
    #[error("the certificate {cert} and the key {key} do not make a TLS configuration: {message}")]
    Config {
        cert: String,
        key: String,
        message: String,
    },
}

/// The acceptor for a PEM certificate chain and its PEM private key.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |message: String| TlsError::Cert {
        path: cert.display().to_string(),
        message,
    };
    // rustls-pki-types src/pem.rs, `PemObject::pem_file_iter`: every CERTIFICATE section.
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("it holds no CERTIFICATE section".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let config_err = |e: rustls::Error| TlsError::Config {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message: e.to_string(),
    };
    // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange
    // (X25519MLKEM768, which only aws-lc-rs has); its TLS 1.3 with X25519 and P-256 stays sound.
    // aws-lc-rs would need cmake and a large C build here (no cmake on these machines), and ureq's
    // `rustls` feature in the collector is ring too.
    #[expect(deprecated, reason = "ring: no post-quantum key exchange, see above")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // rustls 0.23 src/server/builder.rs, `ConfigBuilder::with_single_cert` ->
    // src/crypto/signer.rs, `CertifiedKey::from_der`: refuses a key that does not match the
    // certificate's public key (`keys_match`).
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_err)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(config_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
