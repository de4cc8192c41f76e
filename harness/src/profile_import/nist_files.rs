//! The files a NIST/IGAMT export puts beside `Profile.xml`: the value set library
//! (`ValueSets.xml`), the value set bindings (`ValueSetBindings.xml` / `Bindings.xml`, newer
//! exports) and the conformance context (`Constraints.xml`: predicates and conformance
//! statements). Each is read into an index the profile walk looks up by context ID.

use super::xml::{attr, child, elements, text_of, Doc, Notes};
use crate::profile::ValueSet;
use std::collections::{BTreeMap, BTreeSet};

/// One value set definition as the library writes it.
#[derive(Debug, Clone, Default)]
pub struct ValueSetDef {
    pub set: ValueSet,
    /// `Extensibility="Open"`: codes outside the list are allowed, so the binding is read as
    /// suggested.
    pub open: bool,
}

#[derive(Debug, Default)]
pub struct Library {
    pub sets: BTreeMap<String, ValueSetDef>,
    /// `<NoValidation>`: bindings to these are not checked.
    pub no_validation: BTreeSet<String>,
}

/// `ValueSetLibrary` → definitions by `BindingIdentifier`. Excluded codes (`Usage="E"`) are
/// left out of the list.
pub fn library(doc: &Doc<'_>, notes: &mut Notes) -> Library {
    let mut out = Library::default();
    let root = doc.root();
    if root.tag_name().name() != "ValueSetLibrary" {
        notes.add(doc, root, "is not a <ValueSetLibrary>: no value sets read");
        return out;
    }
    for node in elements(root) {
        match node.tag_name().name() {
            "MetaData" => {}
            "NoValidation" => {
                out.no_validation.extend(elements(node).filter_map(text_of));
            }
            "ValueSetDefinitions" => {
                for def in elements(node).filter(|d| d.tag_name().name() == "ValueSetDefinition") {
                    let Some(id) = attr(def, "BindingIdentifier") else {
                        notes.add(doc, def, "has no BindingIdentifier=: dropped");
                        continue;
                    };
                    let mut codes = Vec::new();
                    for element in elements(def) {
                        if element.tag_name().name() != "ValueElement" {
                            notes.add_once(doc, element, "not supported: dropped");
                            continue;
                        }
                        if attr(element, "Usage") == Some("E") {
                            continue;
                        }
                        if let Some(value) = element.attribute("Value") {
                            if !codes.iter().any(|c| c == value) {
                                codes.push(value.to_string());
                            }
                        }
                    }
                    let description = attr(def, "Name").map(str::to_string);
                    out.sets.insert(
                        id.to_string(),
                        ValueSetDef {
                            set: ValueSet { description, codes },
                            open: attr(def, "Extensibility") == Some("Open"),
                        },
                    );
                }
            }
            _ => notes.add(doc, node, "not supported: dropped"),
        }
    }
    out
}

/// One binding of a value set to an element of a context.
#[derive(Debug, Clone)]
pub struct BindingEntry {
    /// The target relative to the context, `[…]` removed: `3`, `3.1`.
    pub target: String,
    pub identifiers: Vec<String>,
    /// `R`, `S` or `U`.
    pub strength: Option<String>,
    /// Where the code sits inside the element (`1`, `1:4`), when given.
    pub location: Option<String>,
    /// The binding as a note would name it, should it match no element.
    pub place: super::xml::Note,
}

/// Bindings by (context kind, context ID): `("Segment", "PID_IZ01")`, `("Datatype", "CE")`.
pub type Bindings = BTreeMap<(String, String), Vec<BindingEntry>>;

/// `ValueSetBindingsContext` (newer IGAMT exports keep bindings in their own file).
pub fn bindings(doc: &Doc<'_>, notes: &mut Notes) -> Bindings {
    let mut out = Bindings::new();
    let root = doc.root();
    for section in elements(root) {
        match section.tag_name().name() {
            "ValueSetBindings" => {
                for kind in elements(section) {
                    let kind_name = kind.tag_name().name().to_string();
                    for by_id in elements(kind) {
                        let Some(id) = attr(by_id, "ID").or_else(|| attr(by_id, "Name")) else {
                            continue;
                        };
                        if kind_name != "Segment" && kind_name != "Datatype" {
                            notes.add_once(
                                doc,
                                by_id,
                                format!("bindings in a {kind_name} context not supported: dropped"),
                            );
                            continue;
                        }
                        for b in elements(by_id) {
                            if let Some(entry) = binding_entry(doc, b, notes) {
                                out.entry((kind_name.clone(), id.to_string()))
                                    .or_default()
                                    .push(entry);
                            }
                        }
                    }
                }
            }
            "SingleCodeBindings" => {
                if elements(section).any(|k| elements(k).any(|b| elements(b).next().is_some())) {
                    notes.add(doc, section, "single-code bindings not supported: dropped");
                }
            }
            _ => notes.add(doc, section, "not supported: dropped"),
        }
    }
    out
}

