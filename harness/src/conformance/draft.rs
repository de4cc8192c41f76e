//! A message under construction: segments of fields, repetitions, components and
//! sub-components as a small tree, so the generator can value, clear and break one element at a
//! time and encode the result as ER7 only at the end.

use std::collections::BTreeMap;

/// A value: text, or parts one level down (components of a repetition, sub-components of a
/// component), by 1-based position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub text: String,
    pub parts: BTreeMap<usize, Node>,
}

impl Node {
    pub fn text(text: impl Into<String>) -> Node {
        Node { text: text.into(), parts: BTreeMap::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.parts.values().all(Node::is_empty)
    }

    /// ER7 for this node at `level` (0 = repetition, its parts joined by `^`; 1 = component,
    /// by `&`).
    fn encode(&self, level: usize) -> String {
        if self.parts.is_empty() {
            return self.text.clone();
        }
        let separator = if level == 0 { '^' } else { '&' };
        let last = self.parts.keys().next_back().copied().unwrap_or(0);
        let mut out = String::new();
        for position in 1..=last {
            if position > 1 {
                out.push(separator);
            }
            if let Some(part) = self.parts.get(&position) {
                out.push_str(&part.encode(level + 1));
            }
        }
        out
    }
}

/// One segment: its id and fields by position, each a list of repetitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftSegment {
    pub id: String,
    pub fields: BTreeMap<usize, Vec<Node>>,
}

impl DraftSegment {
    pub fn new(id: &str) -> DraftSegment {
        DraftSegment { id: id.to_string(), fields: BTreeMap::new() }
    }

    /// The node at `positions` (field, component, sub-component) in the first repetition,
    /// created when absent.
    pub fn at(&mut self, positions: &[usize]) -> Option<&mut Node> {
        let (&field, rest) = positions.split_first()?;
        let repetitions = self.fields.entry(field).or_default();
        if repetitions.is_empty() {
            repetitions.push(Node::default());
        }
        let mut node = repetitions.first_mut()?;
        for &position in rest {
            if node.parts.is_empty() && !node.text.is_empty() {
                // Text written at this level becomes its first part.
                let text = std::mem::take(&mut node.text);
                node.parts.insert(1, Node::text(text));
            }
            node = node.parts.entry(position).or_default();
        }
        Some(node)
    }

    /// Whether the element at `positions` holds a value (first repetition).
    pub fn valued(&self, positions: &[usize]) -> bool {
        let Some((&field, rest)) = positions.split_first() else { return false };
        let Some(mut node) = self.fields.get(&field).and_then(|r| r.first()) else {
            return false;
        };
        for position in rest {
            match node.parts.get(position) {
                Some(next) => node = next,
                None => return rest.len() == 1 && *position == 1 && !node.text.is_empty(),
            }
        }
        !node.is_empty()
    }

    /// Clears the element at `positions` in every repetition.
    pub fn clear(&mut self, positions: &[usize]) {
        let Some((&field, rest)) = positions.split_first() else { return };
        if rest.is_empty() {
            self.fields.remove(&field);
            return;
        }
        if let Some(repetitions) = self.fields.get_mut(&field) {
            for repetition in repetitions {
                clear_in(repetition, rest);
            }
        }
    }

    pub fn encode(&self) -> String {
        let is_header = self.id == "MSH";
        let mut out = self.id.clone();
        if is_header {
            out.push_str("|^~\\&");
        }
        let last = self.fields.keys().next_back().copied().unwrap_or(0);
        let first = if is_header { 3 } else { 1 };
        for position in first..=last {
            out.push('|');
            if let Some(repetitions) = self.fields.get(&position) {
                let texts: Vec<String> = repetitions.iter().map(|r| r.encode(0)).collect();
                out.push_str(&texts.join("~"));
            }
        }
        out
    }
}

fn clear_in(node: &mut Node, rest: &[usize]) {
    let Some((&position, deeper)) = rest.split_first() else { return };
    if node.parts.is_empty() {
        if position == 1 {
            node.text.clear();
        }
        return;
    }
    if deeper.is_empty() {
        node.parts.remove(&position);
    } else if let Some(next) = node.parts.get_mut(&position) {
        clear_in(next, deeper);
    }
}

/// A whole message under construction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Draft {
    pub segments: Vec<DraftSegment>,
}

impl Draft {
    /// The first segment with this id.
    pub fn segment(&mut self, id: &str) -> Option<&mut DraftSegment> {
        self.segments.iter_mut().find(|s| s.id == id)
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push_str(&segment.encode());
            out.push('\r');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_encode_with_gaps_and_levels() {
        let mut s = DraftSegment::new("PID");
        if let Some(n) = s.at(&[5, 2]) {
            n.text = "Jane".into();
        }
        if let Some(n) = s.at(&[5, 1]) {
            n.text = "Doe".into();
        }
        if let Some(n) = s.at(&[3, 4, 2]) {
            n.text = "x".into();
        }
        assert_eq!(s.encode(), "PID|||^^^&x||Doe^Jane");
        assert!(s.valued(&[5, 1]) && !s.valued(&[5, 3]) && !s.valued(&[7]));
        s.clear(&[5, 1]);
        assert_eq!(s.encode(), "PID|||^^^&x||^Jane");
        let mut h = DraftSegment::new("MSH");
        if let Some(n) = h.at(&[4]) {
            n.text = "A".into();
        }
        assert_eq!(h.encode(), "MSH|^~\\&||A");
    }
}
