//! The TLS client flags shared by the commands that connect out (`send`, `load`, `proxy`).

use crate::transport::tls::ClientTls;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsClientArgs {
    /// PEM file of the CA certificates that may sign the server's certificate (mllps://,
    /// https://); the server is always verified.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --tls-client-key.
    #[arg(long, value_name = "FILE", requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    /// The PEM private key of --tls-client-cert.
    #[arg(long, value_name = "FILE", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
}

impl TlsClientArgs {
    /// The client TLS settings these flags give.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls {
            ca_file: self.tls_ca.clone(),
            client_cert: self.tls_client_cert.clone().zip(self.tls_client_key.clone()),
        }
    }
}
