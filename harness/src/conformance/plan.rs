//! A message profile compiled for judging: the `segments:` tree with `constraints:` merged
//! into it, regular expressions compiled and value sets resolved, once per profile instead of
//! once per message.

use crate::hl7::standard::{self, Version};
use crate::profile::expr::Node;
use crate::profile::message::{
    hl7_table_number, Binding, Constraint, ElementSpec, MessageKey, MessageProfile, Statement,
};
use crate::profile::usage::{Cardinality, Length, Usage};
use crate::profile::ValueSet;
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One message profile, ready to judge messages.
#[derive(Debug)]
pub struct Plan {
    pub id: String,
    pub key: MessageKey,
    pub version: Option<String>,
    /// The grammar, when the profile writes one.
    pub tree: Option<Vec<Element>>,
    /// Usage and cardinality of segments by id (`constraints: { PV1: { usage: X } }`),
    /// counted over the whole message.
    pub segment_rules: Vec<SegmentRule>,
    /// Field rules by segment id, for segments the tree does not place (or when there is none).
    pub fields_by_id: HashMap<String, Arc<Vec<Field>>>,
    pub statements: Vec<Statement>,
}

#[derive(Debug)]
pub struct Element {
    pub label: String,
    pub place: String,
    pub usage: Usage,
    pub cardinality: Cardinality,
    pub predicate: Option<Node>,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    Segment { id: String, fields: Arc<Vec<Field>> },
    Group(Vec<Element>),
}

impl Element {
    /// Whether a segment with this id can be consumed by this element.
    pub fn holds(&self, id: &str) -> bool {
        match &self.kind {
            Kind::Segment { id: own, .. } => own == id,
            Kind::Group(children) => children.iter().any(|c| c.holds(id)),
        }
    }
}

#[derive(Debug)]
pub struct SegmentRule {
    pub id: String,
    pub place: String,
    pub usage: Option<Usage>,
    pub cardinality: Option<Cardinality>,
    pub predicate: Option<Node>,
}

/// A field, component or sub-component rule with everything compiled.
#[derive(Debug)]
pub struct Field {
    pub position: usize,
    pub place: String,
    pub usage: Option<Usage>,
    pub cardinality: Option<Cardinality>,
    pub length: Option<Length>,
    pub datatype: Option<String>,
    pub value_set: Option<ValueSetRef>,
    pub binding: Binding,
    pub fixed: Option<String>,
    pub pattern: Option<(String, Regex)>,
    pub predicate: Option<Node>,
    pub components: Vec<Field>,
}

/// A value set a rule binds to.
#[derive(Debug)]
pub enum ValueSetRef {
    Site { name: String, codes: HashSet<String> },
    Hl7Table { name: String, number: u16 },
}

impl Plan {
    pub fn compile(profile: &MessageProfile, value_sets: &BTreeMap<String, ValueSet>) -> Plan {
        let id = profile.id();
        let overlay = Overlay::new(profile);
        let standard = profile.version.as_deref().and_then(Version::parse);
        let compiler = Compiler { value_sets, overlay: &overlay, standard };
        let tree =
            profile.segments.as_ref().map(|elements| compiler.elements(elements, "segments"));
        let mut fields_by_id: HashMap<String, Arc<Vec<Field>>> = HashMap::new();
        if let Some(tree) = &tree {
            collect_first_fields(tree, &mut fields_by_id);
        }
        for id in overlay.segment_ids() {
            fields_by_id
                .entry(id.clone())
                .or_insert_with(|| Arc::new(compiler.fields(&[], &id, "")));
        }
        let segment_rules = profile
            .constraints
            .iter()
            .filter(|(path, _)| path.depth() == 0)
            .map(|(path, c)| SegmentRule {
                id: path.0.segment_id().to_string(),
                place: format!("constraints {path}"),
                usage: c.usage,
                cardinality: c.cardinality,
                predicate: c.predicate.as_ref().map(|p| p.node.clone()),
            })
            .collect();
        Plan {
            id,
            key: profile.message.clone(),
            version: profile.version.clone(),
            tree,
            segment_rules,
            fields_by_id,
            statements: profile.statements.clone(),
        }
    }
}

impl Plan {
    /// The place of every rule of the profile, in profile order, each once.
    pub fn places(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(tree) = &self.tree {
            element_places(tree, &mut out);
        }
        let mut ids: Vec<&String> = self.fields_by_id.keys().collect();
        ids.sort();
        for id in ids {
            field_places(&self.fields_by_id[id], &mut out);
        }
        out.extend(self.segment_rules.iter().map(|r| r.place.clone()));
        out.extend(self.statements.iter().map(|s| format!("statements {}", s.id)));
        let mut seen = HashSet::new();
        out.retain(|p| seen.insert(p.clone()));
        out
    }
}

fn element_places(elements: &[Element], out: &mut Vec<String>) {
    for element in elements {
        out.push(element.place.clone());
        match &element.kind {
            Kind::Segment { fields, .. } => field_places(fields, out),
            Kind::Group(children) => element_places(children, out),
        }
    }
}

