//! `hl7-harness serve`: the reference endpoint on MLLP, and optionally on HL7 over HTTP and
//! with the JSON state endpoint.

use super::exit;
use super::hllp_args::HllpArgs;
use crate::target::defect::{parse_defect, Defect, Defects};
use crate::target::endpoint::Endpoint;
use crate::target::http::{
    serve_http, serve_https, serve_state_with, BasicCredentials, HttpConfig,
};
use crate::target::journal;
use crate::target::profile::{declared_profile, Served, HEADER};
use crate::target::responder::ResponderConfig;
use crate::target::server::{
    serve_hllp, serve_mllp_with_commit_ack, CommitAcks, HllpServerOptions, ServerOptions,
};
use crate::target::threaded::DEFAULT_CONNECTION_THREADS;
use crate::transport::connection::Timeouts;
use crate::transport::mllp::MllpOptions;
use crate::transport::tls::ServerTls;
use crate::vocab::parse_duration;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// MLLP address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2575")]
    pub listen: String,
    /// Append every received message to FILE, synced before its ACK is sent; on start the file
    /// is replayed, so state and duplicate detection survive a restart.
    /// Records carry a SHA-256 checksum; a write that fails (disk full) is cut off again and
    /// the message answered AR (CE in enhanced mode), never AA. A damaged journal stops the
    /// start with the byte offset of the damage (see --repair).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Repair the --journal FILE and exit: keep every complete record in order (those after
    /// the damage too), move the damaged bytes to FILE.damaged-<unix millis>, say what was done.
    #[arg(long, requires = "journal")]
    pub repair: bool,
    /// Close a connection that sends nothing for this long.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Serve up to N plain MLLP connections on a thread each (a blocking read: no readiness
    /// poll between messages, the fastest way for a few busy connections); the rest, and
    /// every connection over TLS, with --commit-ack or with a --defect, on the async loop.
    /// 0: every connection on the async loop.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONNECTION_THREADS)]
    pub connection_threads: usize,
    /// After answering a message, a connection's thread keeps trying its socket up to this
    /// long before its read sleeps, so that a sender's next message finds it awake (a sleeping
    /// core is slow to wake, on a VM most of all; on loopback with one connection this gave
    /// 2.5x the round trips). Once per answer, yielding the core to any thread with work; the
    /// wait shrinks to none while a connection's messages come later than this, and grows back
    /// when they come sooner. 0 turns it off.
    #[arg(long, value_name = "DURATION", default_value = "50us", value_parser = parse_duration)]
    pub read_spin: Duration,
    /// Largest MLLP frame accepted; a longer frame is a framing error and closes the connection.
    #[arg(long, value_name = "BYTES", default_value_t = MllpOptions::default().max_frame_bytes)]
    pub max_frame_bytes: usize,
    /// Serve MLLP over TLS (mllps://) with this PEM certificate chain (needs --tls-key); also
    /// the certificate of --https.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA in this PEM file (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Switch on a known bug, to prove that the harness catches it, or a permitted behaviour,
    /// to prove that it passes (repeatable; --list-defects lists both kinds).
    #[arg(long = "defect", value_name = "NAME", value_parser = parse_defect)]
    pub defects: Vec<Defect>,
    /// List the switches with one line each, and exit: the defects (violations of the
    /// standard, which the harness must catch), then the permitted behaviours (choices the
    /// standard leaves to a receiver, which the harness must pass).
    #[arg(long)]
    pub list_defects: bool,
    /// Print the endpoint's target profile (YAML: what it declares, with the --defect
    /// permitted behaviours and --commit-ack/--state as given), and exit. For
    /// `run --target-profile FILE`.
    #[arg(long)]
    pub print_profile: bool,
    /// Play the interface a target profile declares instead of the built-in e-health feed:
    /// accept its versions, messages and processing ids (undeclared: every one), judge each
    /// message against its message profiles and answer AE with one ERR per error, as its
    /// `missing_required` and `invalid_values` say (undeclared: reject). A sandbox of a vendor's
    /// interface, and the receiver a profile's generated pack (`profile pack`) passes against.
    /// With --print-profile, prints that profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Also take HL7 over HTTP (one message per POST) on this address.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Also take HL7 over HTTPS on this address, with the certificate of --tls-cert/--tls-key
    /// (which then also make the MLLP listener mllps://) and the same Basic auth and alias
    /// rules as --http.
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub https: Option<String>,
    /// Also take HLLP (Hybrid Lower Layer Protocol) blocks on this address: a good block is
    /// answered with a D block holding the ACK, a block whose size or checksum is wrong with an
    /// N block (and is not processed).
    #[arg(long, value_name = "ADDR")]
    pub hllp: Option<String>,
    #[command(flatten)]
    pub hllp_args: HllpArgs,
    /// MLLP Release 2: send a commit acknowledgement (0x0B 0x06 0x1C 0x0D) once a message is
    /// journaled, before its application ACK, or a commit NAK (0x0B 0x15 0x1C 0x0D) when it
    /// could not be stored.
    #[arg(long)]
    pub commit_ack: bool,
    /// With --commit-ack: refuse the first delivery of each message (by MSH-3, MSH-4, MSH-10)
    /// with a commit NAK, neither storing nor answering it; the resend is committed and
    /// answered. Behaviour MLLP release 2 permits, for testing senders and the harness.
    #[arg(long, requires = "commit_ack")]
    pub commit_nak_first: bool,
    /// Serve the state as JSON (GET /state, /clients/ID, /professionals/ID, /errors) here. It
    /// holds patient data: with --http-user it takes the same Basic credentials, and an
    /// address that is not loopback needs --state-public.
    #[arg(long, value_name = "ADDR")]
    pub state: Option<String>,
    /// Allow --state on an address other than loopback (it serves names, birth dates and
    /// addresses to whoever reaches it; without --http-user, to anyone).
    #[arg(long, requires = "state")]
    pub state_public: bool,
    /// Require HTTP Basic authentication with this user name (needs --http-password-env).
    #[arg(long, value_name = "NAME", requires = "http_password_env")]
    pub http_user: Option<String>,
    /// Name of the environment variable holding the HTTP Basic password (never the password
    /// itself, which would show in the process list).
    #[arg(long, value_name = "VAR", requires = "http_user")]
    pub http_password_env: Option<String>,
    /// How long an HTTP request's body may take to arrive once its headers are in; a slower
    /// one is answered 408 and logged.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub http_body_timeout: Duration,
    /// Allowed connecting alias in MSH-4 `connecting-alias{data-controller-alias}` (repeatable);
    /// when given, HTTP messages from other aliases are rejected with AR.
    #[arg(long = "http-alias", value_name = "ALIAS")]
    pub http_aliases: Vec<String>,
}

