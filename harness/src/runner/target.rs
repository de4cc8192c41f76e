//! Where a run sends: a target URL resolved to a transport, or the built-in reference endpoint
//! started in-process on loopback ports (one instance per scenario file, so state and duplicate
//! detection do not leak between files).

use crate::scenario::{BuiltinSpec, Transport};
use crate::target::defect::Defects;
use crate::target::endpoint::Endpoint;
use crate::target::http::{serve_http, serve_state, BasicCredentials, HttpConfig};
use crate::target::log::Log;
use crate::target::responder::ResponderConfig;
use crate::target::server::{serve_hllp, serve_mllp, HllpServerOptions, ServerOptions};
use crate::transport::connection::Timeouts;
use crate::transport::hllp::HllpOptions;
use crate::transport::http_client::HttpTarget;
use crate::transport::mllp::MllpOptions;
use crate::transport::userinfo::{Credentials, SplitUrl};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A target as written (`--target` or the scenario's `target.url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetUrl {
    Builtin,
    Mllp(String),
    /// MLLP over TLS.
    Mllps(String),
    Http(String),
    Https(String),
    /// HLLP blocks over TCP, with the scenario's `target.hllp` settings.
    Hllp(String),
}

impl TargetUrl {
    /// Reads a target URL that must carry no credentials (userinfo is refused, and never
    /// repeated in the error).
    pub fn parse(url: &str) -> Result<TargetUrl, String> {
        match TargetUrl::parse_with_credentials(url)? {
            (target, None) => Ok(target),
            (target, Some(_)) => Err(format!(
                "{:?}: a user or password in the URL is not taken here",
                target.to_string()
            )),
        }
    }

    /// Reads a target URL; the userinfo of an `http://` or `https://` URL comes back as HTTP
    /// Basic credentials, and is refused for every other scheme (see
    /// [`crate::transport::userinfo`]). The target holds the URL without userinfo, so its
    /// [`Display`](std::fmt::Display) form, and every error here, is safe to print and to
    /// write into a report.
    pub fn parse_with_credentials(text: &str) -> Result<(TargetUrl, Option<Credentials>), String> {
        let (url, credentials) = SplitUrl::parse(text).map_err(|e| e.to_string())?.into_parts();
        let url = url.as_str();
        if url == "builtin" {
            return Ok((TargetUrl::Builtin, None));
        }
        for (scheme, tls) in [("mllp://", false), ("mllps://", true), ("hllp://", false)] {
            if let Some(addr) = url.strip_prefix(scheme) {
                let addr = addr.trim_end_matches('/');
                let valid = addr
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !valid {
                    return Err(format!("{url:?}: expected {scheme}HOST:PORT"));
                }
                let addr = addr.to_string();
                let target = match (scheme, tls) {
                    ("hllp://", _) => TargetUrl::Hllp(addr),
                    (_, true) => TargetUrl::Mllps(addr),
                    _ => TargetUrl::Mllp(addr),
                };
                return Ok((target, credentials));
            }
        }
        if url.starts_with("http://") {
            return HttpTarget::parse(url)
                .map(|_| (TargetUrl::Http(url.to_string()), credentials))
                .ok_or_else(|| format!("{url:?}: expected http://HOST:PORT/PATH"));
        }
        if url.starts_with("https://") {
            return HttpTarget::parse_https(url)
                .map(|_| (TargetUrl::Https(url.to_string()), credentials))
                .ok_or_else(|| format!("{url:?}: expected https://HOST:PORT/PATH"));
        }
        Err(format!(
            "{url:?}: unknown target; use builtin, mllp://HOST:PORT, mllps://HOST:PORT, \
             hllp://HOST:PORT, http://HOST:PORT/PATH or https://HOST:PORT/PATH"
        ))
    }

    /// Whether the target needs a TLS connector.
    pub fn uses_tls(&self) -> bool {
        matches!(self, TargetUrl::Mllps(_) | TargetUrl::Https(_))
    }
}

/// The URL as shown in output and reports: it never holds userinfo, which
/// [`TargetUrl::parse_with_credentials`] takes out.
impl std::fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetUrl::Builtin => f.write_str("builtin"),
            TargetUrl::Mllp(addr) => write!(f, "mllp://{addr}"),
            TargetUrl::Mllps(addr) => write!(f, "mllps://{addr}"),
            TargetUrl::Hllp(addr) => write!(f, "hllp://{addr}"),
            TargetUrl::Http(url) | TargetUrl::Https(url) => f.write_str(url),
        }
    }
}

/// The built-in endpoint's timeouts: a minute of idleness per connection.
fn options_idle() -> Timeouts {
    Timeouts { read: std::time::Duration::from_secs(60), ..Timeouts::default() }
}

