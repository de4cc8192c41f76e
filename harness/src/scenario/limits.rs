//! Limits on scenario YAML, checked before and while it is read, so a hostile or mistaken file
//! is refused with an error naming it instead of taking the machine's memory or minutes of CPU
//! (issue 14: an 8 KB alias bomb expanded to 1.39 GB, a 63 MB file took 5.3 GB, 100k nesting
//! levels took over a minute).
//!
//! - size: a scenario file is at most [`MAX_SCENARIO_BYTES`], checked before it is read;
//! - nesting: at most [`MAX_NESTING`] levels of block or flow collections, found by a scan of
//!   the text before the YAML parser sees it (the parser's own limit applies only after it has
//!   read every event);
//! - expansion: aliases (`*name`) repeat what their anchor names; the document as the aliases
//!   expand it holds at most [`MAX_VALUES`] values and [`MAX_EXPANDED_TEXT`] bytes of scalar
//!   text. A first pass counts them without building anything (the parser replays an anchor's
//!   events for each alias; nothing is copied), so memory stays that of the file's events.
//!
//! The code here knows serde only; `scenario::load` hands it serde_yaml's deserializer.

use serde::de::Visitor;
use serde::de::{DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};
use std::cell::Cell;
use std::fmt;

/// Largest scenario file read: scenario files are a few kilobytes; 8 MiB is far above any real
/// pack and keeps the parser's event list (about 80 bytes of memory per byte of YAML at worst)
/// under a gigabyte.
pub const MAX_SCENARIO_BYTES: u64 = 8 * 1024 * 1024;

/// Deepest nesting of collections (a scenario needs about 8).
pub const MAX_NESTING: usize = 64;

/// Most values (scalars, sequences, mappings) the document may hold with its aliases expanded.
pub const MAX_VALUES: u64 = 1_000_000;

/// Most bytes of scalar text the document may hold with its aliases expanded.
pub const MAX_EXPANDED_TEXT: u64 = 32 * 1024 * 1024;

/// How deep the text nests and where it first goes past [`MAX_NESTING`]: `Err(line)` (1-based).
/// A scan of lines, not a YAML parser: block collections nest by indentation (and `- ` entries
/// written on one line), flow collections by brackets outside quotes and comments. It may count
/// a block scalar's lines or a multi-line plain scalar as a level or two deeper than they are,
/// which is far below the limit for any real file.
pub fn check_nesting(text: &str) -> Result<(), usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // Inside a block scalar (`key: |`): its lines are text, up to the first line indented no
    // deeper than the line that opened it.
    let mut block_scalar: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let blank = trimmed.is_empty() || trimmed.starts_with('#');
        match block_scalar {
            Some(_) if trimmed.is_empty() => continue,
            Some(opener) if indent > opener => continue,
            _ => block_scalar = None,
        }
        if flow == 0 && quote.is_none() && opens_block_scalar(trimmed) {
            block_scalar = Some(indent);
        }
        if flow == 0 && quote.is_none() && !blank {
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // `- - x` and `- key: v`: each entry marker on the line opens a level.
            let mut rest = trimmed;
            let mut extra = 0;
            while let Some(after) = rest.strip_prefix("- ") {
                extra += 1;
                rest = after.trim_start_matches(' ');
            }
            if indents.len() + extra > MAX_NESTING {
                return Err(number);
            }
        }
        let mut previous = ' ';
        for c in line.chars() {
            match (quote, c) {
                (Some('\''), '\'') | (Some('"'), '"')
                    if previous != '\\' || quote == Some('\'') =>
                {
                    quote = None
                }
                (Some(_), _) => {}
                (None, '#') if previous == ' ' || previous == '\t' => break,
                (None, '\'' | '"') if matches!(previous, ' ' | '[' | '{' | ',' | ':') => {
                    quote = Some(c)
                }
                (None, '[' | '{') => {
                    flow += 1;
                    if indents.len() + flow > MAX_NESTING {
                        return Err(number);
                    }
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
    Ok(())
}

/// Whether a line ends in a block scalar indicator (`|`, `>`, `|-`, `>+2`, …).
fn opens_block_scalar(line: &str) -> bool {
    let content = line.split(" #").next().unwrap_or(line).trim_end();
    let Some(start) = content.rfind(['|', '>']) else { return false };
    let before = &content[..start];
    let indicator = &content[start + 1..];
    (before.is_empty() || before.ends_with(' '))
        && indicator.chars().all(|c| matches!(c, '-' | '+' | '1'..='9'))
}

/// Walks a whole document through `deserializer` counting its values and scalar bytes, aliases
/// expanded, without keeping any of it; an error past [`MAX_VALUES`] or [`MAX_EXPANDED_TEXT`].
pub fn check_expansion<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    let budget = Budget { values: Cell::new(0), text: Cell::new(0) };
    Count(&budget).deserialize(deserializer)
}

struct Budget {
    values: Cell<u64>,
    text: Cell<u64>,
}

#[derive(Clone, Copy)]
struct Count<'b>(&'b Budget);

