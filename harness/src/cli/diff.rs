//! `hl7-harness diff`: two messages compared value by value.

use super::exit;
use super::input::InputFile;
use crate::hl7::{diff, Path};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first (old) message file (at most 64 MiB; a larger file is refused).
    pub a: PathBuf,
    /// The second (new) message file (at most 64 MiB). Values that do not decode in their
    /// character set are compared, and shown, as bytes (b"Doe\xff").
    pub b: PathBuf,
    /// Leave out a path and everything below it; repeatable (e.g. --ignore MSH-7 --ignore MSH-10).
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
}

/// Largest file `diff` compares. The comparison streams (memory is that of the two parsed
/// files, about 40 bytes per segment besides the bytes), so this only keeps a mistaken
/// argument (a log, an archive) from holding gigabytes; documented in the user guide and --help.
pub const MAX_DIFF_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Exit 0 when equal, 1 when different. Files holding several messages are compared message by
/// message; a message present in one file only is a difference. Differences are written as
/// they are found.
pub fn run(args: &DiffArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ignore = args.ignore.iter().map(|p| Path::parse(p)).collect::<Result<Vec<_>, _>>()?;
    let a = InputFile::read_at_most(&args.a, MAX_DIFF_FILE_BYTES)?;
    let b = InputFile::read_at_most(&args.b, MAX_DIFF_FILE_BYTES)?;
    let mut out = std::io::BufWriter::new(out);
    let count = a.messages.len().max(b.messages.len());
    let mut different = false;
    for index in 0..count {
        let label =
            |s: &str| if count > 1 { format!("message {}: {s}", index + 1) } else { s.to_string() };
        match (index < a.messages.len(), index < b.messages.len()) {
            (true, true) => {
                let left = a.message(index)?;
                let right = b.message(index)?;
                let mut written = Ok(());
                diff::diff_each(&left, &right, &ignore, &mut |difference| {
                    different = true;
                    if written.is_ok() {
                        written = writeln!(out, "{}", label(&difference.to_string()));
                    }
                });
                written?;
            }
            (true, false) => {
                writeln!(out, "{}", label(&format!("only in {}", a.path)))?;
                different = true;
            }
            _ => {
                writeln!(out, "{}", label(&format!("only in {}", b.path)))?;
                different = true;
            }
        }
    }
    out.flush()?;
    Ok(if different { exit::FINDINGS } else { exit::OK })
}