/// The reference endpoint running for one scenario file.
pub struct Builtin {
    pub mllp_addr: String,
    pub hllp_addr: String,
    pub http_url: String,
    pub state_url: String,
    /// Where the endpoint logs.
    pub log: Log,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Builtin {
    /// Binds four loopback ports (MLLP, HLLP with the block settings `hllp`, HTTP ingest,
    /// state) and serves until [`Builtin::stop`].
    pub async fn start(
        defects: &Defects,
        spec: Option<&BuiltinSpec>,
        hllp: HllpOptions,
    ) -> std::io::Result<Builtin> {
        Builtin::start_at(defects, spec, hllp, IpAddr::from(Ipv4Addr::LOCALHOST)).await
    }

    /// As [`Builtin::start`], with MLLP and HLLP on `ip` (the host side of the packet-level
    /// lab, where the harness's connections from the lab arrive); HTTP and state stay on
    /// loopback.
    pub async fn start_at(
        defects: &Defects,
        spec: Option<&BuiltinSpec>,
        hllp: HllpOptions,
        ip: IpAddr,
    ) -> std::io::Result<Builtin> {
        Builtin::start_logging(defects, spec, hllp, ip, Log::Stderr).await
    }

    /// As [`Builtin::start_at`], logging to `log` instead of standard error.
    pub async fn start_logging(
        defects: &Defects,
        spec: Option<&BuiltinSpec>,
        hllp: HllpOptions,
        ip: IpAddr,
        log: Log,
    ) -> std::io::Result<Builtin> {
        let endpoint = Endpoint::new(ResponderConfig::default()).with_defects(defects.clone());
        let endpoint = Arc::new(endpoint.with_log(log.clone()));
        let (stop, watcher) = watch::channel(false);
        let stopped = move || {
            let mut watcher = watcher.clone();
            async move {
                let _ = watcher.wait_for(|s| *s).await;
            }
        };
        let mllp = TcpListener::bind((ip, 0)).await?;
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let state = TcpListener::bind("127.0.0.1:0").await?;
        let hllp_listener = TcpListener::bind((ip, 0)).await?;
        let (mllp_addr, http_addr, state_addr, hllp_addr) = (
            mllp.local_addr()?,
            http.local_addr()?,
            state.local_addr()?,
            hllp_listener.local_addr()?,
        );
        let hllp_options = HllpServerOptions { hllp, timeouts: options_idle() };
        let options =
            ServerOptions { mllp: MllpOptions::default(), timeouts: options_idle(), tls: None };
        let config = HttpConfig {
            basic: spec.and_then(|s| s.basic.as_ref()).map(|b| BasicCredentials {
                user: b.user.0.clone(),
                password: b.password.expose().to_string(),
            }),
            allowed_aliases: spec
                .map(|s| s.aliases.iter().map(|a| a.0.clone()).collect())
                .unwrap_or_default(),
            ..HttpConfig::default()
        };
        let tasks = vec![
            tokio::spawn({
                let endpoint = Arc::clone(&endpoint);
                let stopped = stopped();
                async move {
                    let _ = serve_hllp(hllp_listener, endpoint, hllp_options, stopped).await;
                }
            }),
            tokio::spawn({
                let endpoint = Arc::clone(&endpoint);
                let stopped = stopped();
                async move {
                    let _ = serve_mllp(mllp, endpoint, options, stopped).await;
                }
            }),
            tokio::spawn({
                let endpoint = Arc::clone(&endpoint);
                let stopped = stopped();
                async move {
                    let _ = serve_http(http, endpoint, config, stopped).await;
                }
            }),
            tokio::spawn({
                let stopped = stopped();
                async move {
                    let _ = serve_state(state, endpoint, stopped).await;
                }
            }),
        ];
        Ok(Builtin {
            mllp_addr: mllp_addr.to_string(),
            hllp_addr: hllp_addr.to_string(),
            http_url: format!("http://{http_addr}/hl7"),
            state_url: format!("http://{state_addr}"),
            log,
            stop,
            tasks,
        })
    }

    /// The URL a scenario's transport reaches the endpoint on.
    pub fn url(&self, transport: Transport) -> TargetUrl {
        match transport {
            Transport::Mllp => TargetUrl::Mllp(self.mllp_addr.clone()),
            Transport::Http => TargetUrl::Http(self.http_url.clone()),
            Transport::Hllp => TargetUrl::Hllp(self.hllp_addr.clone()),
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls() {
        assert_eq!(TargetUrl::parse("builtin"), Ok(TargetUrl::Builtin));
        assert_eq!(
            TargetUrl::parse("mllp://127.0.0.1:2575"),
            Ok(TargetUrl::Mllp("127.0.0.1:2575".into()))
        );
        assert!(TargetUrl::parse("mllp://nohost").is_err());
        assert!(TargetUrl::parse("http://h:1/x").is_ok());
        assert_eq!(TargetUrl::parse("mllps://h:2575"), Ok(TargetUrl::Mllps("h:2575".into())));
        assert!(TargetUrl::parse("https://h:1/x").unwrap().uses_tls());
        assert!(TargetUrl::parse("ftp://x").unwrap_err().contains("unknown target"));
        assert_eq!(TargetUrl::parse("hllp://h:2576"), Ok(TargetUrl::Hllp("h:2576".into())));
    }

    /// Userinfo is HTTP Basic credentials for http(s), refused elsewhere; neither the target
    /// nor any error holds the password.
    #[test]
    fn target_url_credentials() {
        let (url, credentials) =
            TargetUrl::parse_with_credentials("http://alice:secret@h:1/x").unwrap();
        assert_eq!(url, TargetUrl::Http("http://h:1/x".into()));
        assert_eq!(url.to_string(), "http://h:1/x");
        assert_eq!(credentials.unwrap().into_pair(), ("alice".into(), "secret".into()));
        for text in [
            "mllp://alice:secret@h:1",
            "mllps://alice:secret@h:1",
            "hllp://alice:secret@h:1",
            "mllp://alice:secret@nohost",
            "http://alice:secret@h:1/x",
            "alice:secret@h:1",
        ] {
            let error = TargetUrl::parse(text).unwrap_err();
            assert!(!error.contains("secret"), "{text}: {error}");
        }
        assert!(TargetUrl::parse_with_credentials("mllp://alice:secret@h:1").is_err());
    }
}