/// The HTTP settings the flags ask for; the password is read from the environment here.
fn http_config(args: &ServeArgs) -> anyhow::Result<HttpConfig> {
    let basic = match (&args.http_user, &args.http_password_env) {
        (Some(user), Some(var)) => {
            let password = std::env::var(var).map_err(|e| match e {
                std::env::VarError::NotPresent => {
                    anyhow::anyhow!("--http-password-env: environment variable {var} is not set")
                }
                std::env::VarError::NotUnicode(_) => {
                    anyhow::anyhow!("--http-password-env: environment variable {var} is not UTF-8")
                }
            })?;
            Some(BasicCredentials { user: user.clone(), password })
        }
        _ => None,
    };
    Ok(HttpConfig {
        basic,
        allowed_aliases: args.http_aliases.clone(),
        body_timeout: args.http_body_timeout,
        ..HttpConfig::default()
    })
}

/// Runs until Ctrl-C. Prints `listening on mllp://ADDR` (or `mllps://`) once bound.
pub fn run(args: &ServeArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if args.list_defects {
        let width = Defect::ALL.iter().map(|d| d.name().len()).max().unwrap_or(0);
        let sections = [
            (
                "Defects (violations of the standard; the harness must catch each):",
                Defect::VIOLATIONS,
            ),
            (
                "Permitted behaviours (the standard allows them; the harness must pass each):",
                Defect::PERMITTED,
            ),
        ];
        for (i, (title, defects)) in sections.into_iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{title}")?;
            for defect in defects {
                writeln!(out, "  {:<width$}  {}", defect.name(), defect.description())?;
            }
        }
        return Ok(exit::OK);
    }
    let played = match &args.profile {
        Some(path) => Some(crate::scenario::load_profile(path)?.profile),
        None => None,
    };
    if let (true, Some(profile)) = (args.print_profile, &played) {
        write!(out, "{}", crate::scenario::to_yaml(profile.as_ref())?)?;
        return Ok(exit::OK);
    }
    if args.print_profile {
        let endpoint = Endpoint::new(ResponderConfig::default())
            .with_defects(Defects::of(args.defects.iter().copied()));
        let served = Served {
            commit_ack: args.commit_ack,
            state: args.state.as_ref().map(|addr| format!("http://{addr}")),
        };
        let yaml = crate::scenario::to_yaml(&declared_profile(&endpoint, &served))?;
        write!(out, "{HEADER}{yaml}")?;
        return Ok(exit::OK);
    }
    if args.repair {
        let path = args.journal.as_ref().expect("clap: --repair requires --journal");
        let repair = journal::repair(path)?;
        writeln!(out, "journal {}: {repair}", path.display())?;
        return Ok(exit::OK);
    }
    let http = http_config(args)?;
    let state_basic = http.basic.clone();
    let endpoint = match (&args.journal, &played) {
        (Some(path), Some(profile)) => Endpoint::playing_with_journal(profile, path)?,
        (Some(path), None) => Endpoint::with_journal(ResponderConfig::default(), path)?,
        (None, Some(profile)) => Endpoint::playing(profile),
        (None, None) => Endpoint::new(ResponderConfig::default()),
    };
    let endpoint = endpoint.with_defects(Defects::of(args.defects.iter().copied()));
    let endpoint = Arc::new(endpoint);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            ServerTls {
                cert_file: cert.clone(),
                key_file: key.clone(),
                client_ca_file: args.tls_client_ca.clone(),
            }
            .acceptor()?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "mllps" } else { "mllp" };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        ignore_file_size_signal()?;
        let listener = bind(&args.listen).await?;
        let _ = writeln!(out, "listening on {scheme}://{}", listener.local_addr()?);
        let http_listener = match &args.http {
            Some(addr) => {
                let bound = bind(addr).await?;
                let _ = writeln!(out, "listening on http://{}", bound.local_addr()?);
                Some(bound)
            }
            None => None,
        };
        let https_listener = match (&args.https, &tls) {
            (Some(addr), Some(_)) => {
                let bound = bind(addr).await?;
                let _ = writeln!(out, "listening on https://{}", bound.local_addr()?);
                Some(bound)
            }
            _ => None,
        };
        let hllp_listener = match &args.hllp {
            Some(addr) => {
                let bound = bind(addr).await?;
                let _ = writeln!(out, "listening on hllp://{}", bound.local_addr()?);
                Some(bound)
            }
            None => None,
        };
        let state_listener = match &args.state {
            Some(addr) => {
                let bound = bind(addr).await?;
                let local = bound.local_addr()?;
                if !local.ip().is_loopback() && !args.state_public {
                    anyhow::bail!(
                        "--state {addr}: the state endpoint serves patient data and {} is not a \
                         loopback address; give --state-public to serve it there",
                        local.ip()
                    );
                }
                if !local.ip().is_loopback() {
                    eprintln!(
                        "hl7-harness serve: warning: the state endpoint (patient data) is served \
                         on {local}, {}",
                        if state_basic.is_some() {
                            "behind the --http-user credentials"
                        } else {
                            "to anyone who reaches it (no --http-user)"
                        }
                    );
                }
                let _ = writeln!(out, "state on http://{local}");
                Some(bound)
            }
            None => None,
        };
        if !endpoint.defects().is_empty() {
            let names: Vec<&str> = endpoint.defects().iter().map(|d| d.name()).collect();
            let _ = writeln!(out, "DEFECTS ON (not a correct endpoint): {}", names.join(", "));
        }
        if endpoint.received() > 0 {
            let _ = writeln!(out, "replayed {} journaled message(s)", endpoint.received());
        }
        // Status lines are best effort: a server keeps serving when whoever started it stops
        // reading its output (a closed pipe must not end it).
        let _ = out.flush();
        let timeouts = Timeouts { read: args.idle_timeout, ..Timeouts::default() };
        let https_tls = tls.clone();
        let options = ServerOptions {
            mllp: MllpOptions { max_frame_bytes: args.max_frame_bytes, ..MllpOptions::default() },
            timeouts,
            tls,
            connection_threads: args.connection_threads,
            read_spin: args.read_spin,
        };
        // One Ctrl-C stops every listener.
        let (stop, _) = tokio::sync::watch::channel(false);
        let stopped = |stop: &tokio::sync::watch::Sender<bool>| {
            let mut seen = stop.subscribe();
            async move {
                let _ = seen.wait_for(|s| *s).await;
            }
        };
        let https = async {
            match (https_listener, https_tls) {
                (Some(l), Some(tls)) => {
                    serve_https(l, Arc::clone(&endpoint), http.clone(), tls, stopped(&stop))
                        .await
                        .map(drop)
                }
                _ => Ok(()),
            }
        };
        let hllp = async {
            match hllp_listener {
                Some(l) => {
                    let options = HllpServerOptions { hllp: args.hllp_args.options(), timeouts };
                    serve_hllp(l, Arc::clone(&endpoint), options, stopped(&stop)).await.map(drop)
                }
                None => Ok(()),
            }
        };
        let http = async {
            match http_listener {
                Some(l) => serve_http(l, Arc::clone(&endpoint), http.clone(), stopped(&stop))
                    .await
                    .map(drop),
                None => Ok(()),
            }
        };
        let state = async {
            match state_listener {
                Some(l) => {
                    let basic = state_basic.clone();
                    serve_state_with(l, Arc::clone(&endpoint), basic, stopped(&stop))
                        .await
                        .map(drop)
                }
                None => Ok(()),
            }
        };
        let mllp = serve_mllp_with_commit_ack(
            listener,
            Arc::clone(&endpoint),
            options,
            match (args.commit_ack, args.commit_nak_first) {
                (false, _) => CommitAcks::Off,
                (true, false) => CommitAcks::On,
                (true, true) => CommitAcks::NakFirst,
            },
            stopped(&stop),
        );
        let signal = async {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop.send(true);
        };
        let (mllp, http, https, hllp, state, ()) =
            tokio::join!(mllp, http, https, hllp, state, signal);
        mllp?;
        http?;
        https?;
        hllp?;
        state?;
        Ok(exit::OK)
    })
}

async fn bind(addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Under a file size limit (RLIMIT_FSIZE, `ulimit -f`) a write past it raises SIGXFSZ, which
/// kills the process by default, leaving a partial journal record behind. With a handler
/// installed the write fails with EFBIG instead, and the journal cuts the record off and the
/// message is refused (see `target::journal`).
fn ignore_file_size_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let kind = SignalKind::from_raw(nix::sys::signal::Signal::SIGXFSZ as i32);
    let mut signals = signal(kind).map_err(|e| anyhow::anyhow!("cannot handle SIGXFSZ: {e}"))?;
    tokio::spawn(async move { while signals.recv().await.is_some() {} });
    Ok(())
}
