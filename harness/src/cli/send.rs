//! `hl7-harness send`: the flags of the reference sender
//! ([`crate::target::reference_sender`]), the message files it reads, and its exit code.

use super::exit;
use super::hllp_args::HllpArgs;
use super::input::{expand, InputFile};
use crate::target::reference_sender::{
    send_all, write_verdict, Outgoing, Sender, Session, Verdict,
};
use crate::target::sender_defect::{parse_sender_defect, SenderDefect, SenderDefects};
use crate::transport::connection::Timeouts;
use crate::transport::target_url::TargetUrl;
use crate::vocab::parse_duration;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Message files or directories (their *.hl7 files); files may hold several messages or a
    /// batch.
    #[arg(required_unless_present = "list_defects")]
    pub files: Vec<PathBuf>,
    /// Where to send: mllp://HOST:PORT, mllps://HOST:PORT (MLLP over TLS), hllp://HOST:PORT
    /// (HLLP blocks), http://HOST:PORT/PATH or https://HOST:PORT/PATH (HL7 over HTTP(S)).
    /// http(s)://USER:PASSWORD@HOST… sends HTTP Basic credentials, never printed; MLLP and
    /// HLLP have no authentication, so a user or password in their URL is refused.
    #[arg(long, value_name = "URL", required_unless_present = "list_defects")]
    pub target: Option<String>,
    #[command(flatten)]
    pub tls: super::client_args::TlsClientArgs,
    #[command(flatten)]
    pub http_auth: super::client_args::HttpAuthArgs,
    /// How long to wait for each ACK before resending.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    /// How long to wait for a connection.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Resends after a timeout or a lost connection, with the same MSH-10 (after a timeout on a
    /// new connection: a peer that vanished never answers on the old one).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// How long to wait before each resend (and before reconnecting).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub retry_delay: Duration,
    /// MLLP Release 2: wait for the receiver's commit acknowledgement (0x0B 0x06 0x1C 0x0D)
    /// before the application ACK. A commit NAK (0x0B 0x15 0x1C 0x0D) is a failed attempt
    /// (resent); an application ACK without a commit ACK is not accepted (no-commit-ack).
    #[arg(long)]
    pub commit_ack: bool,
    #[command(flatten)]
    pub hllp: HllpArgs,
    /// Switch on a known sender bug (repeatable), to prove that the harness catches it.
    #[arg(long = "defect", value_name = "NAME", value_parser = parse_sender_defect)]
    pub defects: Vec<SenderDefect>,
    /// List the sender defect switches with one line each, and exit.
    #[arg(long)]
    pub list_defects: bool,
    /// One JSON object per message instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

/// 0 when every message was accepted; 3 when the target was never reached; 1 otherwise.
fn exit_code(all_accepted: bool, ever_connected: bool) -> i32 {
    if all_accepted {
        exit::OK
    } else if !ever_connected {
        exit::UNREACHABLE
    } else {
        exit::FINDINGS
    }
}

/// The route to `--target`.
fn session(args: &SendArgs, text: &str) -> anyhow::Result<Session> {
    // The userinfo comes out first: everything below, errors included, sees the URL without it.
    let (url, from_url) =
        TargetUrl::parse_with_credentials(text).map_err(|e| anyhow::anyhow!("--target {e}"))?;
    let basic = args.http_auth.basic_for(from_url)?;
    let tls = if url.uses_tls() { Some(args.tls.client_tls().connector()?) } else { None };
    Session::new(url, basic, tls, args.hllp.options()).map_err(|e| anyhow::anyhow!("--target {e}"))
}

/// Exit 0 when every message got an AA or CA whose MSA-2 is its MSH-10; 1 otherwise; 3 when the
/// target could never be reached.
pub fn run(args: &SendArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if args.list_defects {
        let width = SenderDefect::ALL.iter().map(|d| d.name().len()).max().unwrap_or(0);
        for defect in SenderDefect::ALL {
            writeln!(out, "{:<width$}  {}", defect.name(), defect.description())?;
        }
        return Ok(exit::OK);
    }
    let Some(url) = &args.target else { anyhow::bail!("--target is required") };
    let mut session = session(args, url)?;
    let sender = Sender {
        timeouts: Timeouts {
            connect: args.connect_timeout,
            read: args.ack_timeout,
            ..Timeouts::default()
        },
        retries: args.retries,
        retry_delay: args.retry_delay,
        commit_ack: args.commit_ack,
        defects: SenderDefects::of(args.defects.iter().copied()),
    };
    session.takes(&sender)?;
    let messages = load(&args.files)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let verdicts = runtime.block_on(send_all(&mut session, &sender, messages, |verdict| {
        write_verdict(out, verdict, args.json)
    }))?;
    Ok(finish(&verdicts))
}

fn finish(verdicts: &[Verdict]) -> i32 {
    let all_accepted = verdicts.iter().all(Verdict::accepted);
    exit_code(all_accepted, verdicts.iter().any(Verdict::connected))
}

/// Every message of the files, in order.
fn load(files: &[PathBuf]) -> anyhow::Result<Vec<Outgoing>> {
    let mut messages = Vec::new();
    for path in expand(files)? {
        let file = InputFile::read(&path)?;
        for index in 0..file.messages.len() {
            let message = file.message(index)?;
            messages.push(Outgoing {
                file: file.path.clone(),
                index: index + 1,
                control_id: message.control_id().unwrap_or("").into(),
                bytes: message.as_bytes().to_vec(),
            });
        }
    }
    Ok(messages)
}
