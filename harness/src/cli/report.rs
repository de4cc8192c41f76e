//! `hl7-harness report sign|verify|merge`: sign-off of a report folder written by `run`, and
//! the merge of shard reports into one.

use super::exit;
use crate::report::manifest::Change;
use crate::report::sign::{sign, verify, SignError, SignatureState};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Sign a report folder: writes signature.json (signer, time, verdict, ed25519 signature
    /// over them and the manifest's sha256). Exit 1 when the report changed since the run.
    Sign(SignArgs),
    /// Check every hash of a report folder and its signature; names each file changed, added
    /// or removed and lists the scenario packs covered. Exit 0 only when untouched and validly
    /// signed, 1 otherwise.
    Verify(VerifyArgs),
    /// Join the reports of the shards of one run (`run --shard K/N`) into one report, as if
    /// the run had not been split. Refuses shards that were edited, belong to another run
    /// (version, seed, target, pack contents) or leave a shard out. Exit 0 when the merged run
    /// is conformant (and matches its baseline), 1 otherwise, 2 when the shards cannot be merged.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The folder for the merged report (must not hold a report).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The shard report folders, one per shard, in any order.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The report folder (holding manifest.json).
    pub dir: PathBuf,
    /// The signing key (`keygen` writes signing.key).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Who signs, e.g. "Name, Organisation".
    #[arg(long, value_name = "TEXT")]
    pub signer: String,
    /// The verdict signed [default: the run's]; "conformant" is refused (exit 2) when any
    /// error-severity check failed.
    #[arg(long, value_name = "VERDICT", value_parser = ["conformant", "not-conformant"])]
    pub verdict: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The report folder.
    pub dir: PathBuf,
    /// The signer's public key (`keygen` writes signing.pub): the only key the signature is
    /// checked with. A signature.json naming another public key fails.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_key: PathBuf,
}

pub fn run(args: &ReportArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    match &args.command {
        ReportCommand::Sign(args) => run_sign(args, out),
        ReportCommand::Verify(args) => run_verify(args, out),
        ReportCommand::Merge(args) => run_merge(args, out),
    }
}

fn run_merge(args: &MergeArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let merged = match crate::report::merge::merge(&args.out, &args.shards) {
        Ok(merged) => merged,
        Err(err) => {
            eprintln!("hl7-harness: cannot merge: {err}");
            return Ok(exit::USAGE);
        }
    };
    write!(out, "{}", crate::report::terminal::summary(&merged.outcome, false))?;
    if let Some(baseline) = &merged.baseline {
        write!(out, "{}", crate::report::terminal::baseline(baseline))?;
    }
    writeln!(
        out,
        "merged {} shard report(s) into {} (run {})",
        args.shards.len(),
        args.out.display(),
        merged.run_id
    )?;
    let regressed = merged.baseline.as_ref().is_some_and(|b| b.differs() && !b.accepted);
    let failed = merged.outcome.failed() || merged.outcome.unreachable || regressed;
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}

fn run_sign(args: &SignArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let verdict = args.verdict.as_deref().map(|v| v.replace('-', " "));
    match sign(&args.dir, &args.key, &args.signer, verdict.as_deref(), std::time::SystemTime::now())
    {
        Ok(file) => {
            writeln!(
                out,
                "signed {} as {:?} by {} at {}",
                args.dir.display(),
                file.verdict,
                file.signer,
                file.signed_at
            )?;
            Ok(exit::OK)
        }
        Err(err @ SignError::Changed(_)) => {
            eprintln!("hl7-harness: {err}");
            Ok(exit::FINDINGS)
        }
        Err(err) => Err(err.into()),
    }
}

fn run_verify(args: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let found = match verify(&args.dir, &args.public_key) {
        Ok(found) => found,
        // A manifest edited into something unreadable is a changed report, not a usage error.
        Err(SignError::Json { path, source }) => {
            writeln!(out, "changed: {} (no longer a manifest: {source})", path.display())?;
            writeln!(out, "NOT VERIFIED")?;
            return Ok(exit::FINDINGS);
        }
        Err(err) => return Err(err.into()),
    };
    let manifest = &found.manifest;
    writeln!(
        out,
        "report {}: run {}, hl7-harness {}, target {}, seed {}, {} to {}, verdict {}",
        args.dir.display(),
        manifest.run_id,
        manifest.harness_version,
        manifest.target,
        manifest.seed,
        manifest.started,
        manifest.finished,
        manifest.verdict
    )?;
    writeln!(out, "packs covered:")?;
    for pack in &manifest.packs {
        writeln!(out, "  {} sha256 {}", pack.name, pack.sha256)?;
        for file in &pack.files {
            writeln!(out, "    {} {} sha256 {}", file.kind, file.path, file.sha256)?;
        }
    }
    if found.changes.is_empty() && found.unreliable.is_empty() {
        writeln!(out, "files: {} unchanged", manifest.files.len())?;
    }
    for change in &found.changes {
        writeln!(out, "{change}")?;
    }
    for change in &found.unreliable {
        writeln!(
            out,
            "does not match the edited manifest.json (it may be unchanged): {}",
            match change {
                Change::Changed(path) | Change::Removed(path) | Change::Added(path) => path,
            }
        )?;
    }
    match &found.signature {
        SignatureState::Valid(file) => writeln!(
            out,
            "signature: valid; signed by {} at {} as {:?}",
            file.signer, file.signed_at, file.verdict
        )?,
        SignatureState::Missing => writeln!(out, "signature: missing (report sign adds one)")?,
        SignatureState::Invalid(why) => writeln!(out, "signature: INVALID: {why}")?,
    }
    writeln!(out, "{}", if found.ok() { "VERIFIED" } else { "NOT VERIFIED" })?;
    Ok(if found.ok() { exit::OK } else { exit::FINDINGS })
}
