//! TLS for MLLP (`mllps://`) and HL7 over HTTPS with rustls: the client verifies the server against a CA file and
//! may present a certificate of its own (mutual TLS); the server presents a certificate and may
//! require client certificates signed by a CA it trusts. Every problem with a file names it.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}: {what}")]
    File { path: String, what: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("{name:?} is not a valid TLS server name")]
    ServerName { name: String },
}

/// The client side: whom to trust, and which certificate to show if the server asks.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// PEM file of the CA certificates that may sign the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain and private key for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// The server side: its certificate and, for mutual TLS, the CA that signs client certificates.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_error(path: &Path, what: impl Into<String>) -> TlsError {
    TlsError::File { path: path.display().to_string(), what: what.into() }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read certificates: {e}")))?
        .collect();
    let certs = certs.map_err(|e| file_error(path, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            path,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| file_error(path, format!("no usable PEM private key: {e}")))
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in read_certs(path)? {
        store
            .add(cert)
            .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

impl ClientTls {
    /// A connector. Without a CA file there is nothing to verify the server against, which is
    /// an error: the harness never connects without verification.
    pub fn connector(&self) -> Result<TlsConnector, TlsError> {
        let ca = self.ca_file.as_deref().ok_or_else(|| TlsError::File {
            path: "(none)".into(),
            what: "mllps:// and https:// need a CA file to verify the server (--tls-ca)".into(),
        })?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots(ca)?);
        let config = match &self.client_cert {
            Some((cert, key)) => {
                builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

impl ServerTls {
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_ca_file {
            Some(ca) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(ca)?),
                    provider(),
                )
                .build()
                .map_err(|e| file_error(ca, format!("cannot verify clients with it: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config =
            builder.with_single_cert(read_certs(&self.cert_file)?, read_key(&self.key_file)?)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// The name the server's certificate must carry: the host part of `host:port`.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::ServerName { name: host.to_string() })
}
