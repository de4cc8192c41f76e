//! `hl7-harness serve`: the reference endpoint on MLLP.

use super::duration::parse_duration;
use super::exit;
use crate::target::defect::{parse_defect, Defect, Defects};
use crate::target::endpoint::Endpoint;
use crate::target::responder::ResponderConfig;
use crate::target::server::{serve_mllp, ServerOptions};
use crate::transport::connection::Timeouts;
use crate::transport::mllp::MllpOptions;
use crate::transport::tls::ServerTls;
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
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Close a connection that sends nothing for this long.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Largest MLLP frame accepted; a longer frame is a framing error and closes the connection.
    #[arg(long, value_name = "BYTES", default_value_t = MllpOptions::default().max_frame_bytes)]
    pub max_frame_bytes: usize,
    /// Serve MLLP over TLS (mllps://) with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA in this PEM file (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Switch on a known bug (repeatable), to prove that the harness catches it.
    #[arg(long = "defect", value_name = "NAME", value_parser = parse_defect)]
    pub defects: Vec<Defect>,
    /// List the defect switches with one line each, and exit.
    #[arg(long)]
    pub list_defects: bool,
}

/// Runs until Ctrl-C. Prints `listening on mllp://ADDR` (or `mllps://`) once bound.
pub fn run(args: &ServeArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if args.list_defects {
        let width = Defect::ALL.iter().map(|d| d.name().len()).max().unwrap_or(0);
        for defect in Defect::ALL {
            writeln!(out, "{:<width$}  {}", defect.name(), defect.description())?;
        }
        return Ok(exit::OK);
    }
    let endpoint = match &args.journal {
        Some(path) => Endpoint::with_journal(ResponderConfig::default(), path)?,
        None => Endpoint::new(ResponderConfig::default()),
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
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        writeln!(out, "listening on {scheme}://{}", listener.local_addr()?)?;
        if !endpoint.defects().is_empty() {
            let names: Vec<&str> = endpoint.defects().iter().map(|d| d.name()).collect();
            writeln!(out, "DEFECTS ON (not a correct endpoint): {}", names.join(", "))?;
        }
        if endpoint.received() > 0 {
            writeln!(out, "replayed {} journaled message(s)", endpoint.received())?;
        }
        out.flush()?;
        let options = ServerOptions {
            mllp: MllpOptions { max_frame_bytes: args.max_frame_bytes, ..MllpOptions::default() },
            timeouts: Timeouts { read: args.idle_timeout, ..Timeouts::default() },
            tls,
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_mllp(listener, endpoint, options, shutdown).await?;
        Ok(exit::OK)
    })
}
