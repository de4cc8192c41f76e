//! `hl7-harness schema`: the JSON Schema of the scenario format, for editors.

use std::io::Write;

pub fn run(out: &mut dyn Write) -> anyhow::Result<i32> {
    serde_json::to_writer_pretty(&mut *out, &crate::scenario::json_schema())?;
    writeln!(out)?;
    Ok(super::exit::OK)
}
