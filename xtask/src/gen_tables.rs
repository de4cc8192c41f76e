//! `cargo xtask gen-tables`: the base standard's tables (segment grammars, trigger events,
//! segment fields, composite data types, coded tables) for v2.3 to v2.8, generated from the
//! public machine-readable definitions in `../shared/hl7-structures` into
//! `harness/src/hl7/standard/`, where the harness embeds them.
//!
//! The files are our own compact text (one line per fact, versions that agree sharing a line),
//! checked in so that a build never needs `../shared`; a unit test regenerates them in memory and
//! fails when the checked-in copy differs, so they cannot drift from their sources silently.

mod fields;
mod grammars;
mod share;
mod source;
mod tables;

use anyhow::Context;
use source::Sources;
use std::path::{Path, PathBuf};

/// The versions generated, in order; the harness's `structures::Version` has the same list.
pub const VERSIONS: [&str; 8] = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"];

/// Versions for which hl7-dictionary gives lengths and component optionality.
const DICTIONARY_VERSIONS: [&str; 6] = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6"];

/// Where the generated files go, relative to the workspace root.
pub const OUTPUT_DIR: &str = "harness/src/hl7/standard";

/// One generated file: its name in [`OUTPUT_DIR`] and its whole text.
pub struct Generated {
    pub name: &'static str,
    pub text: String,
}

/// `../shared/hl7-structures` beside the repository, when present (as `shared_public_corpus`
/// finds the public corpus).
pub fn shared_structures(root: &Path) -> Option<PathBuf> {
    let dir = root.parent()?.join("shared").join("hl7-structures");
    dir.is_dir().then_some(dir)
}

/// Writes every generated file and prints its size.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let dir = shared_structures(root).with_context(|| {
        format!(
            "../shared/hl7-structures not found beside {}; it holds the sources",
            root.display()
        )
    })?;
    let out = root.join(OUTPUT_DIR);
    std::fs::create_dir_all(&out)?;
    let mut total = 0;
    for file in generate(&dir)? {
        let path = out.join(file.name);
        std::fs::write(&path, &file.text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), file.text.len());
        total += file.text.len();
    }
    println!("total {total} bytes");
    Ok(())
}

/// Generates every file in memory from the sources in `dir` (`../shared/hl7-structures`).
pub fn generate(dir: &Path) -> anyhow::Result<Vec<Generated>> {
    let sources = Sources::read(dir)?;
    let header = Header::new(&sources);
    let (grammars, present) = grammars::grammars(&sources);
    let events = grammars::events(&sources, &present)?;
    let (segments, datatypes) = fields::fields(&sources);
    let tables = tables::tables(&sources);
    Ok(vec![
        header.file("grammars.txt", GRAMMARS_NOTE, &grammars.notes, grammars.lines),
        header.file("events.txt", EVENTS_NOTE, &events.notes, events.lines),
        header.file("segments.txt", SEGMENTS_NOTE, &segments.notes, segments.lines),
        header.file("datatypes.txt", DATATYPES_NOTE, &datatypes.notes, datatypes.lines),
        header.file("tables.txt", TABLES_NOTE, &tables.notes, tables.lines),
    ])
}

/// Lines of one file and the remarks about what the sources did not allow to say.
#[derive(Default)]
pub struct Body {
    pub lines: Vec<String>,
    pub notes: Vec<String>,
}

const VERSION_NOTE: &str = "\
# Each line is `KEY VERSIONS: DATA`; VERSIONS lists the versions the line holds for, `A..B`
# meaning every generated version from A to B (2.3 2.3.1 2.4 2.5 2.5.1 2.6 2.7 2.8).";

const GRAMMARS_NOTE: &str = "\
# Message structures (abstract message syntax, HL7 v2.5.1 ch. 2), from hl7apy's messages and
# groups, one line per structure and the versions that share its grammar:
#   SEG  a required segment     [ ... ]  optional     { ... }  repeating (one or more)
#   [{ ... }]  optional and repeating    NAME: ...  a group's name, first inside its brackets
#   < A | B >  a choice of one           a required group of one occurrence has no brackets";

const EVENTS_NOTE: &str = "\
# Trigger events -> message structure (HL7 table 0354), from the nHapi event maps: one line per
# structure and the versions that share its event list. ACK^<any trigger> always uses the ACK
# structure (a rule of the harness, not a line here).";

