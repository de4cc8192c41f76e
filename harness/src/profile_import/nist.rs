//! The NIST/IGAMT `<ConformanceProfile>` export: `<Messages>` whose `<Segment Ref=…>` point into
//! `<Segments>` (segment flavours such as `PID_IZ01`), fields whose `Datatype=` points into
//! `<Datatypes>` (flavours such as `CE_IZ01`, with their components), value set bindings inline
//! or in their own file, and the conformance context (predicates, statements) beside it.
//!
//! Flavours are expanded where they are used, so the target profile holds the tree a message
//! must meet, every field with its components and sub-components.

use super::assertion::{assertion, Base, Reading};
use super::common::{append, cardinality, java_regex, length, settle, table_name, usage};
use super::nist_files::{Bindings, Context, Library};
use super::xml::{attr, elements, Doc, ImportError, Notes};
use crate::profile::message::{
    hl7_table_number, Binding, Constraint, ElementSpec, MessageKey, MessageProfile, Pattern,
    Statement, StatementSeverity,
};
use crate::profile::usage::Usage;
use crate::profile::TargetProfile;
use std::collections::{BTreeMap, BTreeSet};

/// The export and the files read beside it.
pub struct Parts<'a, 'i> {
    pub profile: &'a Doc<'i>,
    pub library: Library,
    pub bindings: Bindings,
    /// The conformance context and the file it came from (for the notes' lines).
    pub context: Option<(&'a Doc<'i>, Context<'a, 'i>)>,
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

struct Walk<'p, 'a, 'i> {
    parts: &'p Parts<'a, 'i>,
    notes: &'p mut Notes,
    segments: BTreeMap<&'a str, Node<'a, 'i>>,
    datatypes: BTreeMap<&'a str, Node<'a, 'i>>,
    used_sets: BTreeSet<String>,
    /// Context entries (by byte offset) that matched an element of the profile; the others are
    /// noted at the end.
    used: BTreeSet<usize>,
    /// Bindings of the bindings file that matched an element, by (context, index).
    used_bindings: BTreeSet<(String, String, usize)>,
    /// Whether each data type pattern compiles, so each is compiled once (a large export
    /// uses DTM thousands of times).
    patterns: BTreeMap<String, bool>,
    /// Statements of data types, one per use, for the message being read.
    pending: Vec<Statement>,
    /// Segments that occur at more than one place in the message being read: a path names only
    /// the first occurrence, so they are read as repeating.
    multi: BTreeSet<String>,
}

/// An ancestor whose predicates and bindings may target an element: the segment (`kind`
/// `Segment`, no positions) or a data type used at `positions`.
#[derive(Clone)]
struct Scope {
    kind: &'static str,
    id: String,
    name: String,
    positions: Vec<u16>,
    /// Whether the element at `positions` can repeat (a condition there has no single value).
    repeating: bool,
}

pub fn import(parts: &Parts<'_, '_>, notes: &mut Notes) -> Result<TargetProfile, ImportError> {
    let doc = parts.profile;
    let root = doc.root();
    let index = |section: &str| -> BTreeMap<&str, Node<'_, '_>> {
        elements(root)
            .filter(|n| n.tag_name().name() == section)
            .flat_map(elements)
            .filter_map(|n| Some((attr(n, "ID")?, n)))
            .collect()
    };
    let mut walk = Walk {
        parts,
        notes,
        segments: index("Segments"),
        datatypes: index("Datatypes"),
        used_sets: BTreeSet::new(),
        used: BTreeSet::new(),
        used_bindings: BTreeSet::new(),
        patterns: BTreeMap::new(),
        pending: Vec::new(),
        multi: BTreeSet::new(),
    };
    let mut profile = TargetProfile::default();
    let version = attr(root, "HL7Version").map(str::to_string);
    for node in elements(root) {
        match node.tag_name().name() {
            "MetaData" => {
                profile.name = attr(node, "Name").map(str::to_string);
                // The specification's own version; exports write placeholders when it has none.
                profile.version = attr(node, "Version")
                    .filter(|v| !matches!(*v, "null" | "No Version Info"))
                    .map(str::to_string);
                if let Some(org) = attr(node, "OrgName") {
                    append(&mut profile.description, &format!("Organisation: {org}"));
                }
            }
            "Encodings" => {
                for encoding in elements(node) {
                    let name = super::xml::text_of(encoding).unwrap_or_default();
                    if name != "ER7" {
                        walk.notes.add_once(
                            doc,
                            encoding,
                            format!(
                                "encoding {name:?} not supported: only ER7 messages are judged"
                            ),
                        );
                    }
                }
            }
            "Messages" => {
                for message in elements(node) {
                    if let Some(m) = walk.message(message, version.clone())? {
                        profile.message_profiles.push(m);
                    }
                }
            }
            "Segments" | "Datatypes" => {}
            _ => walk.notes.add(doc, node, "not supported: dropped"),
        }
    }
    if profile.message_profiles.is_empty() {
        return Err(doc.structure(root, "holds no <Message> that could be read"));
    }
    disambiguate_ids(&mut profile.message_profiles);
    walk.note_unsupported_contexts();
    for id in &walk.used_sets {
        if let Some(def) = parts.library.sets.get(id) {
            profile.value_sets.insert(id.clone(), def.set.clone());
        }
    }
    Ok(profile)
}

