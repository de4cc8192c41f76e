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
use crate::target::threaded::{DEFAULT_CONNECTION_THREADS, DEFAULT_READ_SPIN};
use crate::transport::connection::Timeouts;
use crate::transport::hllp::HllpOptions;
use crate::transport::mllp::MllpOptions;
pub use crate::transport::target_url::TargetUrl;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
        Builtin::start_playing(defects, spec, hllp, ip, log, None).await
    }

    /// As [`Builtin::start_logging`], playing `plays` (a target profile,
    /// `builtin.plays_profile`) instead of the e-health feed when given.
    pub async fn start_playing(
        defects: &Defects,
        spec: Option<&BuiltinSpec>,
        hllp: HllpOptions,
        ip: IpAddr,
        log: Log,
        plays: Option<&crate::profile::TargetProfile>,
    ) -> std::io::Result<Builtin> {
        let endpoint = match plays {
            Some(profile) => Endpoint::playing(profile),
            None => Endpoint::new(ResponderConfig::default()),
        };
        let endpoint = endpoint.with_defects(defects.clone());
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
        let options = ServerOptions {
            mllp: MllpOptions::default(),
            timeouts: options_idle(),
            tls: None,
            connection_threads: DEFAULT_CONNECTION_THREADS,
            read_spin: DEFAULT_READ_SPIN,
        };
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
