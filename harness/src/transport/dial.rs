//! The one way a client of the harness opens its TCP stream to a target and, for `mllps://`,
//! completes the TLS handshake: the framed connections (`run`, `send`, `load`, the canaries)
//! and the proxy's upstream side all come through here, so that every connect has the same
//! timeout and its failures the same named [`TransportError`]s.
//!
//! Where the stream starts is a [`Route`]: from this host, or handed over already connected by
//! a [`Dialer`] (the dead-peer lab connects from inside its network namespace). This module
//! knows no HL7 and no framing; it only connects.

use super::connection::TransportError;
use rustls::pki_types::ServerName;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// What a [`Dialer`] returns: a TCP stream connected to the address it was given.
pub type Dialed<'a> = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'a>>;

/// Something that hands over a TCP stream already connected to an address, in place of a
/// plain connect from this host.
pub trait Dialer: Send + Sync {
    /// A stream connected to `addr` (`HOST:PORT`), within `wait`: the dialer keeps to it
    /// itself, and says it ran out with an error of kind [`io::ErrorKind::TimedOut`] (reported
    /// as a connect timeout; every other error as a failed connect).
    fn dial<'a>(&'a self, addr: &'a str, wait: Duration) -> Dialed<'a>;
}

/// Where a client's TCP stream starts.
#[derive(Clone, Default)]
pub enum Route {
    /// A plain connect from this host.
    #[default]
    Direct,
    /// Through a [`Dialer`].
    Via(Arc<dyn Dialer>),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Direct => f.write_str("Direct"),
            Route::Via(_) => f.write_str("Via(dialer)"),
        }
    }
}

/// Opens a TCP stream to `addr` (`HOST:PORT`) along `route` within `wait`.
pub async fn connect_tcp(
    addr: &str,
    route: &Route,
    wait: Duration,
) -> Result<TcpStream, TransportError> {
    let timed_out = || TransportError::ConnectTimeout { addr: addr.to_string(), after: wait };
    let failed = |source| TransportError::Connect { addr: addr.to_string(), source };
    match route {
        Route::Direct => match timeout(wait, TcpStream::connect(addr)).await {
            Err(_) => Err(timed_out()),
            Ok(Err(source)) => Err(failed(source)),
            Ok(Ok(stream)) => Ok(stream),
        },
        Route::Via(dialer) => match dialer.dial(addr, wait).await {
            Err(source) if source.kind() == io::ErrorKind::TimedOut => Err(timed_out()),
            Err(source) => Err(failed(source)),
            Ok(stream) => Ok(stream),
        },
    }
}

/// The client side of a TLS handshake on a connected stream, within `wait`; the server's
/// certificate must carry `name` (see [`super::tls::server_name`]). `addr` names the peer in
/// errors.
pub async fn tls_handshake(
    tcp: TcpStream,
    addr: &str,
    name: ServerName<'static>,
    connector: &TlsConnector,
    wait: Duration,
) -> Result<TlsStream<TcpStream>, TransportError> {
    match timeout(wait, connector.connect(name, tcp)).await {
        Err(_) => Err(TransportError::ConnectTimeout { addr: addr.to_string(), after: wait }),
        Ok(Err(source)) => Err(TransportError::Tls { addr: addr.to_string(), source }),
        Ok(Ok(tls)) => Ok(tls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A dialer that never connects and says so as a timeout, or fails otherwise.
    struct Refusing(io::ErrorKind);

    impl Dialer for Refusing {
        fn dial<'a>(&'a self, _addr: &'a str, _wait: Duration) -> Dialed<'a> {
            let kind = self.0;
            Box::pin(async move { Err(io::Error::new(kind, "refused by the dialer")) })
        }
    }

    #[tokio::test]
    async fn a_dialers_timeout_is_a_connect_timeout_and_other_errors_a_failed_connect() {
        let wait = Duration::from_millis(50);
        let via = |kind| Route::Via(Arc::new(Refusing(kind)));
        let timed_out = connect_tcp("10.0.0.1:9", &via(io::ErrorKind::TimedOut), wait).await;
        assert_eq!(timed_out.unwrap_err().code().to_string(), "connect-timeout");
        let failed = connect_tcp("10.0.0.1:9", &via(io::ErrorKind::Other), wait).await;
        let failed = failed.unwrap_err();
        assert_eq!(failed.code().to_string(), "connect-failed");
        assert!(failed.to_string().ends_with("refused by the dialer"), "{failed}");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert!(connect_tcp(&addr, &Route::Direct, wait).await.is_ok());
    }
}
