//! TLS to `https://` upstreams: rustls (with the aws-lc-rs provider the workspace already
//! uses through reqwest), the system's root certificates plus optional extra CA certificates
//! (a private CA for internal services), HTTP/1.1 only.
//!
//! An `https://` upstream is always reached over TLS with its certificate checked against
//! these roots and its host name; a failed handshake is a 502, never a plaintext retry.
//!
//! ```
//! use iam_proxy::proxy::UpstreamTls;
//! // The system roots only:
//! let tls = UpstreamTls::system_roots().unwrap();
//! // PEM text that holds no certificate is refused:
//! assert!(UpstreamTls::system_roots().unwrap().with_extra_ca_pem(b"not a certificate").is_err());
//! # drop(tls);
//! ```
//!
//! # Caveats
//! - No client certificates (mutual TLS to upstreams) and no HTTP/2 (ALPN offers `http/1.1`).
//! - System roots are read once, when the proxy is built.
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::sync::Arc;

/// Why the upstream TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamTlsError {
    /// The extra CA text holds no PEM certificate.
    #[error("the CA file holds no PEM certificate")]
    NoCertificate,
    /// A PEM certificate could not be read or is not a usable trust anchor.
    #[error("a CA certificate is not usable: {0}")]
    BadCertificate(String),
    /// No TLS configuration can be made with the crypto provider.
    #[error("TLS is not available: {0}")]
    Provider(String),
}

/// The roots `https://` upstreams are checked against.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    roots: RootCertStore,
}

impl UpstreamTls {
    /// The operating system's root certificates (none found is not an error: every
    /// `https://` upstream then fails its handshake unless an extra CA is added).
    pub fn system_roots() -> Result<Self, UpstreamTlsError> {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(
            added,
            ignored,
            errors = found.errors.len(),
            "system root certificates for https upstreams"
        );
        Ok(Self { roots })
    }

    /// No roots at all (add CAs with [`with_extra_ca_pem`](Self::with_extra_ca_pem)).
    pub fn empty() -> Self {
        Self {
            roots: RootCertStore::empty(),
        }
    }

    /// Also trust the CA certificates in `pem` (one or more `CERTIFICATE` blocks).
    pub fn with_extra_ca_pem(mut self, pem: &[u8]) -> Result<Self, UpstreamTlsError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| UpstreamTlsError::BadCertificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(UpstreamTlsError::NoCertificate);
        }
        for cert in certs {
            self.roots
                .add(cert)
                .map_err(|e| UpstreamTlsError::BadCertificate(e.to_string()))?;
        }
        Ok(self)
    }

    /// How many roots are trusted.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// The rustls client configuration: these roots, safe defaults.
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, UpstreamTlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| UpstreamTlsError::Provider(e.to_string()))?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        // ALPN (`http/1.1`) is set by the connector.
        Ok(config)
    }
}
