//! The rulebook: the catalogue rendered as one Markdown table (id, severity, versions, rule,
//! summary), printed by `hl7-harness run --list-checks --markdown`. `cargo xtask schema` writes
//! it to `docs/rulebook.md` (a page of the user guide) between [`BEGIN`] and [`END`]; an
//! integration test fails when that copy is stale, so the table is never synced by hand.

use super::{CheckDef, CATALOGUE};
use std::fmt::Write as _;

/// The line before the generated table (in docs/rulebook.md).
pub const BEGIN: &str =
    "<!-- rulebook:begin (generated from harness/src/checks/mod.rs by `cargo xtask schema`) -->";
/// The line after it.
pub const END: &str = "<!-- rulebook:end -->";

/// A table cell: pipes escaped, line breaks removed, and `<` outside code spans written as
/// `&lt;` (the rules cite `<SB>`, `<EB>`, `<CR>`, which Markdown renderers would otherwise take
/// for HTML tags and hide).
fn cell(text: &str) -> String {
    escape_tags(&text.replace('|', "\\|").replace('\n', " "))
}

/// `<` outside code spans as `&lt;`, so that text such as `<SB>` or `<trigger>` is shown in
/// Markdown, not taken for an HTML tag.
pub fn escape_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
    out
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
         `hl7-harness run --list-checks --markdown`); a test fails when this file is stale.\n\n{}",
        table()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_a_row_and_cells_stay_text() {
        let table = table();
        for check in CATALOGUE {
            assert!(table.contains(&format!("| `{}` |", check.id)), "{}", check.id);
        }
        assert!(table.starts_with(BEGIN) && table.trim_end().ends_with(END));
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("<SB> and `<EB>`"), "&lt;SB> and `<EB>`");
    }
}
