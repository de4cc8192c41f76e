//! The clap front end: raw flags here, validated and dispatched to the library.

use clap::Parser;

/// Exit codes, shared by every command (see README).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FINDINGS: i32 = 1;
    pub const USAGE: i32 = 2;
}

/// Conformance test harness and hostile-network simulator for HL7 v2 interfaces.
#[derive(Debug, Parser)]
#[command(name = "hl7-harness", version)]
pub struct Cli {}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let _cli = Cli::parse();
    exit::OK
}
