//! `hl7-harness validate`: findings for every message of every file.

use super::exit;
use super::input::{expand, InputFile};
use crate::conformance::{Coverage, Validator, Violation};
use crate::hl7::structures::Version;
use crate::hl7::validate::{validate, ValidateOptions};
use crate::hl7::{Finding, Severity};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Message files or directories (their *.hl7 files, recursively).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Validate against this message structure (e.g. ADT_A01) instead of the one MSH-9 names.
    #[arg(long, value_name = "STRUCTURE")]
    pub structure: Option<String>,
    /// Validate as this HL7 version (2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6, 2.7, 2.8) instead of MSH-12.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Reject LF and CRLF segment separators (exit 2) instead of reporting them as findings.
    #[arg(long)]
    pub strict: bool,
    /// Print findings as JSON lines, one object per finding.
    #[arg(long)]
    pub json: bool,
    /// Also judge every message against this target profile's `message_profiles` (usage,
    /// cardinality, length, data type, value sets, fixed values, patterns, predicates and
    /// conformance statements; `unique` statements compare across all the files given).
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<PathBuf>,
}

/// Exit 0 when every message is clean (info notes allowed), 1 when any has a warning or error,
/// 2 when a file is unreadable (the other files are still validated).
pub fn run(args: &ValidateArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let version = match &args.version {
        Some(v) => Some(Version::parse(v).ok_or_else(|| {
            anyhow::anyhow!(
                "--version {v:?}: expected one of 2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6, 2.7, 2.8"
            )
        })?),
        None => None,
    };
    let options = ValidateOptions { structure: args.structure.clone(), version };
    if let Some(s) = &options.structure {
        crate::hl7::validate::check_structure_name(s)?;
    }
    let mut conformance = match &args.profile {
        Some(path) => {
            let loaded = crate::scenario::load_profile(path)?;
            let validator = Validator::new(&loaded.profile);
            if validator.is_empty() {
                anyhow::bail!(
                    "{}: the profile has no `message_profiles`; nothing to validate against",
                    path.display()
                );
            }
            Some(validator)
        }
        None => None,
    };
    let mut code = exit::OK;
    for path in expand(&args.files)? {
        let file = match InputFile::read(&path) {
            Ok(file) => file,
            Err(err) => {
                eprintln!("hl7-harness: error: {err}");
                code = exit::USAGE;
                continue;
            }
        };
        let mut found: Vec<(Option<usize>, Finding)> =
            file.findings.iter().map(|f| (None, f.clone())).collect();
        let mut violations: Vec<(usize, Violation)> = Vec::new();
        for index in 0..file.messages.len() {
            match file.message_with(index, args.strict) {
                Ok(message) => {
                    let all =
                        message.findings().iter().cloned().chain(validate(&message, &options));
                    found.extend(all.map(|f| (Some(index + 1), f)));
                    if let Some(validator) = conformance.as_mut() {
                        let label = format!("{} message {}", file.path, index + 1);
                        let judged = validator.validate_as(&message, &label);
                        violations.extend(judged.into_iter().map(|v| (index + 1, v)));
                    }
                }
                Err(err) => {
                    eprintln!("hl7-harness: error: {err}");
                    code = exit::USAGE;
                }
            }
        }
        // Info findings are notes (e.g. a version the tables do not cover), not problems.
        let problems = found.iter().any(|(_, f)| f.severity >= Severity::Warning)
            || violations.iter().any(|(_, v)| v.severity >= Severity::Warning);
        if problems && code == exit::OK {
            code = exit::FINDINGS;
        }
        for (index, finding) in &found {
            if args.json {
                let value =
                    serde_json::json!({ "file": file.path, "message": index, "finding": finding });
                writeln!(out, "{value}")?;
            } else {
                let at = index.map(|i| format!(" message {i}:")).unwrap_or_default();
                writeln!(out, "{}:{at} {finding}", file.path)?;
            }
        }
        for (index, violation) in &violations {
            if args.json {
                let value = serde_json::json!({ "file": file.path, "message": index, "violation": violation });
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{}: message {index}: {violation}", file.path)?;
            }
        }
    }
    if let Some(validator) = &conformance {
        for coverage in validator.coverage() {
            write_coverage(out, &coverage, args.json)?;
        }
    }
    Ok(code)
}

/// Which rules of a message profile the messages exercised, after the findings.
fn write_coverage(out: &mut dyn Write, coverage: &Coverage, json: bool) -> std::io::Result<()> {
    if json {
        let value = serde_json::json!({ "coverage": {
            "profile": coverage.profile,
            "rules": coverage.rules,
            "exercised": coverage.exercised,
            "missed": coverage.missed,
        }});
        return writeln!(out, "{value}");
    }
    write!(
        out,
        "coverage {}: {} of {} rules exercised",
        coverage.profile,
        coverage.exercised.len(),
        coverage.rules
    )?;
    if coverage.missed.is_empty() {
        writeln!(out)
    } else {
        writeln!(out, "; not exercised: {}", coverage.missed.join(", "))
    }
}