fn binding_entry(
    doc: &Doc<'_>,
    node: roxmltree::Node<'_, '_>,
    notes: &mut Notes,
) -> Option<BindingEntry> {
    let target = strip_indexes(attr(node, "Target")?);
    let identifiers: Vec<String> = child(node, "Bindings")
        .map(|b| {
            elements(b).filter_map(|x| attr(x, "BindingIdentifier")).map(str::to_string).collect()
        })
        .unwrap_or_default();
    let locations: Vec<roxmltree::Node<'_, '_>> =
        child(node, "BindingLocations").map(|l| elements(l).collect()).unwrap_or_default();
    let location = match locations.as_slice() {
        [] => None,
        [one] => {
            if one.tag_name().name() == "ComplexBindingLocation" {
                notes.add_once(
                    doc,
                    *one,
                    "the code system location is not checked (only the code)",
                );
            }
            attr(*one, "CodeLocation").map(strip_indexes).filter(|l| l != ".")
        }
        [first, ..] => {
            notes.add_once(doc, *first, "only the first binding location is checked");
            attr(*first, "CodeLocation").map(strip_indexes).filter(|l| l != ".")
        }
    };
    Some(BindingEntry {
        target,
        identifiers,
        strength: attr(node, "BindingStrength").map(str::to_string),
        location,
        place: doc.note(node, String::new()),
    })
}

/// `3[1].1[*]` → `3.1`.
pub fn strip_indexes(path: &str) -> String {
    path.split('.')
        .map(|step| step.split('[').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(".")
}

/// A predicate of the conformance context.
#[derive(Debug, Clone)]
pub struct PredicateEntry<'d, 'i> {
    /// The target relative to the context, `[…]` removed.
    pub target: String,
    pub true_usage: String,
    pub false_usage: String,
    pub description: Option<String>,
    pub condition: Option<roxmltree::Node<'d, 'i>>,
    pub node: roxmltree::Node<'d, 'i>,
}

/// A conformance statement of the conformance context.
#[derive(Debug, Clone)]
pub struct StatementEntry<'d, 'i> {
    pub id: String,
    pub description: Option<String>,
    pub strength: Option<String>,
    pub assertion: Option<roxmltree::Node<'d, 'i>>,
    pub node: roxmltree::Node<'d, 'i>,
}

/// Predicates and statements by (context kind, ID or name).
#[derive(Debug, Default)]
pub struct Context<'d, 'i> {
    pub predicates: BTreeMap<(String, String), Vec<PredicateEntry<'d, 'i>>>,
    pub statements: BTreeMap<(String, String), Vec<StatementEntry<'d, 'i>>>,
    /// The same two, for contexts given `ByName` (every flavour of a segment or data type).
    pub predicates_by_name: BTreeMap<(String, String), Vec<PredicateEntry<'d, 'i>>>,
    pub statements_by_name: BTreeMap<(String, String), Vec<StatementEntry<'d, 'i>>>,
}

/// `ConformanceContext` → predicates and statements by context.
pub fn context<'d, 'i>(doc: &'d Doc<'i>, notes: &mut Notes) -> Context<'d, 'i> {
    let mut out = Context::default();
    let root = doc.root();
    if root.tag_name().name() != "ConformanceContext" {
        notes.add(doc, root, "is not a <ConformanceContext>: no constraints read");
        return out;
    }
    for section in elements(root) {
        let is_predicates = match section.tag_name().name() {
            "MetaData" => continue,
            "Predicates" => true,
            "Constraints" => false,
            _ => {
                if elements(section).next().is_some() {
                    notes.add(doc, section, "not supported: dropped");
                }
                continue;
            }
        };
        for kind in elements(section) {
            let kind_name = kind.tag_name().name().to_string();
            for by in elements(kind) {
                let (by_name, id) = match (attr(by, "ID"), attr(by, "Name")) {
                    (Some(id), _) => (false, id),
                    (None, Some(name)) => (true, name),
                    (None, None) => continue,
                };
                let key = (kind_name.clone(), id.to_string());
                for item in elements(by) {
                    let description = child(item, "Description").and_then(text_of);
                    if is_predicates {
                        let entry = PredicateEntry {
                            target: strip_indexes(attr(item, "Target").unwrap_or(".")),
                            true_usage: attr(item, "TrueUsage").unwrap_or("R").to_string(),
                            false_usage: attr(item, "FalseUsage").unwrap_or("X").to_string(),
                            description,
                            condition: child(item, "Condition"),
                            node: item,
                        };
                        let map =
                            if by_name { &mut out.predicates_by_name } else { &mut out.predicates };
                        map.entry(key.clone()).or_default().push(entry);
                    } else {
                        let entry = StatementEntry {
                            id: attr(item, "ID").unwrap_or("statement").to_string(),
                            description,
                            strength: attr(item, "Strength").map(str::to_string),
                            assertion: child(item, "Assertion"),
                            node: item,
                        };
                        let map =
                            if by_name { &mut out.statements_by_name } else { &mut out.statements };
                        map.entry(key.clone()).or_default().push(entry);
                    }
                }
            }
        }
    }
    out
}

impl<'d, 'i> Context<'d, 'i> {
    /// The predicates of a context by its ID and by its name.
    pub fn predicates_for(&self, kind: &str, id: &str, name: &str) -> Vec<&PredicateEntry<'d, 'i>> {
        let key = |k: &str| (kind.to_string(), k.to_string());
        self.predicates
            .get(&key(id))
            .into_iter()
            .chain(self.predicates_by_name.get(&key(name)))
            .flatten()
            .collect()
    }

    pub fn statements_for(&self, kind: &str, id: &str, name: &str) -> Vec<&StatementEntry<'d, 'i>> {
        let key = |k: &str| (kind.to_string(), k.to_string());
        self.statements
            .get(&key(id))
            .into_iter()
            .chain(self.statements_by_name.get(&key(name)))
            .flatten()
            .collect()
    }
}