impl Count<'_> {
    fn tick<E: serde::de::Error>(&self, text: usize) -> Result<(), E> {
        let values = self.0.values.get() + 1;
        let bytes = self.0.text.get().saturating_add(text as u64);
        self.0.values.set(values);
        self.0.text.set(bytes);
        if values > MAX_VALUES {
            return Err(E::custom(format!(
                "the YAML holds more than {MAX_VALUES} values once its aliases (*name) are \
                 expanded; a scenario file is refused past that"
            )));
        }
        if bytes > MAX_EXPANDED_TEXT {
            return Err(E::custom(format!(
                "the YAML holds more than {MAX_EXPANDED_TEXT} bytes of text once its aliases \
                 (*name) are expanded; a scenario file is refused past that"
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.tick(v.len())
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.tick(v.len())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.tick(0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.tick(0)?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.tick(0)?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    /// A tagged value (`!Tag value`): the tag's value is counted like any other.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self).or_else(|_: A::Error| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_blocks_entries_and_flows() {
        assert_eq!(check_nesting("a:\n  b:\n    - c: [1, {d: e}]\n"), Ok(()));
        let deep_flow = format!("a: {}1{}\n", "[".repeat(70), "]".repeat(70));
        assert_eq!(check_nesting(&deep_flow), Err(1));
        let deep_block: String =
            (0..70).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect::<String>();
        assert_eq!(check_nesting(&deep_block), Err(65), "the 65th level");
        assert_eq!(check_nesting(&format!("{}x\n", "- ".repeat(70))), Err(1));
        // Brackets in quotes and comments are text.
        let quoted =
            format!("a: \"{}\" # {}\nb: '{}'\n", "[".repeat(90), "{".repeat(90), "[".repeat(90));
        assert_eq!(check_nesting(&quoted), Ok(()));
        // A block scalar's lines are text, however they are indented or bracketed.
        let scalar = format!("m: |\n  MSH|^~\\&|{}\n      deeper\nn: 1\n", "[".repeat(90));
        assert_eq!(check_nesting(&scalar), Ok(()));
    }

    #[test]
    fn expansion_is_counted_without_building() {
        let ok = "a: &x [1, 2, 3]\nb: [*x, *x]\n";
        assert!(check_expansion(serde_yaml::Deserializer::from_str(ok)).is_ok());
        // 1,000 values named 50 times, that named 40 times: two million values in 3.4 KB,
        // below serde_yaml's own limit on alias repetitions.
        let bomb = format!(
            "a: &a [{}]\nb: &b [{}]\nc: [{}]\n",
            vec!["x"; 1000].join(", "),
            vec!["*a"; 50].join(", "),
            vec!["*b"; 40].join(", ")
        );
        let err = check_expansion(serde_yaml::Deserializer::from_str(&bomb)).unwrap_err();
        assert!(err.to_string().contains("aliases"), "{err}");
    }
}
