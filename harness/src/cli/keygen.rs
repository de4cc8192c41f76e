//! `hl7-harness keygen`: an ed25519 key pair for signing reports.

use super::exit;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Folder for `signing.key` (secret, mode 0600 on unix) and `signing.pub` (give this one
    /// to whoever verifies); existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: &KeygenArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let (secret, public) = crate::report::sign::keygen(&args.out)?;
    writeln!(out, "signing key: {} (keep it secret)", secret.display())?;
    writeln!(out, "public key:  {}", public.display())?;
    Ok(exit::OK)
}
