//! The client flags shared by the commands that connect out: TLS (`send`, `load`, `proxy`) and
//! HTTP Basic auth (`send`, `load`).

use crate::transport::tls::ClientTls;
use crate::transport::userinfo::Credentials;
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

#[derive(Debug, Clone, Default, clap::Args)]
pub struct HttpAuthArgs {
    /// HTTP Basic auth user (http:// and https:// targets); needs --http-password-env. (A
    /// user:password@ in the target URL does the same; not both.)
    #[arg(long, value_name = "NAME", requires = "http_password_env")]
    pub http_user: Option<String>,
    /// Name of the environment variable that holds the HTTP Basic auth password (never the
    /// password itself on the command line).
    #[arg(long, value_name = "VAR", requires = "http_user")]
    pub http_password_env: Option<String>,
}

impl HttpAuthArgs {
    /// User and password, the password read from the environment variable named.
    pub fn basic(&self) -> anyhow::Result<Option<(String, String)>> {
        let (Some(user), Some(var)) = (&self.http_user, &self.http_password_env) else {
            return Ok(None);
        };
        let password = std::env::var(var).map_err(|_| {
            anyhow::anyhow!("--http-password-env: environment variable {var} is not set")
        })?;
        Ok(Some((user.clone(), password)))
    }

    /// The Basic credentials of a target: from the URL's userinfo or from --http-user, not
    /// both (two sources on one command line would leave the reader guessing which was sent).
    pub fn basic_for(
        &self,
        from_url: Option<Credentials>,
    ) -> anyhow::Result<Option<(String, String)>> {
        match (from_url, self.basic()?) {
            (Some(_), Some(_)) => anyhow::bail!(
                "--target names a user and password and so does --http-user: give them once"
            ),
            (Some(url), None) => Ok(Some(url.into_pair())),
            (None, flags) => Ok(flags),
        }
    }
}