fn field_places(fields: &[Field], out: &mut Vec<String>) {
    for field in fields {
        out.push(field.place.clone());
        field_places(&field.components, out);
    }
}

fn collect_first_fields(elements: &[Element], out: &mut HashMap<String, Arc<Vec<Field>>>) {
    for element in elements {
        match &element.kind {
            Kind::Segment { id, fields } => {
                out.entry(id.clone()).or_insert_with(|| fields.clone());
            }
            Kind::Group(children) => collect_first_fields(children, out),
        }
    }
}

/// One `constraints:` entry below a segment: its positions (field, component, …), the
/// constraint and its place in the profile.
type Entry<'p> = (Vec<usize>, &'p Constraint, String);

/// The `constraints:` entries by segment id and position path.
struct Overlay<'p> {
    by_segment: BTreeMap<String, Vec<Entry<'p>>>,
}

impl<'p> Overlay<'p> {
    fn new(profile: &'p MessageProfile) -> Overlay<'p> {
        let mut by_segment: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for (path, constraint) in &profile.constraints {
            let p = &path.0;
            let positions: Vec<usize> =
                [p.field, p.component, p.subcomponent].into_iter().flatten().collect();
            if positions.is_empty() {
                continue;
            }
            by_segment.entry(p.segment_id().to_string()).or_default().push((
                positions,
                constraint,
                format!("constraints {path}"),
            ));
        }
        Overlay { by_segment }
    }

    fn segment_ids(&self) -> Vec<String> {
        self.by_segment.keys().cloned().collect()
    }

    /// The entries under `prefix` (a field's positions) one level down.
    fn children(&self, segment: &str, prefix: &[usize]) -> Vec<(usize, &'p Constraint, String)> {
        self.by_segment
            .get(segment)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|(positions, _, _)| {
                        positions.len() == prefix.len() + 1 && positions.starts_with(prefix)
                    })
                    .map(|(positions, c, place)| (positions[prefix.len()], *c, place.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Positions one level below `prefix` that some entry reaches, directly or deeper
    /// (`PID-5.1` alone makes field 5 a level to walk through).
    fn reached(&self, segment: &str, prefix: &[usize]) -> Vec<usize> {
        self.by_segment
            .get(segment)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|(positions, _, _)| {
                        positions.len() > prefix.len() && positions.starts_with(prefix)
                    })
                    .map(|(positions, _, _)| positions[prefix.len()])
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Compiler<'a, 'p> {
    value_sets: &'a BTreeMap<String, ValueSet>,
    overlay: &'a Overlay<'p>,
    /// The version the profile is written for: the standard's data type of each element the
    /// profile constrains without naming one is judged too (a DTM is a DTM in every profile).
    standard: Option<Version>,
}

impl Compiler<'_, '_> {
    fn elements(&self, specs: &[ElementSpec], here: &str) -> Vec<Element> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let place = format!("{here}[{i}] {}", spec.label());
                let kind = match (&spec.segment, &spec.group) {
                    (Some(id), _) => Kind::Segment {
                        id: id.clone(),
                        fields: Arc::new(self.fields(&spec.fields, id, &place)),
                    },
                    (None, _) => {
                        Kind::Group(self.elements(&spec.elements, &format!("{place}, elements")))
                    }
                };
                Element {
                    label: spec.label(),
                    place,
                    usage: spec.usage,
                    cardinality: spec.cardinality(),
                    predicate: spec.predicate.as_ref().map(|p| p.node.clone()),
                    kind,
                }
            })
            .collect()
    }

    /// A segment's fields: the tree's, with the overlay's entries merged in by position.
    fn fields(&self, tree: &[Constraint], segment: &str, place: &str) -> Vec<Field> {
        self.level(tree, segment, &[], place, None)
    }

    fn level(
        &self,
        tree: &[Constraint],
        segment: &str,
        prefix: &[usize],
        place: &str,
        parent_type: Option<&str>,
    ) -> Vec<Field> {
        let mut positions: Vec<usize> = tree
            .iter()
            .filter_map(|c| c.position.map(usize::from))
            .chain(self.overlay.reached(segment, prefix))
            .collect();
        positions.sort_unstable();
        positions.dedup();
        positions
            .into_iter()
            .map(|position| {
                let written = tree.iter().find(|c| c.position.map(usize::from) == Some(position));
                let over = self
                    .overlay
                    .children(segment, prefix)
                    .into_iter()
                    .find(|(p, _, _)| *p == position);
                let separator = if prefix.is_empty() { ", field " } else { "." };
                let own_place = match (&over, written) {
                    (Some((_, _, at)), _) => at.clone(),
                    (None, Some(_)) => format!("{place}{separator}{position}"),
                    // A level only walked through to reach a deeper constraint.
                    (None, None) => {
                        let numbers: Vec<String> =
                            prefix.iter().chain([&position]).map(|n| n.to_string()).collect();
                        format!("{segment}-{} (the standard's definition)", numbers.join("."))
                    }
                };
                let mut merged = merge(written, over.as_ref().map(|(_, c, _)| *c));
                if merged.datatype.is_none() {
                    merged.datatype = self.standard_type(segment, prefix, position, parent_type);
                }
                let mut next = prefix.to_vec();
                next.push(position);
                let components = if next.len() < 3 {
                    let own_type = merged.datatype.clone();
                    self.level(&merged.components, segment, &next, &own_place, own_type.as_deref())
                } else {
                    Vec::new()
                };
                self.field(position, own_place, merged, components)
            })
            .collect()
    }

    /// The standard's data type of a field (no prefix) or of a component of `parent_type`.
    fn standard_type(
        &self,
        segment: &str,
        prefix: &[usize],
        position: usize,
        parent_type: Option<&str>,
    ) -> Option<String> {
        let version = self.standard?;
        let datatype = if prefix.is_empty() {
            standard::field(version, segment, position)?.datatype
        } else {
            standard::datatype(version, parent_type?)?.component(position)?.datatype
        };
        Some(datatype.to_string())
    }

    fn field(
        &self,
        position: usize,
        place: String,
        c: Constraint,
        components: Vec<Field>,
    ) -> Field {
        let value_set = c.value_set.as_ref().and_then(|name| match self.value_sets.get(name) {
            Some(set) => Some(ValueSetRef::Site {
                name: name.clone(),
                codes: set.codes.iter().cloned().collect(),
            }),
            None => hl7_table_number(name)
                .map(|number| ValueSetRef::Hl7Table { name: name.clone(), number }),
        });
        // Checked when the profile was read; one that fails to compile now is left out.
        let pattern = c
            .pattern
            .as_ref()
            .and_then(|p| Regex::new(&format!("^(?:{})$", p.0)).ok().map(|re| (p.0.clone(), re)));
        Field {
            position,
            place,
            usage: c.usage,
            cardinality: c.cardinality,
            length: c.length,
            datatype: c.datatype,
            value_set,
            binding: c.binding.unwrap_or(Binding::Required),
            fixed: c.fixed,
            pattern,
            predicate: c.predicate.map(|p| p.node),
            components,
        }
    }
}

/// The tree's constraint with the overlay's keys written over it.
fn merge(tree: Option<&Constraint>, over: Option<&Constraint>) -> Constraint {
    let mut merged = tree.cloned().unwrap_or_default();
    if let Some(o) = over {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { merged.$f = o.$f.clone(); } )* };
        }
        take!(
            name,
            usage,
            cardinality,
            length,
            datatype,
            value_set,
            binding,
            fixed,
            pattern,
            predicate
        );
        for component in &o.components {
            match merged.components.iter_mut().find(|c| c.position == component.position) {
                Some(existing) => *existing = merge(Some(existing), Some(component)),
                None => merged.components.push(component.clone()),
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> Plan {
        let profile: MessageProfile = serde_yaml::from_str(yaml).expect("profile");
        let sets = BTreeMap::from([(
            "gender".to_string(),
            ValueSet { description: None, codes: vec!["M".into(), "F".into()] },
        )]);
        Plan::compile(&profile, &sets)
    }

    #[test]
    fn the_overlay_is_merged_into_the_tree() {
        let p = plan(
            "message: ADT^A04\nsegments:\n- segment: MSH\n  usage: R\n- segment: PID\n  usage: R\n  fields:\n  - { position: 5, usage: RE, datatype: XPN, components: [ { position: 1, usage: O, length: 50 } ] }\n  - { position: 8, usage: O }\nconstraints:\n  PID-5.1: { usage: R }\n  PID-8: { value_set: gender }\n  PID-7: { usage: R }\n",
        );
        let tree = p.tree.as_ref().expect("tree");
        let Kind::Segment { fields, .. } = &tree[1].kind else { panic!("PID") };
        let positions: Vec<usize> = fields.iter().map(|f| f.position).collect();
        assert_eq!(positions, [5, 7, 8]);
        let pid5 = &fields[0];
        assert_eq!(pid5.usage, Some(Usage::RE));
        assert_eq!(pid5.place, "segments[1] PID, field 5");
        assert_eq!(pid5.components[0].usage, Some(Usage::R), "overlay wins");
        assert_eq!(pid5.components[0].length.and_then(|l| l.max), Some(50), "tree kept");
        assert_eq!(pid5.components[0].place, "constraints PID-5.1");
        assert!(matches!(fields[2].value_set, Some(ValueSetRef::Site { .. })));
        assert!(p.fields_by_id.contains_key("PID"));
    }

    #[test]
    fn overlay_only_profiles_judge_by_segment_id() {
        let p = plan(
            "message: ADT^A04\nconstraints:\n  PV1: { usage: X }\n  PID-8: { usage: R, value_set: HL70001 }\n  PID-13.4: { usage: R }\n",
        );
        assert!(p.tree.is_none());
        assert_eq!(p.segment_rules.len(), 1);
        let pid = &p.fields_by_id["PID"];
        assert!(matches!(pid[0].value_set, Some(ValueSetRef::Hl7Table { number: 1, .. })));
        assert_eq!(pid[0].place, "constraints PID-8");
        let pid13 = &pid[1];
        assert_eq!((pid13.position, pid13.usage), (13, None), "a level walked through");
        assert_eq!(pid13.components[0].usage, Some(Usage::R));
    }
}
