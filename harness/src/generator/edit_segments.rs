//! Mutations of the message's structure: empty or removed fields, truncated fields, dropped,
//! reordered, duplicated, unknown and Z segments.

use super::apply::*;
use super::mutation::*;
use crate::hl7::structures::{self};
use crate::hl7::{names, Path};

impl<'a> Cx<'_, 'a> {
    pub(super) fn empty_required(&mut self, p: &FieldParam) -> Result<Mutated> {
        let Some(version) = self.version() else {
            return self.fail("MSH-12 names no version this harness has required-field tables for");
        };
        let path = match &p.field {
            Some(path) => {
                self.check_field(path)?;
                let field = path.field.unwrap_or(0);
                if !self.is_required(path.segment_id(), field) {
                    return self.fail(format!(
                        "{path}: {}-{field} is not a required field in v{version}",
                        path.segment_id()
                    ));
                }
                path.clone()
            }
            None => {
                let mut valued = Vec::new();
                let mut in_header = Vec::new();
                for (id, occurrence, segment) in self.occurrences() {
                    for &n in structures::required_fields(version, id) {
                        if n <= 2 || segment.field(n).is_none_or(|v| v.is_empty()) {
                            continue;
                        }
                        let path = Path::parse(&format!("{id}[{occurrence}]-{n}"))
                            .expect("segment ids from a parsed message make valid paths");
                        if id == "MSH" {
                            in_header.push(path)
                        } else {
                            valued.push(path)
                        }
                    }
                }
                // MSH fields last: emptying MSH-9 or MSH-10 tests routing, not field checks.
                let candidates = if valued.is_empty() { in_header } else { valued };
                if candidates.is_empty() {
                    return self
                        .fail(format!("the message has no valued required field in v{version}"));
                }
                self.pick(&candidates).clone()
            }
        };
        let mut buf = self.buf();
        let mut field_only = path.clone();
        field_only.repetition = None;
        field_only.component = None;
        field_only.subcomponent = None;
        buf.set_raw(&field_only, b"").map_err(self.edit_error())?;
        self.done(
            buf,
            format!("{field_only} emptied, but it is required in v{version} (usage R)"),
            Intent::Invalid,
        )
    }

    /// Every segment with its id and 1-based occurrence among segments of that id.
    pub(super) fn occurrences(&self) -> Vec<(&'a str, usize, crate::hl7::Segment<'a>)> {
        let mut seen: Vec<(&'a str, usize)> = Vec::new();
        let mut out = Vec::new();
        for segment in self.message.segments() {
            let id = segment.id();
            let occurrence = match seen.iter_mut().find(|(s, _)| *s == id) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((id, 1));
                    1
                }
            };
            out.push((id, occurrence, segment));
        }
        out
    }

    pub(super) fn truncate_fields(&mut self, p: &TruncateFields) -> Result<Mutated> {
        let segment = match &p.segment {
            Some(s) => {
                self.check_segment(&s.0)?;
                self.message.find_segment(s.id(), s.0.occurrence_or_first()).expect("checked above")
            }
            None => {
                let candidates: Vec<_> =
                    self.message.segments().skip(1).filter(|s| s.field_count() >= 2).collect();
                if candidates.is_empty() {
                    return self.fail("no segment after MSH has two fields or more");
                }
                *self.pick(&candidates)
            }
        };
        let count = segment.field_count();
        let first = if segment.id() == "MSH" { 2 } else { 1 };
        let keep = match p.keep {
            Some(k) if k >= first && k < count => k,
            Some(k) => {
                return self.fail(format!(
                    "keep: {k}: {} has {count} fields; keep from {first} to {}",
                    segment.id(),
                    count.saturating_sub(1)
                ))
            }
            None if count > first => first + self.index(count - first),
            None => return self.fail(format!("{} has no fields to cut", segment.id())),
        };
        let Some(cut_from) = segment.field(keep + 1) else {
            return self.fail(format!("{} has no field {}", segment.id(), keep + 1));
        };
        // The field separator before field keep+1 and everything after it in the segment.
        let start = cut_from.offset() - 1;
        let end = segment.offset() + segment.as_bytes().len();
        let lost: Vec<usize> = (keep + 1..=count)
            .filter(|&n| segment.field(n).is_some_and(|v| !v.is_empty()))
            .collect();
        let lost_required: Vec<String> = lost
            .iter()
            .filter(|&&n| self.is_required(segment.id(), n))
            .map(|n| format!("{}-{n}", segment.id()))
            .collect();
        let mut bytes = self.message.as_bytes().to_vec();
        bytes.drain(start..end);
        let id = segment.id();
        let base = format!(
            "{id} truncated after {id}-{keep} (fields {}–{count} dropped, {} of them valued)",
            keep + 1,
            lost.len()
        );
        let (description, intent) = if lost_required.is_empty() {
            (format!("{base}, and trailing fields may be left out (ch. 2, 2.5.3)"), Intent::Valid)
        } else {
            (format!("{base}, losing required {}", lost_required.join(" ")), Intent::Invalid)
        };
        Ok(Mutated { bytes, description, intent })
    }

    pub(super) fn remove_field(&mut self, p: &FieldParam) -> Result<Mutated> {
        let (segment, n) = match &p.field {
            Some(path) => {
                self.check_field(path)?;
                if path.repetition.is_some() || path.component.is_some() {
                    return self.fail(format!(
                        "{path}: name a whole field, e.g. {}-{}",
                        path.segment_id(),
                        path.field.unwrap_or(1)
                    ));
                }
                let segment = self
                    .message
                    .find_segment(path.segment_id(), path.occurrence_or_first())
                    .expect("checked above");
                (segment, path.field.unwrap_or(1))
            }
            None => {
                let candidates: Vec<_> =
                    self.message.segments().skip(1).filter(|s| s.field_count() >= 2).collect();
                if candidates.is_empty() {
                    return self.fail("no segment after MSH has two fields or more");
                }
                let segment = *self.pick(&candidates);
                let n = 1 + self.index(segment.field_count() - 1);
                (segment, n)
            }
        };
        let count = segment.field_count();
        let Some(field) = segment.field(n).filter(|_| n < count) else {
            return self.fail(format!(
                "{}-{n}: the segment has {count} fields, so nothing after it would shift \
                 (use truncate_fields)",
                segment.id()
            ));
        };
        let start = field.offset() - 1;
        let end = field.offset() + field.as_bytes().len();
        let mut bytes = self.message.as_bytes().to_vec();
        bytes.drain(start..end);
        let id = segment.id();
        Ok(Mutated {
            bytes,
            description: format!(
                "{id}-{n} removed: {id}-{} to {id}-{count} moved one place left, so values sit \
                 in the wrong fields",
                n + 1
            ),
            intent: Intent::Invalid,
        })
    }

    // --- segments ---

    pub(super) fn drop_required_segment(&mut self, p: &SegmentParam) -> Result<Mutated> {
        let Some(structure) = self.structure() else {
            return self.fail("MSH-9 and MSH-12 name no message structure this harness knows");
        };
        let mut required = Vec::new();
        required_segments(&structure.items, &mut required);
        required.retain(|id| id != "MSH" && self.message.find_segment(id, 1).is_some());
        required.dedup();
        let id = match &p.segment {
            Some(s) => {
                if !required.iter().any(|r| r == s.id()) {
                    return self.fail(format!(
                        "{s} is not a required segment present in this {} v{} message \
                         (required and present: {})",
                        structure.id,
                        structure.version,
                        required.join(" ")
                    ));
                }
                s.id().to_string()
            }
            None if required.is_empty() => {
                return self.fail(format!("{} requires no segment besides MSH", structure.id))
            }
            None => self.pick(&required).clone(),
        };
        let mut buf = self.buf();
        let path = Path::segment_only(&id).expect("ids of a grammar are segment ids");
        let mut removed = 0;
        while buf.remove(&path).map_err(self.edit_error())? {
            removed += 1;
        }
        self.done(
            buf,
            format!(
                "{id} removed ({removed} occurrence(s)), but {} v{} requires it",
                structure.id, structure.version
            ),
            Intent::Invalid,
        )
    }

    /// The position (0-based) of the segment a parameter names, or one drawn by the seed among
    /// positions after MSH where `fits[position]`.
    pub(super) fn position(&mut self, segment: &Option<SegmentId>, fits: &[bool]) -> Result<usize> {
        match segment {
            Some(s) => {
                self.check_segment(&s.0)?;
                let wanted = s.0.occurrence_or_first();
                let position = self
                    .message
                    .segments()
                    .filter(|seg| seg.id() == s.id())
                    .nth(wanted - 1)
                    .map(|seg| seg.index() - 1)
                    .expect("checked above");
                if position == 0 {
                    return self.fail("MSH must stay first");
                }
                Ok(position)
            }
            None => {
                let candidates: Vec<usize> =
                    (1..self.message.segment_count()).filter(|&i| fits[i]).collect();
                if candidates.is_empty() {
                    return self.fail("the message has no segment after MSH this mutation can use");
                }
                Ok(*self.pick(&candidates))
            }
        }
    }

    pub(super) fn reorder_segments(&mut self, p: &SegmentParam) -> Result<Mutated> {
        let ids = self.segment_ids();
        let fits: Vec<bool> =
            (0..ids.len()).map(|i| ids.get(i + 1).is_some_and(|next| *next != ids[i])).collect();
        let position = self.position(&p.segment, &fits)?;
        if position + 1 >= ids.len() {
            return self
                .fail(format!("{} is the last segment; nothing to swap it with", ids[position]));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.swap(position, position + 1);
        let new_ids: Vec<&str> = order.iter().map(|&i| ids[i]).collect();
        let (first, second) = (ids[position], ids[position + 1]);
        let bytes = self.rebuild(&order);
        let (intent, why) = match (self.grammar_codes(&ids), self.grammar_codes(&new_ids)) {
            (Some(before), Some(after)) => {
                let new: Vec<&str> =
                    after.iter().filter(|c| !before.contains(c)).copied().collect();
                if new.is_empty() {
                    (Intent::Valid, "the grammar still matches".to_string())
                } else if new.contains(&"missing-required-segment") {
                    (Intent::Invalid, format!("the grammar no longer matches: {}", new.join(", ")))
                } else {
                    (
                        Intent::Either,
                        format!(
                            "{}: receivers may ignore unexpected segments, ch. 2",
                            new.join(", ")
                        ),
                    )
                }
            }
            _ => (Intent::Either, "no grammar known for this message".to_string()),
        };
        Ok(Mutated { bytes, description: format!("{first} and {second} swapped ({why})"), intent })
    }

    pub(super) fn duplicate_segment(&mut self, p: &SegmentParam) -> Result<Mutated> {
        let ids = self.segment_ids();
        let before = self.grammar_codes(&ids);
        let with_copy = |i: usize| {
            let mut copy = ids.clone();
            copy.insert(i + 1, ids[i]);
            copy
        };
        // By default only segments the grammar says may not repeat here.
        let adds_findings = |i: usize| match (&before, self.grammar_codes(&with_copy(i))) {
            (Some(b), Some(a)) => a.iter().any(|c| !b.contains(c)),
            _ => true,
        };
        let fits: Vec<bool> = (0..ids.len()).map(adds_findings).collect();
        let position = self.position(&p.segment, &fits)?;
        let id = ids[position];
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.insert(position + 1, position);
        let bytes = self.rebuild(&order);
        let (intent, why) = if fits[position] {
            (
                Intent::Either,
                "it may not repeat here: receivers may ignore unexpected segments or reject, ch. 2",
            )
        } else {
            (Intent::Valid, "the grammar allows it to repeat")
        };
        Ok(Mutated { bytes, description: format!("{id} written twice ({why})"), intent })
    }

    pub(super) fn unknown_segment(&mut self, p: &AddSegment) -> Result<Mutated> {
        let id = match &p.id {
            Some(s) => s.id().to_string(),
            None => "XQX".to_string(),
        };
        if id.starts_with('Z') {
            return self.fail(format!("{id} is a Z-segment (site-defined); use z_segment"));
        }
        if names::segment_name(&id).is_some() {
            return self.fail(format!("{id} is a segment the standard defines"));
        }
        let position = 1 + self.index(self.message.segment_count());
        let d = *self.message.delimiters();
        let added = segment_bytes(&id, &d, &["1", "generated by hl7-harness"]);
        let order: Vec<usize> = (0..self.message.segment_count()).collect();
        let bytes = self.rebuild_with(&order, position, &added);
        Ok(Mutated {
            bytes,
            description: format!(
                "{id} (not a segment of the standard) inserted as segment {} (receivers may \
                 ignore unexpected segments or reject, ch. 2)",
                position + 1
            ),
            intent: Intent::Either,
        })
    }

    pub(super) fn z_segment(&mut self, p: &AddSegment) -> Result<Mutated> {
        let id = match &p.id {
            Some(s) => s.id().to_string(),
            None => "ZHX".to_string(),
        };
        if !id.starts_with('Z') {
            return self.fail(format!("{id} is not a Z-segment; Z-segment ids start with Z"));
        }
        let n = 1 + self.index(999);
        let d = *self.message.delimiters();
        let value = format!("harness{}generated{}{n}", d.component as char, d.component as char);
        let added = segment_bytes(&id, &d, &["1", &value]);
        let count = self.message.segment_count();
        let order: Vec<usize> = (0..count).collect();
        let bytes = self.rebuild_with(&order, count, &added);
        Ok(Mutated {
            bytes,
            description: format!(
                "{id} appended (Z-segments are site-defined and must not cause a rejection, \
                 ch. 2, 2.5.2)"
            ),
            intent: Intent::Valid,
        })
    }

    /// The message's segments in `order` (positions), CR-terminated, BOM kept.
    pub(super) fn rebuild(&self, order: &[usize]) -> Vec<u8> {
        self.rebuild_with(order, usize::MAX, &[])
    }

    /// Like [`Self::rebuild`], with `added` (a segment without terminator) inserted before
    /// the `at`-th segment of the new order.
    pub(super) fn rebuild_with(&self, order: &[usize], at: usize, added: &[u8]) -> Vec<u8> {
        let header = self.message.header();
        let mut out = self.message.as_bytes()[..header.offset()].to_vec();
        let segments: Vec<_> = self.message.segments().collect();
        for (i, &position) in order.iter().enumerate() {
            if i == at {
                out.extend_from_slice(added);
                out.push(b'\r');
            }
            out.extend_from_slice(segments[position].as_bytes());
            out.push(b'\r');
        }
        if at == order.len() {
            out.extend_from_slice(added);
            out.push(b'\r');
        }
        out
    }
}
