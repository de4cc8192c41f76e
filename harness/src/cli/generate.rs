//! `hl7-harness generate`: edge-case variants of a message, by named mutations and a seed.

use super::exit;
use super::input::InputFile;
use crate::generator::{apply_all, Mutated, Mutation, CATALOGUE};
use crate::hl7::{charset, Message};
use crate::vocab::Seed;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most variants one run writes: enough to sweep seeds, few enough not to fill a disk by a typo.
const MAX_COUNT: u64 = 10_000;

#[derive(Debug, clap::Args)]
#[command(after_help = after_help())]
pub struct GenerateArgs {
    /// The message file; its first message unless --message says otherwise.
    #[arg(required_unless_present = "list")]
    pub file: Option<PathBuf>,
    /// A mutation by name, with its default parameters, or with parameters as one JSON object
    /// in the scenario's shape (`{"non_ascii": {"fields": ["PID-5.1"], "script": "greek"}}`);
    /// repeatable, applied in order.
    #[arg(
        long = "mutation",
        short = 'm',
        value_name = "NAME|JSON",
        required_unless_present = "list",
        value_parser = parse_mutation
    )]
    pub mutations: Vec<Mutation>,
    /// Seed of the first variant: the same file, mutations and seed give the same bytes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Number of variants, with seeds N, N+1, ... (at most 10000).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_COUNT))]
    pub count: u64,
    /// Which message of the file to mutate, from 1.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub message: u64,
    /// Write the exact bytes to stdout, variants back to back; the header lines go to stderr.
    #[arg(long, conflicts_with = "out")]
    pub raw: bool,
    /// Write each variant's exact bytes to DIR/<file>-<mutations>-seed<N>.hl7 and print the
    /// header line with the file written.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// List the mutations: name, what it does and the intent it carries.
    #[arg(long)]
    pub list: bool,
}

fn after_help() -> String {
    let names: Vec<&str> = CATALOGUE.iter().map(|(name, _)| *name).collect();
    format!(
        "Mutations (--list says what each does): {}.\n\
         Each variant is printed as a header line `# mutation=NAMES seed=N intent=INTENT: \
         description` then the message, one segment per line, decoded from its MSH-18 \
         character set for reading. INTENT is what a conformant receiver should do: valid \
         (accept), invalid (reject: AE/AR) or either (site-defined).\n\
         Exit codes: 0 written; 2 usage error, unreadable file or a mutation that does not \
         apply to the message (the message says which and why).",
        names.join(", ")
    )
}

/// A catalogue name, or a JSON object read exactly as a scenario's `mutate:` item.
pub(super) fn parse_mutation(text: &str) -> Result<Mutation, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| format!("{e}"));
    }
    if let Some(mutation) = Mutation::from_name(text) {
        return Ok(mutation);
    }
    let key = |s: &str| s.to_ascii_lowercase().replace(['_', '-', ' '], "");
    let hint = CATALOGUE
        .iter()
        .find(|(name, _)| key(name) == key(text))
        .map(|(name, _)| format!(" (did you mean {name}?)"))
        .unwrap_or_default();
    Err(format!("unknown mutation {text:?}{hint}; `generate --list` shows them all"))
}

pub fn run(args: &GenerateArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    if args.list {
        let width = CATALOGUE.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        for (name, description) in CATALOGUE {
            writeln!(out, "{name:width$}  {description}")?;
        }
        return Ok(exit::OK);
    }
    let Some(path) = &args.file else {
        anyhow::bail!("name a message file (or use --list)");
    };
    let mutations = &args.mutations;
    let names: Vec<&str> = mutations.iter().map(Mutation::name).collect();
    let file = InputFile::read(path)?;
    let index = usize::try_from(args.message - 1)?;
    let base = file.message(index)?;
    let base = base.as_bytes();
    let shown = names.join(",");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
    }
    for seed in (0..args.count).map(|i| Seed(args.seed).offset(i)) {
        let mutated = apply_all(base, mutations, seed)
            .map_err(|e| anyhow::anyhow!("{}: message {}: {e}", file.path, args.message))?;
        let header = format!(
            "# mutation={shown} seed={seed} intent={}: {}",
            mutated.intent, mutated.description
        );
        if args.raw {
            eprintln!("{header}");
            out.write_all(&mutated.bytes)?;
        } else if let Some(dir) = &args.out {
            let written = dir.join(file_name(path, &names, seed));
            std::fs::write(&written, &mutated.bytes)
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", written.display()))?;
            writeln!(out, "{header}\n# written to {}", written.display())?;
        } else {
            writeln!(out, "{header}")?;
            out.write_all(readable(&mutated).as_bytes())?;
            writeln!(out)?;
        }
    }
    Ok(exit::OK)
}

/// `<stem>-<mutation>+<mutation>-seed<N>.hl7`.
fn file_name(input: &Path, mutations: &[&str], seed: Seed) -> String {
    let stem = input.file_stem().map_or("message".into(), |s| s.to_string_lossy().into_owned());
    format!("{stem}-{}-seed{seed}.hl7", mutations.join("+"))
}

/// The message as text, one segment per line: decoded from the character set it declares
/// (the bytes themselves may be in any), CR, LF and CR LF all shown as a line break.
fn readable(mutated: &Mutated) -> String {
    let text = match Message::parse(&mutated.bytes) {
        Ok(message) => charset::decode(&mutated.bytes, message.charset()).into_owned(),
        Err(_) => String::from_utf8_lossy(&mutated.bytes).into_owned(),
    };
    let mut text = text.replace("\r\n", "\n").replace('\r', "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
