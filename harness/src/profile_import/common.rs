//! What both XML formats share: usage codes, cardinalities, lengths and table names as they
//! write them, read into the target profile's types, with a note whenever the reading is not
//! the text itself.

use super::xml::{attr, Doc, Notes};
use crate::profile::expr::Expr;
use crate::profile::usage::{Cardinality, Length, Usage};

/// A usage code; one the target profile does not know is read as O (the most permissive
/// reading) and noted.
pub fn usage(doc: &Doc<'_>, node: roxmltree::Node<'_, '_>, notes: &mut Notes) -> Usage {
    match attr(node, "Usage") {
        None => {
            notes.add(doc, node, "has no Usage=: read as O");
            Usage::O
        }
        Some(text) => Usage::parse(text).unwrap_or_else(|_| {
            notes.add_once(doc, node, format!("usage {text:?} not supported: read as O"));
            Usage::O
        }),
    }
}

/// Settles a conditional usage with the predicate that could be read: C with no readable
/// predicate is read as O (allowed either way) and noted.
pub fn settle(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    notes: &mut Notes,
    usage: Usage,
    predicate: Option<Result<String, String>>,
) -> (Usage, Option<Expr>) {
    if !usage.is_conditional() {
        if let Some(Ok(text) | Err(text)) = predicate {
            notes.add(doc, node, format!("predicate {text:?} on usage {usage}: not kept"));
        }
        return (usage, None);
    }
    match predicate {
        Some(Ok(text)) => match Expr::parse(&text) {
            Ok(expr) => (usage, Some(expr)),
            Err(e) => {
                notes.add_once(
                    doc,
                    node,
                    format!("usage {usage}: predicate not read ({e}): read as O"),
                );
                (Usage::O, None)
            }
        },
        Some(Err(why)) => {
            notes.add_once(
                doc,
                node,
                format!("usage {usage}: predicate not read ({why}): read as O"),
            );
            (Usage::O, None)
        }
        None => {
            notes.add_once(doc, node, format!("usage {usage} without a predicate: read as O"));
            (Usage::O, None)
        }
    }
}

/// `Min`/`Max` (`*` for unbounded); absent → `None` (the usage's implied cardinality).
pub fn cardinality(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    notes: &mut Notes,
) -> Option<Cardinality> {
    let (min, max) = (attr(node, "Min")?, attr(node, "Max")?);
    let read = Cardinality::parse(&format!("{min}..{max}"));
    match read {
        Ok(c) => Some(c),
        Err(e) => {
            notes.add(doc, node, format!("{e}: cardinality not kept"));
            None
        }
    }
}

/// A maximum length (`Length=`, `MaxLength=`) and an optional minimum. `NA`, `*` and 0 say
/// there is no limit; 0 is noted because a limit of 0 would forbid every value.
pub fn length(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    notes: &mut Notes,
    min: Option<&str>,
    max: Option<&str>,
) -> Option<Length> {
    let max = max?;
    if max == "NA" || max == "*" {
        return None;
    }
    let Ok(max) = max.parse::<u32>() else {
        notes.add_once(doc, node, format!("length {max:?} is not a number: not kept"));
        return None;
    };
    if max == 0 {
        notes.add_once(doc, node, "length 0 read as no length limit");
        return None;
    }
    let min = min.and_then(|m| m.parse::<u32>().ok()).filter(|m| *m <= max).unwrap_or(0);
    Some(Length { min, max: Some(max) })
}

/// `0001`, `1`, `HL70001` → `HL70001`; any other name is kept as written (a site table).
pub fn table_name(table: &str) -> String {
    let digits = table.strip_prefix("HL7").unwrap_or(table).trim();
    if !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("HL7{digits:0>4}")
    } else {
        table.to_string()
    }
}

/// A regular expression as the NIST tools (Java) read it, for the `regex` crate: Java's `\d`
/// and `\w` are ASCII unless asked otherwise, Rust's are Unicode, so they are written out
/// (which also keeps the compiled patterns small).
pub fn java_regex(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len());
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Appends a sentence to an optional description.
pub fn append(description: &mut Option<String>, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    match description {
        Some(d) if !d.contains(text) => {
            d.push_str(" | ");
            d.push_str(text);
        }
        Some(_) => {}
        None => *description = Some(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_classes_are_ascii() {
        assert_eq!(java_regex(r"^\d{4}\.\w$"), r"^[0-9]{4}\.[0-9A-Za-z_]$");
        assert_eq!(java_regex(r"a\\d"), r"a\\d");
    }

    #[test]
    fn table_names() {
        assert_eq!(table_name("0001"), "HL70001");
        assert_eq!(table_name("1"), "HL70001");
        assert_eq!(table_name("HL70396"), "HL70396");
        assert_eq!(table_name("HL70136_IZ"), "HL70136_IZ");
        assert_eq!(table_name("VA001"), "VA001");
    }

    #[test]
    fn lengths_and_cardinalities() {
        let doc = Doc::parse("t.xml", "<a Min='0' Max='*'/>").expect("xml");
        let mut notes = Notes::default();
        let node = doc.root();
        assert_eq!(
            cardinality(&doc, node, &mut notes).map(|c| c.to_string()).as_deref(),
            Some("0..*")
        );
        assert_eq!(length(&doc, node, &mut notes, None, Some("NA")), None);
        assert_eq!(
            length(&doc, node, &mut notes, Some("1"), Some("20")),
            Some(Length { min: 1, max: Some(20) })
        );
        assert_eq!(length(&doc, node, &mut notes, None, Some("0")), None);
        assert_eq!(notes.finish().len(), 1);
    }
}
