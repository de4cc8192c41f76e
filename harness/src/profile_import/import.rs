//! The entry point: which format a file is, the files a NIST export needs beside it (asked of
//! the caller, which does the reading), and the YAML the target profile is written as.

use super::hl7v2x;
use super::nist::{self, Parts};
use super::nist_files::{bindings, context, library, Library};
use super::xml::{Doc, ImportError, Note, Notes};
use crate::profile::TargetProfile;

/// A file's name (as notes and errors show it) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// The two XML formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<HL7v2xConformanceProfile>` (HL7 v2.x message profile, as HAPI reads it).
    Hl7v2x,
    /// `<ConformanceProfile>` (NIST/IGAMT export).
    Nist,
}

/// A file a NIST export keeps beside its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Companion {
    ValueSets,
    Bindings,
    Constraints,
}

impl Companion {
    pub const ALL: [Companion; 3] =
        [Companion::ValueSets, Companion::Bindings, Companion::Constraints];

    /// The names IGAMT and the NIST tools give the file, tried in order beside the profile.
    pub fn usual_names(self) -> &'static [&'static str] {
        match self {
            Companion::ValueSets => &["ValueSets.xml", "ValueSetLibrary.xml", "Tables.xml"],
            Companion::Bindings => &["ValueSetBindings.xml", "Bindings.xml"],
            Companion::Constraints => &["Constraints.xml", "ConformanceContext.xml"],
        }
    }
}

/// A target profile read from XML, and every note about what it does not carry as written.
#[derive(Debug)]
pub struct Imported {
    pub format: Format,
    pub profile: TargetProfile,
    pub notes: Vec<Note>,
    /// The companion files read, by name.
    pub read: Vec<String>,
}

/// Which format `text` is, by its root element (`None`: neither, or not XML).
pub fn format_of(text: &str) -> Option<Format> {
    let doc = roxmltree::Document::parse(text).ok()?;
    match doc.root_element().tag_name().name() {
        "HL7v2xConformanceProfile" => Some(Format::Hl7v2x),
        "ConformanceProfile" => Some(Format::Nist),
        _ => None,
    }
}

