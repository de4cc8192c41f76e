//! `hl7-harness schema`: the JSON Schema of the scenario format (or, with `--profile`, of the
//! target profile format), for editors.

use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The schema of the target profile format (`run --target-profile FILE`) instead.
    #[arg(long)]
    pub profile: bool,
}

pub fn run(args: &SchemaArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let schema =
        if args.profile { crate::profile::json_schema() } else { crate::scenario::json_schema() };
    serde_json::to_writer_pretty(&mut *out, &schema)?;
    writeln!(out)?;
    Ok(super::exit::OK)
}
