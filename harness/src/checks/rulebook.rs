//! The rulebook: the catalogue rendered as one Markdown table (id, severity, versions, rule,
//! summary), printed by `hl7-harness run --list-checks --markdown`. `cargo xtask schema` writes
//! it to `docs/rulebook.md` and into README.md between [`BEGIN`] and [`END`]; an integration test
//! fails when either copy is stale, so the table is never synced by hand.

use super::{CheckDef, CATALOGUE};
use std::fmt::Write as _;

/// The line before the generated table (in README.md and docs/rulebook.md).
pub const BEGIN: &str =
    "<!-- rulebook:begin (generated from harness/src/checks/mod.rs by `cargo xtask schema`) -->";
/// The line after it.
pub const END: &str = "<!-- rulebook:end -->";

/// A table cell: pipes escaped, line breaks removed.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn row(check: &CheckDef) -> String {
    let rule = if check.note.is_empty() {
        cell(check.rule)
    } else {
        format!("{} — *{}*", cell(check.rule), cell(check.note))
    };
    format!(
        "| `{}` | {} | {} | {} | {} |",
        check.id,
        check.severity,
        cell(check.versions),
        rule,
        cell(check.summary)
    )
}

/// The table between its markers, every check of the catalogue in catalogue order.
pub fn table() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(out, "| id | severity | versions | rule | summary |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for check in CATALOGUE {
        let _ = writeln!(out, "{}", row(check));
    }
    let _ = writeln!(out, "{END}");
    out
}

/// `docs/rulebook.md`: a short preface and the table.
pub fn document() -> String {
    format!(
        "# The rulebook\n\n\
         Every check the harness runs, with the HL7 v2 versions it applies to (MSH-12 of the \
         message acknowledged; `v2.x` is every version, `—` a scenario's own expectation or \
         threshold, which is not a rule of the standard), the rule it enforces with its \
         citation, and its severity chosen by that text: an error is a violation of the text, a \
         lost message or a false success; what the text lets a receiver choose is never an \
         error; where the text is unclear the check is a warning and the rule says so (in \
         italics). Some error checks grade a single result down to a warning, as their note \
         says.\n\n\
         Generated from `harness/src/checks/mod.rs` by `cargo xtask schema` (also printed by \
         `hl7-harness run --list-checks --markdown`); a test fails when this file or the copy \
         in README.md is stale.\n\n{}",
        table()
    )
}

/// `text` with its marked table replaced by the current one; `None` when the markers are
/// missing or out of order.
pub fn splice(text: &str) -> Option<String> {
    let start = text.find(BEGIN)?;
    let end = start + text[start..].find(END)? + END.len();
    let end = if text[end..].starts_with('\n') { end + 1 } else { end };
    Some(format!("{}{}{}", &text[..start], table(), &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_a_row_and_splicing_is_idempotent() {
        let table = table();
        for check in CATALOGUE {
            assert!(table.contains(&format!("| `{}` |", check.id)), "{}", check.id);
        }
        let readme = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        let once = splice(&readme).expect("markers");
        assert!(once.starts_with("intro\n") && once.ends_with("\noutro\n"), "{once}");
        assert_eq!(splice(&once).as_deref(), Some(once.as_str()));
        assert_eq!(splice("no markers"), None);
        assert_eq!(cell("a|b"), "a\\|b");
    }
}
