//! `hl7-harness engine ROUTES.yaml`: the reference interface engine (`target::engine`), for
//! through cases to run against.

use super::exit;
use crate::target::engine::defect::parse_engine_defect;
use crate::target::engine::http_input::run_engine_on;
use crate::target::engine::{read_routes, Engine, EngineDefect, EngineDefects};
use crate::target::log::Log;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
#[command(after_help = "The route file's format and the engine's semantics (journal, retries, \
                        filtering, MSH-10) are in docs/guide/reference-engine.md; \
                        scenarios/through-engine/engine.routes.yaml is an example.")]
pub struct EngineArgs {
    /// The route file (YAML): listen address, journal folder, destinations, routes and their
    /// mappings (copy, set, map, drop_segment).
    #[arg(value_name = "ROUTES", required_unless_present = "list_defects")]
    pub routes: Option<PathBuf>,
    /// Listen here instead of the route file's `listen` (port 0 picks a free port; the address
    /// is printed as `listening on mllp://ADDR`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Also (or only: without --listen and a route file `listen`) take inputs as HL7 over HTTP
    /// on ADDR: one message per POST, any path, the ACK in the response body with status 200
    /// (AE and AR included); the address is printed as `listening on http://ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub listen_http: Option<String>,
    /// The journal folder instead of the route file's `journal` (inbox.journal: every accepted
    /// input, synced before its AA; outcomes.journal: every output delivered or given up). On
    /// start every output not closed there is queued again.
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,
    /// Forward destination NAME to URL (`mllp://HOST:PORT`, `hllp://HOST:PORT`, or
    /// `http://HOST:PORT/PATH` for HL7 over HTTP) instead of the route file's `url` (repeatable): a through case starts the
    /// engine with the addresses it listens on.
    #[arg(long = "destination", value_name = "NAME=URL")]
    pub destinations: Vec<String>,
    /// Switch on a known engine bug, to prove a through case catches it (repeatable;
    /// --list-defects lists them).
    #[arg(long = "defect", visible_alias = "engine-defect", value_name = "NAME",
          value_parser = parse_engine_defect)]
    pub defects: Vec<EngineDefect>,
    /// List the defect switches with one line each, and exit.
    #[arg(long)]
    pub list_defects: bool,
}

/// Runs until Ctrl-C.
pub fn run(args: &EngineArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if args.list_defects {
        let width = EngineDefect::ALL.iter().map(|d| d.name().len()).max().unwrap_or(0);
        for defect in EngineDefect::ALL {
            writeln!(out, "  {:<width$}  {}", defect.name(), defect.description())?;
        }
        return Ok(exit::OK);
    }
    let Some(file) = &args.routes else {
        anyhow::bail!("name a route file");
    };
    let mut routes = read_routes(file)?;
    for redirect in &args.destinations {
        let Some((name, url)) = redirect.split_once('=') else {
            anyhow::bail!(
                "--destination {redirect}: write NAME=URL (portal=mllp://127.0.0.1:2602)"
            );
        };
        if let Err(why) = routes.redirect(name, url) {
            anyhow::bail!("--destination {redirect}: {why}");
        }
    }
    let listen = args.listen.clone().or_else(|| routes.listen.clone());
    if listen.is_none() && args.listen_http.is_none() {
        anyhow::bail!(
            "{}: no `listen` address; give one there, or --listen or --listen-http",
            file.display()
        );
    }
    if let Err(why) = routes.check_environment() {
        anyhow::bail!("{}: {why}", file.display());
    }
    let Some(journal) = args.journal.clone().or_else(|| routes.journal.clone()) else {
        anyhow::bail!(
            "{}: no `journal` folder; give one there or with --journal (the engine never \
             acknowledges a message it has not journaled)",
            file.display()
        );
    };
    let defects = EngineDefects::new(args.defects.iter().copied());
    let engine = Arc::new(Engine::open(routes, &journal, defects, Log::Stderr)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let bind = |addr: String| async move {
            tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
        };
        let mut mllp = None;
        if let Some(addr) = listen {
            let listener = bind(addr).await?;
            writeln!(out, "listening on mllp://{}", listener.local_addr()?)?;
            mllp = Some(listener);
        }
        let mut http = None;
        if let Some(addr) = args.listen_http.clone() {
            let listener = bind(addr).await?;
            writeln!(out, "listening on http://{}", listener.local_addr()?)?;
            http = Some(listener);
        }
        for queue in engine.queues() {
            let d = queue.destination();
            writeln!(out, "destination {} {} ({} queued)", d.name, d.url(), queue.len())?;
        }
        if !args.defects.is_empty() {
            let names: Vec<_> = args.defects.iter().map(|d| d.name()).collect();
            writeln!(out, "DEFECTS ON (not a correct engine): {}", names.join(", "))?;
        }
        out.flush()?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        run_engine_on(mllp, http, Arc::clone(&engine), shutdown).await?;
        Ok(exit::OK)
    })
}