/// Several definitions of one `TYPE^EVENT` (an RSP^K11 per query) get ids from their names.
fn disambiguate_ids(messages: &mut [MessageProfile]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in messages.iter() {
        *counts.entry(m.id()).or_default() += 1;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in messages.iter_mut() {
        let base = m.id();
        if counts.get(&base).copied().unwrap_or(0) > 1 {
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            m.id = Some(format!("{base}-{n}"));
        }
    }
}

impl<'p, 'a, 'i> Walk<'p, 'a, 'i> {
    fn doc(&self) -> &'a Doc<'i> {
        self.parts.profile
    }

    fn message(
        &mut self,
        node: Node<'a, 'i>,
        version: Option<String>,
    ) -> Result<Option<MessageProfile>, ImportError> {
        let doc = self.doc();
        if node.tag_name().name() != "Message" {
            self.notes.add(doc, node, "not supported: dropped");
            return Ok(None);
        }
        let code = doc.required(node, "Type")?;
        let event = doc.required(node, "Event")?;
        let message = match MessageKey::parse(&format!("{code}^{event}")) {
            Ok(key) => key,
            Err(e) => {
                self.notes.add(doc, node, format!("{e}: message dropped"));
                return Ok(None);
            }
        };
        let mut description = attr(node, "Description").map(str::to_string);
        if let Some(name) = attr(node, "Name").or_else(|| attr(node, "Identifier")) {
            append(&mut description, name);
        }
        let mut seen = BTreeSet::new();
        self.multi.clear();
        for r in node.descendants().filter(|n| n.tag_name().name() == "Segment") {
            let name = attr(r, "Ref")
                .and_then(|id| self.segments.get(id))
                .and_then(|def| attr(*def, "Name"))
                .unwrap_or_default()
                .to_string();
            if !seen.insert(name.clone()) {
                self.multi.insert(name);
            }
        }
        let mut used_segments = Vec::new();
        let segments: Vec<ElementSpec> = elements(node)
            .filter_map(|child| self.tree_element(child, false, &mut used_segments))
            .collect();
        let mut statements = self.segment_statements(&used_segments);
        for mut s in std::mem::take(&mut self.pending) {
            let (base, mut n) = (s.id.clone(), 1);
            while statements.iter().any(|o| o.id == s.id) {
                n += 1;
                s.id = format!("{base}-{n}");
            }
            statements.push(s);
        }
        Ok(Some(MessageProfile {
            id: None,
            message,
            structure: attr(node, "StructID").map(str::to_string),
            version,
            description,
            segments: Some(segments),
            constraints: Default::default(),
            statements,
        }))
    }

    /// A `<Segment Ref>`, `<Group>` or `<Choice>`; `repeating` when an enclosing group repeats.
    fn tree_element(
        &mut self,
        node: Node<'a, 'i>,
        repeating: bool,
        used: &mut Vec<(String, String, bool)>,
    ) -> Option<ElementSpec> {
        let doc = self.doc();
        let written = usage(doc, node, self.notes);
        let (usage, _) = settle(
            doc,
            node,
            self.notes,
            written,
            Some(Err("a group or segment predicate is not read".into()))
                .filter(|_| written.is_conditional()),
        );
        let cardinality = cardinality(doc, node, self.notes);
        let repeats = repeating || cardinality.is_some_and(|c| c.max != Some(1));
        match node.tag_name().name() {
            "Segment" => {
                let reference = attr(node, "Ref")?;
                let Some(def) = self.segments.get(reference).copied() else {
                    self.notes.add(
                        doc,
                        node,
                        format!("segment {reference:?} is not in <Segments>: dropped"),
                    );
                    return None;
                };
                let name = attr(def, "Name").unwrap_or(reference).to_string();
                let repeats = repeats || self.multi.contains(&name);
                if crate::hl7::path::Path::segment_only(&name).is_err() {
                    self.notes.add(doc, def, format!("{name:?} is not a segment id: dropped"));
                    return None;
                }
                used.push((reference.to_string(), name.clone(), repeats));
                let scope = Scope {
                    kind: "Segment",
                    id: reference.to_string(),
                    name: name.clone(),
                    positions: vec![],
                    repeating: repeats,
                };
                let fields = elements(def)
                    .filter(|f| f.tag_name().name() == "Field")
                    .enumerate()
                    .map(|(i, f)| {
                        let position = u16::try_from(i + 1).unwrap_or(u16::MAX);
                        self.value_element(f, vec![position], std::slice::from_ref(&scope))
                    })
                    .collect();
                for other in elements(def).filter(|f| f.tag_name().name() != "Field") {
                    self.notes.add_once(doc, other, "not supported: dropped");
                }
                Some(ElementSpec {
                    segment: Some(name),
                    group: None,
                    usage,
                    cardinality,
                    predicate: None,
                    description: attr(def, "Description").map(str::to_string),
                    elements: vec![],
                    fields,
                })
            }
            tag @ ("Group" | "Choice") => {
                let written_name = doc.required(node, "Name").ok()?;
                let name = written_name.rsplit('.').next().unwrap_or(written_name).to_string();
                let mut members: Vec<ElementSpec> = elements(node)
                    .filter_map(|child| self.tree_element(child, repeats, used))
                    .collect();
                if tag == "Choice" {
                    self.notes.add(
                        doc,
                        node,
                        "a choice is read as a group whose members are all optional (O)",
                    );
                    for m in &mut members {
                        m.usage = Usage::O;
                        m.cardinality = m
                            .cardinality
                            .map(|c| crate::profile::usage::Cardinality { min: 0, ..c });
                    }
                }
                if members.is_empty() {
                    self.notes.add(doc, node, "group with no readable member: dropped");
                    return None;
                }
                Some(ElementSpec {
                    segment: None,
                    group: Some(name),
                    usage,
                    cardinality,
                    predicate: None,
                    description: None,
                    elements: members,
                    fields: vec![],
                })
            }
            _ => {
                self.notes.add(doc, node, "not supported: dropped");
                None
            }
        }
    }

    /// A `<Field>` (positions `[f]`) or `<Component>` (`[f, c]`, `[f, c, s]`), with the
    /// predicates, bindings and patterns its scopes give it.
    fn value_element(
        &mut self,
        node: Node<'a, 'i>,
        positions: Vec<u16>,
        scopes: &[Scope],
    ) -> Constraint {
        let doc = self.doc();
        let level = positions.len() - 1;
        let written = usage(doc, node, self.notes);
        let cardinality = if level == 0 { cardinality(doc, node, self.notes) } else { None };
        let written_type = attr(node, "Datatype");
        let datatype_node = written_type.and_then(|t| self.datatypes.get(t).copied());
        let datatype = match (written_type, datatype_node) {
            (_, Some(dt)) => attr(dt, "Name").map(str::to_string),
            (Some(t), None) => {
                self.notes.add_once(
                    doc,
                    node,
                    format!("data type {t:?} is not in <Datatypes>: kept as written"),
                );
                Some(t.to_string())
            }
            (None, None) => None,
        };
        let mut c = Constraint {
            position: positions.last().copied(),
            name: attr(node, "Name").map(str::to_string),
            cardinality,
            length: length(
                doc,
                node,
                self.notes,
                attr(node, "MinLength"),
                attr(node, "MaxLength").or(attr(node, "Length")),
            ),
            datatype,
            fixed: attr(node, "ConstantValue").map(str::to_string),
            ..Constraint::default()
        };
        if let Some(conf) = attr(node, "ConfLength").filter(|l| *l != "NA") {
            self.notes.add_once(doc, node, format!("conformance length {conf} not checked (a receiver's minimum to keep, not a limit)"));
        }
        // Inline binding (older exports).
        let mut component_bindings: Vec<(u16, String, Option<Binding>)> = Vec::new();
        if let Some(ids) = attr(node, "Binding") {
            let ids: Vec<String> = ids.split(':').map(str::to_string).collect();
            let location = attr(node, "BindingLocation").map(str::to_string);
            let bound = self.bind(node, &ids, attr(node, "BindingStrength"), location.as_deref());
            self.place(&mut c, &mut component_bindings, bound);
        }
        // Scoped predicates and bindings.
        let parts = self.parts;
        let mut predicate = None;
        let repeating_here = scopes.last().is_some_and(|s| s.repeating)
            || cardinality.is_some_and(|k| k.max != Some(1));
        for scope in scopes {
            let target = positions[scope.positions.len()..]
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(".");
            if let Some((ctx_doc, ctx)) = &parts.context {
                for p in ctx.predicates_for(scope.kind, &scope.id, &scope.name) {
                    if p.target != target {
                        continue;
                    }
                    self.used.insert(p.node.range().start);
                    if let Some(d) = &p.description {
                        append(&mut c.description, &format!("Predicate: {d}"));
                    }
                    let usage_text = format!("C({}/{})", p.true_usage, p.false_usage);
                    let read = match (Usage::parse(&usage_text), p.condition) {
                        (Err(e), _) => Err(e),
                        (_, None) => Err("no <Condition>".to_string()),
                        (Ok(_), Some(_)) if scope.repeating => {
                            Err("its condition is inside a repeating element".to_string())
                        }
                        (Ok(u), Some(cond)) => {
                            let base = Base {
                                segment: scopes[0].name.clone(),
                                positions: scope.positions.clone(),
                                repetition: None,
                            };
                            assertion(cond, &base, &self.library_sets(), Reading::Condition)
                                .map(|e| (u, e))
                        }
                    };
                    if let Err(why) = &read {
                        self.notes.add_once(
                            ctx_doc,
                            p.node,
                            format!("predicate on {} {target}: {why}: usage read as O", scope.name),
                        );
                    }
                    predicate = Some(read);
                }
            }
            if let Some(entries) = parts.bindings.get(&(scope.kind.to_string(), scope.id.clone())) {
                for (n, b) in entries.iter().enumerate().filter(|(_, b)| b.target == target) {
                    self.used_bindings.insert((scope.kind.to_string(), scope.id.clone(), n));
                    let bound = self.bind(
                        node,
                        &b.identifiers,
                        b.strength.as_deref(),
                        b.location.as_deref(),
                    );
                    self.place(&mut c, &mut component_bindings, bound);
                }
            }
        }
        let (usage, expr) = match predicate {
            Some(Ok((u, text))) => settle(doc, node, self.notes, u, Some(Ok(text))),
            // Conditional, but its condition could not be read (noted above): O.
            Some(Err(_)) => (Usage::O, None),
            None => settle(doc, node, self.notes, written, None),
        };
        c.usage = Some(usage);
        c.predicate = expr;
        // The data type's own rules and members.
        if let (Some(dt), Some(dt_id)) = (datatype_node, written_type) {
            let at = Base {
                segment: scopes[0].name.clone(),
                positions: positions.clone(),
                repetition: None,
            };
            self.datatype_rules(&mut c, dt, dt_id, &at, repeating_here);
            if level < 2 && usage != Usage::X {
                let mut inner = scopes.to_vec();
                inner.push(Scope {
                    kind: "Datatype",
                    id: dt_id.to_string(),
                    name: attr(dt, "Name").unwrap_or(dt_id).to_string(),
                    positions: positions.clone(),
                    repeating: repeating_here,
                });
                for (j, component) in
                    elements(dt).filter(|n| n.tag_name().name() == "Component").enumerate()
                {
                    let mut at = positions.clone();
                    at.push(u16::try_from(j + 1).unwrap_or(u16::MAX));
                    c.components.push(self.value_element(component, at, &inner));
                }
            }
        }
        for (position, set, binding) in component_bindings {
            match c.components.iter_mut().find(|k| k.position == Some(position)) {
                Some(k) => {
                    k.value_set = Some(set);
                    k.binding = binding;
                }
                None => self.notes.add_once(
                    doc,
                    node,
                    format!("binding location {position} names no component: not checked"),
                ),
            }
        }
        c
    }

    fn library_sets(&self) -> BTreeMap<String, crate::profile::ValueSet> {
        self.parts.library.sets.iter().map(|(k, v)| (k.clone(), v.set.clone())).collect()
    }

    /// A pattern from the data type's `<Format Path=".">` statement; its other statements are
    /// noted once.
    /// Its other statements become message statements at each use (`IZ-6@MSH-3`), where the
    /// element cannot repeat.
    fn datatype_rules(
        &mut self,
        c: &mut Constraint,
        dt: Node<'a, 'i>,
        dt_id: &str,
        at: &Base,
        repeating: bool,
    ) {
        let parts = self.parts;
        let Some((ctx_doc, ctx)) = &parts.context else { return };
        let name = attr(dt, "Name").unwrap_or(dt_id);
        for s in ctx.statements_for("Datatype", dt_id, name) {
            self.used.insert(s.node.range().start);
            let format = s
                .assertion
                .and_then(|a| elements(a).next())
                .filter(|f| f.tag_name().name() == "Format" && attr(*f, "Path") == Some("."));
            let regex = format.and_then(|f| attr(f, "Regex")).map(java_regex);
            match regex.as_deref() {
                Some(regex)
                    if *self.patterns.entry(regex.to_string()).or_insert_with(|| {
                        regex::Regex::new(&format!("^(?:{regex})$")).is_ok()
                    }) =>
                {
                    c.pattern = Some(Pattern(regex.to_string()));
                }
                _ => {
                    let read = match s.assertion {
                        None => Err("no <Assertion>".to_string()),
                        Some(_) if repeating => {
                            Err("where it is used in a repeating element".into())
                        }
                        Some(a) => assertion(a, at, &self.library_sets(), Reading::Statement),
                    };
                    match read.and_then(|t| {
                        crate::profile::expr::Expr::parse(&t).map_err(|e| e.to_string())
                    }) {
                        Ok(expr) => {
                            let place = super::assertion::path_text(at, ".").unwrap_or_default();
                            self.pending.push(Statement {
                                id: format!("{}@{place}", s.id),
                                description: s.description.clone(),
                                assert: Some(expr),
                                unique: None,
                                severity: match s.strength.as_deref() {
                                    Some("SHOULD") => Some(StatementSeverity::Warning),
                                    _ => None,
                                },
                                each: None,
                            });
                        }
                        Err(why) => self.notes.add_once(
                            ctx_doc,
                            s.node,
                            format!("statement {} on data type {name}: {why}: dropped", s.id),
                        ),
                    }
                }
            }
        }
    }

    /// A binding's value set, as the target profile can check it: `Some((name, binding,
    /// component))` where the code sits in `component` when it is not the element itself.
    fn bind(
        &mut self,
        node: Node<'a, 'i>,
        ids: &[String],
        strength: Option<&str>,
        location: Option<&str>,
    ) -> Option<(String, Option<Binding>, Option<u16>)> {
        let doc = self.doc();
        let library = &self.parts.library;
        let id = ids.first()?.trim().to_string();
        if ids.len() > 1 {
            self.notes.add_once(
                doc,
                node,
                "several value sets bound to one element: only the first is checked",
            );
        }
        if library.no_validation.contains(&id) {
            self.notes.add_once(
                doc,
                node,
                format!("value set {id:?} is marked <NoValidation>: not checked"),
            );
            return None;
        }
        let mut binding = match strength {
            Some("S") | Some("U") => Some(Binding::Suggested),
            _ => None,
        };
        let name = match library.sets.get(&id) {
            Some(def) if def.set.codes.is_empty() => {
                self.notes.add_once(
                    doc,
                    node,
                    format!("value set {id:?} lists no codes (defined elsewhere): not checked"),
                );
                return None;
            }
            Some(def) => {
                if def.open {
                    binding = Some(Binding::Suggested);
                }
                self.used_sets.insert(id.clone());
                id
            }
            None => {
                let table = table_name(&id);
                if hl7_table_number(&table).is_none() {
                    self.notes.add_once(
                        doc,
                        node,
                        format!("value set {id:?} is not in the value set file: not checked"),
                    );
                    return None;
                }
                table
            }
        };
        let component = match location.map(str::trim) {
            None | Some("") | Some(".") | Some("1") => None,
            Some(l) if l.contains(':') || l.contains(" or ") => {
                self.notes.add_once(
                    doc,
                    node,
                    format!("binding location {l:?}: only the first is checked"),
                );
                None
            }
            Some(l) => match l.parse::<u16>() {
                Ok(n) => Some(n),
                Err(_) => {
                    self.notes.add_once(
                        doc,
                        node,
                        format!("binding location {l:?} not supported: not checked"),
                    );
                    return None;
                }
            },
        };
        Some((name, binding, component))
    }

    fn place(
        &mut self,
        c: &mut Constraint,
        later: &mut Vec<(u16, String, Option<Binding>)>,
        bound: Option<(String, Option<Binding>, Option<u16>)>,
    ) {
        match bound {
            Some((set, binding, None)) => {
                c.value_set = Some(set);
                c.binding = binding;
            }
            Some((set, binding, Some(n))) => later.push((n, set, binding)),
            None => {}
        }
    }

    /// Conformance statements of the segments used, as message statements; on a segment that
    /// can repeat, with `each:` the segment, so the statement holds for every occurrence.
    fn segment_statements(&mut self, used: &[(String, String, bool)]) -> Vec<Statement> {
        let parts = self.parts;
        let Some((ctx_doc, ctx)) = &parts.context else { return vec![] };
        let sets = self.library_sets();
        let mut out: Vec<Statement> = Vec::new();
        let mut done = BTreeSet::new();
        for (id, name, repeating) in used {
            if !done.insert(id.clone()) {
                continue;
            }
            for s in ctx.statements_for("Segment", id, name) {
                self.used.insert(s.node.range().start);
                let read = match s.assertion {
                    None => Err("no <Assertion>".to_string()),
                    Some(a) => assertion(
                        a,
                        &Base { segment: name.clone(), positions: vec![], repetition: None },
                        &sets,
                        Reading::Statement,
                    ),
                };
                match read
                    .and_then(|t| crate::profile::expr::Expr::parse(&t).map_err(|e| e.to_string()))
                {
                    Ok(expr) => {
                        let mut sid = s.id.clone();
                        let mut n = 1;
                        while out.iter().any(|o| o.id == sid) {
                            n += 1;
                            sid = format!("{}-{n}", s.id);
                        }
                        out.push(Statement {
                            id: sid,
                            description: s.description.clone(),
                            assert: Some(expr),
                            unique: None,
                            severity: match s.strength.as_deref() {
                                Some("SHOULD") => Some(StatementSeverity::Warning),
                                _ => None,
                            },
                            // Held by every occurrence of a segment that repeats.
                            each: repeating.then(|| name.clone()),
                        });
                    }
                    Err(why) => self.notes.add(
                        ctx_doc,
                        s.node,
                        format!("statement {} on {name}: {why}: dropped", s.id),
                    ),
                }
            }
        }
        out
    }

    /// Predicates and statements of group and message contexts are not read (their paths walk
    /// the group tree, which the expression language does not address).
    fn note_unsupported_contexts(&mut self) {
        let parts = self.parts;
        for ((kind, id), entries) in &parts.bindings {
            for (n, b) in entries.iter().enumerate() {
                if !self.used_bindings.contains(&(kind.clone(), id.clone(), n)) {
                    let mut note = b.place.clone();
                    note.message = format!(
                        "binding on {kind} {id} {} matches no element of the profile: dropped",
                        b.target
                    );
                    self.notes.push(note);
                }
            }
        }
        let Some((ctx_doc, ctx)) = &parts.context else { return };
        let kinds = ["Group", "Message"];
        for ((kind, id), entries) in ctx.predicates.iter().chain(&ctx.predicates_by_name) {
            for p in entries {
                if kinds.contains(&kind.as_str()) {
                    self.notes.add(
                        ctx_doc,
                        p.node,
                        format!("predicate in a {kind} context not supported: dropped"),
                    );
                } else if !self.used.contains(&p.node.range().start) {
                    self.notes.add(ctx_doc, p.node, format!("predicate on {kind} {id} {} matches no element of the profile: dropped", p.target));
                }
            }
        }
        for ((kind, id), entries) in ctx.statements.iter().chain(&ctx.statements_by_name) {
            for s in entries {
                if kinds.contains(&kind.as_str()) {
                    self.notes.add(
                        ctx_doc,
                        s.node,
                        format!("statement {} in a {kind} context not supported: dropped", s.id),
                    );
                } else if !self.used.contains(&s.node.range().start) {
                    self.notes.add(ctx_doc, s.node, format!("statement {} on {kind} {id} matches no element of the profile: dropped", s.id));
                }
            }
        }
    }
}