/// Imports `main`. For a NIST export, `companion` is asked for each file that belongs beside it
/// (`Ok(None)`: there is none); the caller chooses where it comes from (a flag, the profile's
/// folder) and reads it within its own limits.
pub fn import(
    main: &Source,
    companion: &mut dyn FnMut(Companion) -> Result<Option<Source>, ImportError>,
) -> Result<Imported, ImportError> {
    let doc = Doc::parse(&main.name, &main.text)?;
    let root = doc.root();
    let mut notes = Notes::default();
    match root.tag_name().name() {
        "HL7v2xConformanceProfile" => {
            let profile = hl7v2x::import(&doc, &mut notes)?;
            Ok(Imported { format: Format::Hl7v2x, profile, notes: notes.finish(), read: vec![] })
        }
        "ConformanceProfile" => {
            let mut sources = Vec::new();
            for which in Companion::ALL {
                if let Some(source) = companion(which)? {
                    sources.push((which, source));
                }
            }
            let docs: Vec<(Companion, Doc<'_>)> = sources
                .iter()
                .map(|(which, s)| Ok((*which, Doc::parse(&s.name, &s.text)?)))
                .collect::<Result<_, ImportError>>()?;
            let find = |which| docs.iter().find(|(w, _)| *w == which).map(|(_, d)| d);
            let library = find(Companion::ValueSets)
                .map(|d| library(d, &mut notes))
                .unwrap_or_else(Library::default);
            let bindings =
                find(Companion::Bindings).map(|d| bindings(d, &mut notes)).unwrap_or_default();
            let context = find(Companion::Constraints).map(|d| (d, context(d, &mut notes)));
            if library.sets.is_empty() && find(Companion::ValueSets).is_none() {
                notes.add(
                    &doc,
                    root,
                    "no value set file: bindings to sets other than HL7 tables are not checked",
                );
            }
            let parts = Parts { profile: &doc, library, bindings, context };
            let profile = nist::import(&parts, &mut notes)?;
            let read = sources.iter().map(|(_, s)| s.name.clone()).collect();
            Ok(Imported { format: Format::Nist, profile, notes: notes.finish(), read })
        }
        other => Err(ImportError::UnknownFormat {
            file: main.name.clone(),
            line: doc.line(root),
            root: other.to_string(),
        }),
    }
}

/// The target profile as YAML, headed by comments naming the source files and every note, so
/// the written file records what the import left out. Keys left empty are not written.
pub fn to_yaml(imported: &Imported, source: &str) -> Result<String, serde_yaml::Error> {
    let mut value = serde_yaml::to_value(&imported.profile)?;
    prune(&mut value);
    let body = serde_yaml::to_string(&value)?;
    let mut out = format!("# Imported by `hl7-harness profile import` from {source}");
    for file in &imported.read {
        out.push_str(&format!(", {file}"));
    }
    out.push('\n');
    if !imported.notes.is_empty() {
        out.push_str(&format!("# {} note(s):\n", imported.notes.len()));
        for note in &imported.notes {
            let line = note.to_string().replace(['\n', '\r'], " ");
            out.push_str(&format!("#   {line}\n"));
        }
    }
    out.push_str(&body);
    Ok(out)
}

/// Removes nulls and empty lists and maps (serde writes every optional key), except `codes`,
/// which a value set must have.
fn prune(value: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    match value {
        Value::Mapping(map) => {
            let keys: Vec<Value> = map.keys().cloned().collect();
            for key in keys {
                let keep_empty = key.as_str() == Some("codes");
                if let Some(v) = map.get_mut(&key) {
                    prune(v);
                    let empty = match v {
                        Value::Null => true,
                        Value::Sequence(s) => s.is_empty() && !keep_empty,
                        Value::Mapping(m) => m.is_empty(),
                        _ => false,
                    };
                    if empty {
                        map.remove(&key);
                    }
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HL7V2X: &str = include_str!("../../../corpus/profiles/handwritten/hl7v2x/ADT_A04.xml");
    const NIST: &str = include_str!("../../../corpus/profiles/handwritten/nist/Profile.xml");
    const VALUE_SETS: &str =
        include_str!("../../../corpus/profiles/handwritten/nist/ValueSets.xml");
    const CONSTRAINTS: &str =
        include_str!("../../../corpus/profiles/handwritten/nist/Constraints.xml");

    fn source(name: &str, text: &str) -> Source {
        Source { name: name.into(), text: text.into() }
    }

    /// Imports `main` with the hand-written NIST companions (or `broken` in place of one).
    fn run(main: &str, broken: Option<(Companion, &str)>) -> Result<Imported, ImportError> {
        let mut companion = |which: Companion| -> Result<Option<Source>, ImportError> {
            if let Some((w, text)) = broken {
                if w == which {
                    return Ok(Some(source("broken.xml", text)));
                }
            }
            Ok(match which {
                Companion::ValueSets => Some(source("ValueSets.xml", VALUE_SETS)),
                Companion::Constraints => Some(source("Constraints.xml", CONSTRAINTS)),
                Companion::Bindings => None,
            })
        };
        import(&source("Profile.xml", main), &mut companion)
    }

    #[test]
    fn formats_are_told_by_their_root() {
        assert_eq!(format_of(HL7V2X), Some(Format::Hl7v2x));
        assert_eq!(format_of(NIST), Some(Format::Nist));
        assert_eq!(format_of("<a/>"), None);
        assert_eq!(format_of("not xml"), None);
    }

    #[test]
    fn the_yaml_reads_back_without_shape_problems() {
        for text in [HL7V2X, NIST] {
            let imported = run(text, None).expect("imports");
            let yaml = to_yaml(&imported, "Profile.xml").expect("yaml");
            let back: TargetProfile = serde_yaml::from_str(&yaml).expect("reads back");
            assert_eq!(back, imported.profile);
            let shape =
                crate::profile::message::check_shape(&back.message_profiles, &back.value_sets);
            assert!(shape.is_empty(), "{shape:?}");
            assert!(!yaml.contains("null"), "{yaml}");
        }
    }

    #[test]
    fn every_prefix_of_a_profile_is_refused_or_read_never_a_panic() {
        for text in [HL7V2X, NIST] {
            for end in (0..text.len()).filter(|i| text.is_char_boundary(*i)).step_by(7) {
                let _ = run(&text[..end], None);
            }
        }
        for end in (0..CONSTRAINTS.len()).filter(|i| CONSTRAINTS.is_char_boundary(*i)).step_by(11) {
            let _ = run(NIST, Some((Companion::Constraints, &CONSTRAINTS[..end])));
        }
    }

    #[test]
    fn a_companion_that_is_not_xml_is_an_error_naming_it() {
        let error = run(NIST, Some((Companion::ValueSets, "<a>"))).expect_err("broken");
        assert!(error.to_string().starts_with("broken.xml:1:"), "{error}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Garbled profiles (bytes replaced, cut, duplicated) give a result or an error, and
        /// every note names its file and a line inside it.
        #[test]
        fn garbled_profiles_never_panic(
            which in 0usize..2,
            edits in proptest::collection::vec((0usize..8000, "[<>/=\"a-zA-Z0-9 ]{0,6}"), 1..8),
        ) {
            let mut text = [HL7V2X, NIST][which].to_string();
            for (at, insert) in edits {
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let end = (at + insert.len()).min(text.len());
                let end = (end..=text.len()).find(|e| text.is_char_boundary(*e)).unwrap_or(text.len());
                text.replace_range(at..end, &insert);
            }
            if let Ok(imported) = run(&text, None) {
                let lines = text.lines().count().max(1) as u32;
                for note in &imported.notes {
                    prop_assert!(note.line >= 1);
                    if note.file == "Profile.xml" {
                        prop_assert!(note.line <= lines, "{note}");
                    }
                }
                prop_assert!(to_yaml(&imported, "Profile.xml").is_ok());
            }
        }
    }
}