const SEGMENTS_NOTE: &str = "\
# Segment fields, from hl7apy (data type, cardinality, table, name) joined with hl7-dictionary
# (maximum length) on segment and position. One line per field:
#   SEG POSITION VERSIONS: DATATYPE MIN MAX LENGTH TABLE NAME
# MIN >= 1 means usage R (required); MAX `*` is unbounded, 0 a withdrawn field. LENGTH is `-`
# when unknown: hl7-dictionary has lengths for 2.3 to 2.6 only, none for 2.7 and 2.8, and a
# length is taken only where both sources give the field the same data type (no invented
# lengths). TABLE is the HL7 table number, `-` for none. NAME is hl7apy's short name.
# Positions come from hl7apy's field ids (`PID_3`), not from list order: its lists leave out
# some withdrawn fields, and a position without a line is such a field (no definition).";

const DATATYPES_NOTE: &str = "\
# Components of the composite data types, from hl7apy (data type, table, name) joined with
# hl7-dictionary (length, optionality) on type and position; composites that only
# hl7-dictionary defines for a version come from it alone (their NAME is its description).
# One line per component:
#   TYPE POSITION VERSIONS: DATATYPE TABLE LENGTH USAGE NAME
# USAGE is R or O where hl7-dictionary says (2.3 to 2.6), `-` where no source does (hl7apy
# gives every component min 0, which is not the standard's optionality). LENGTH as in
# segments.txt: `-` when unknown.";

const TABLES_NOTE: &str = "\
# HL7 coded tables, one line per table: NUMBER VERSIONS: KIND SOURCE<TAB>NAME<TAB>CODE<TAB>CODE...
# (tab-separated, as some codes hold spaces; codes sorted, trimmed, as the source writes them,
# ranges such as `E1 ... E9` included, without descriptions).
# SOURCE: `hl7apy` (its per-version tables, 2.3.1 and later) or `hl7-dictionary` (its one
# unversioned tables.js, used for 2.3 and for any table hl7apy lacks in a version; its codes
# may come from a later version than the line's).
# KIND: neither source says whether a table is HL7-defined or user-defined. It is derived
# from the standard's rule for the data types that use it in that version: a table used only
# by ID fields or components is `hl7` (HL7-defined), one used only by IS is `user` (user-
# defined: its codes are suggestions, a site may use others), otherwise `-` (not known: used
# by CE/CWE/CNE, by both, or by nothing).";

/// The header shared by every generated file: what generated it and from what.
struct Header {
    sources: String,
}

impl Header {
    fn new(sources: &Sources) -> Header {
        let mut text = String::new();
        for s in &sources.provenance {
            text.push_str(&format!(
                "#   {}: {} at commit {}, licence {}\n",
                s.folder, s.upstream, s.commit, s.licence
            ));
        }
        Header { sources: text }
    }

    fn file(
        &self,
        name: &'static str,
        note: &str,
        remarks: &[String],
        lines: Vec<String>,
    ) -> Generated {
        let mut text = String::new();
        text.push_str(&format!(
            "# {name}: generated by `cargo xtask gen-tables`; do not edit (a test fails when it is\n\
             # stale). Sources, read from ../shared/hl7-structures (see its SOURCES.md):\n"
        ));
        text.push_str(&self.sources);
        text.push_str(
            "# The standard's content is © HL7 International; the licences above cover these\n\
             # projects' encodings of it. Versions: 2.3 2.3.1 2.4 2.5 2.5.1 2.6 2.7 2.8.\n",
        );
        text.push_str(VERSION_NOTE);
        text.push('\n');
        text.push_str(note);
        text.push('\n');
        for remark in remarks {
            text.push_str("# ");
            text.push_str(remark);
            text.push('\n');
        }
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        Generated { name, text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        manifest.parent().map(PathBuf::from).unwrap_or(manifest)
    }

    /// The checked-in tables are what the sources give today.
    #[test]
    fn standard_tables_are_fresh() {
        let root = root();
        let Some(dir) = shared_structures(&root) else {
            let banner = "!".repeat(78);
            eprintln!(
                "{banner}\n!! ../shared/hl7-structures is ABSENT: the standard's tables in {OUTPUT_DIR}\n\
                 !! were NOT checked for staleness. CI has ../shared; set CI=1 to make this fail.\n{banner}"
            );
            assert!(std::env::var_os("CI").is_none(), "../shared/hl7-structures absent under CI");
            return;
        };
        let mut stale = Vec::new();
        for file in generate(&dir).expect("the sources read") {
            let path = root.join(OUTPUT_DIR).join(file.name);
            let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
            if checked_in != file.text {
                stale.push(path.display().to_string());
            }
        }
        assert!(stale.is_empty(), "stale: {}; run `cargo xtask gen-tables`", stale.join(", "));
    }

    #[test]
    fn generation_is_deterministic() {
        let Some(dir) = shared_structures(&root()) else { return };
        let a: Vec<String> = generate(&dir).expect("reads").into_iter().map(|g| g.text).collect();
        let b: Vec<String> = generate(&dir).expect("reads").into_iter().map(|g| g.text).collect();
        assert_eq!(a, b);
    }
}
