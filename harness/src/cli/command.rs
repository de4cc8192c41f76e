//! The command tree (clap derive), the exit codes and [`main`], which dispatches a parsed
//! command to its module.

use super::*;
use clap::{Parser, Subcommand};
use std::io::Write;

/// Exit codes shared by every command (documented in the user guide, docs/guide/commands.md).
pub mod exit {
    /// Success: clean, equal, all checks passed.
    pub const OK: i32 = 0;
    /// Findings, differences or conformance failures.
    pub const FINDINGS: i32 = 1;
    /// Usage error or unreadable input.
    pub const USAGE: i32 = 2;
    /// The target could not be reached at all.
    pub const UNREACHABLE: i32 = 3;
}

/// Conformance test harness and hostile-network simulator for HL7 v2 interfaces.
///
/// Reads HL7 v2 messages with the delimiters each declares (MSH-1, MSH-2), validates them
/// against the standard's message structures (v2.3 to v2.8) and compares them field by field.
#[derive(Debug, Parser)]
#[command(
    name = "hl7-harness",
    version,
    max_term_width = 100,
    after_help = "Exit codes: 0 clean, equal or all accepted; 1 findings (warnings or errors), \
                  differences or messages not accepted; 2 usage error or unreadable input (the \
                  message names the file and byte offset); 3 target unreachable.\n\
                  Paths: PID-5, PID-5.1, PID-5.1.2, PID-3[2].1 (repetition), OBX[3]-5 (third OBX)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a message as a tree: segment, field number, field name, decoded value.
    Inspect(inspect::InspectArgs),
    /// Check messages against segment grammar, required fields, framing and character set.
    Validate(validate::ValidateArgs),
    /// Compare two messages value by value (decoded), e.g. `PID-5.1: "Doe" → "Dø"`.
    Diff(diff::DiffArgs),
    /// Send messages over MLLP, MLLP over TLS, HLLP or HL7 over HTTP(S), wait for each ACK,
    /// retry with the same MSH-10; one verdict line per message.
    Send(send::SendArgs),
    /// Drive a target with a testing load (open loop at a rate, or closed loop), account for
    /// every message (acknowledged, rejected, lost) and measure latency percentiles.
    Load(load::LoadArgs),
    /// Run the reference endpoint on MLLP (and HLLP, HTTP, HTTPS): ACKs by the standard, a
    /// journal, the client feed.
    Serve(serve::ServeArgs),
    /// Run the reference interface engine: receive over MLLP or HTTP, map by the routes of a
    /// route file, journal, forward to destinations with queues and retries; defect switches.
    Engine(engine::EngineArgs),
    /// Sit between two systems as an MLLP proxy and misbehave by rules: drop, delay, duplicate
    /// or corrupt chosen frames, shape bytes, half-close, reset, outages; every fault logged.
    Proxy(proxy::ProxyArgs),
    /// Run scenario packs against a target (the built-in reference endpoint by default) and
    /// judge every acknowledgment by the standard.
    ///
    /// Files with dead-peer faults (`blackhole`, `silent_peer`, `connect_hang`) work at the
    /// packet level, in a network namespace the harness creates: they need root (or
    /// CAP_NET_ADMIN), iproute2 and nftables, and are skipped, with the reason in the report,
    /// where the machine does not allow it.
    ///
    /// Receiver-role files (`role: receiver`) listen while a sender under test sends; its
    /// `sut.command` is run per case with placeholders: `{harness}`, `{listen}`, `{host}`,
    /// `{port}`, `{messages}` (one file per message), `{messages_dir}` (a folder of those files
    /// named 0001.hl7, 0002.hl7, …: a plain sort is the sending order), `{mllp_file}` and
    /// `{defects}`; the `--sut-defect` names also come in HL7H_SUT_DEFECTS. `${VAR}` is read
    /// from the environment when the file is loaded; write `$${` for a literal `${` (a shell
    /// variable, say). When a case fails, the last 20 lines of the sender's stderr are shown
    /// (secrets the scenario read replaced by ***) here and in summary.md.
    Run(run::RunArgs),
    /// Print the JSON Schema of the scenario format, or with --profile of the target profile
    /// format (for editors).
    Schema(schema::SchemaArgs),
    /// Import an XML message profile (HL7 v2.x or NIST/IGAMT) into a target profile, or show a
    /// profile's message constraints as tables.
    Profile(profile::ProfileArgs),
    /// Write edge-case variants of a message: named mutations, seeded, each with the intent a
    /// conformant receiver should act on (valid, invalid, either).
    Generate(generate::GenerateArgs),
    /// Make an ed25519 key pair for signing reports (signing.key, signing.pub).
    Keygen(keygen::KeygenArgs),
    /// Sign a report folder, verify one (every hash and the signature) or merge shard reports.
    Report(report::ReportArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or PowerShell.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), or write one page per command with --out DIR.
    Man(man::ManArgs),
    /// Print a generated reference page of the user guide (docs/reference/); for
    /// `cargo xtask schema`.
    #[command(hide = true)]
    Reference(reference::ReferenceArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    let stdout = std::io::stdout();
    // The proxy prints events from its worker threads, so stdout must not stay locked for it.
    let mut out: Box<dyn Write> = match cli.command {
        Command::Proxy(_) => Box::new(stdout),
        _ => Box::new(stdout.lock()),
    };
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args, &mut out),
        Command::Validate(args) => validate::run(&args, &mut out),
        Command::Diff(args) => diff::run(&args, &mut out),
        Command::Send(args) => send::run(&args, &mut out),
        Command::Serve(args) => serve::run(&args, &mut out),
        Command::Engine(args) => engine::run(&args, &mut out),
        Command::Proxy(args) => proxy::run(&args, &mut out),
        Command::Load(args) => load::run(&args, &mut out),
        Command::Run(args) => run::run(&args, &mut out),
        Command::Schema(args) => schema::run(&args, &mut out),
        Command::Profile(args) => profile::run(&args, &mut out),
        Command::Generate(args) => generate::run(&args, &mut out),
        Command::Keygen(args) => keygen::run(&args, &mut out),
        Command::Report(args) => report::run(&args, &mut out),
        Command::Completions(args) => completions::run(&args, &mut out),
        Command::Man(args) => man::run(&args, &mut out),
        Command::Reference(args) => reference::run(&args, &mut out),
    };
    let _ = out.flush();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hl7-harness: error: {err}");
            exit::USAGE
        }
    }
}
