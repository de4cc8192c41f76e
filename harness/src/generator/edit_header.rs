//! Mutations of the header and the framing of the message: segment separators, control ids,
//! header codes, custom delimiters and batch wrapping.

use super::apply::*;
use super::mutation::*;
use crate::hl7::edit::{EditError, MessageBuf};
use crate::hl7::{Delimiters, Message, Path};

impl<'a> Cx<'_, 'a> {
    pub(super) fn separators(&self, separator: &[u8], name: &str) -> Mutated {
        let header = self.message.header();
        let mut out = self.message.as_bytes()[..header.offset()].to_vec();
        for segment in self.message.segments() {
            out.extend_from_slice(segment.as_bytes());
            out.extend_from_slice(separator);
        }
        Mutated {
            bytes: out,
            description: format!(
                "segments end with {name} instead of CR (ch. 2, 2.5.4: the segment terminator \
                 is CR)"
            ),
            intent: Intent::Invalid,
        }
    }

    // --- values ---

    pub(super) fn duplicate_control_id(&mut self, p: &DuplicateControlId) -> Result<Mutated> {
        let path = Path::parse("MSH-10").expect("a valid literal path");
        let mut buf = self.buf();
        let id = match &p.control_id {
            Some(id) => {
                buf.set(&path, id).map_err(self.edit_error())?;
                id.clone()
            }
            None => match self.message.control_id() {
                Some(id) => id.to_string(),
                None => return self.fail("MSH-10 is empty and no control_id was given"),
            },
        };
        self.done(
            buf,
            format!(
                "MSH-10 = {id:?}, a control ID already used: send it after the message that used \
                 it (duplicate handling is site-defined, ch. 2, MSH-10)"
            ),
            Intent::Either,
        )
    }

    pub(super) fn header_value(&mut self, path: &str, value: &str, why: &str) -> Result<Mutated> {
        let path = Path::parse(path).expect("a valid literal path");
        let mut buf = self.buf();
        buf.set(&path, value).map_err(self.edit_error())?;
        self.done(buf, format!("{path} = {value:?}: {why}"), Intent::Invalid)
    }

    pub(super) fn custom_delimiters(&mut self, p: &CustomDelimiters) -> Result<Mutated> {
        let old = *self.message.delimiters();
        // Characters of the header's coded values (timestamp, message type, processing id,
        // version, character set): an escape sequence there would change the value a receiver
        // reads, so no delimiter may be one of them.
        let coded: Vec<u8> = [7, 9, 11, 12, 18]
            .iter()
            .filter_map(|&n| self.message.header().field(n))
            .flat_map(|v| v.as_bytes().to_vec())
            .filter(|b| !old.is_special(*b))
            .collect();
        let mut new = match (&p.delimiters, p.random) {
            (Some(_), true) => return self.fail("give delimiters or random: true, not both"),
            (Some(set), false) => set.0,
            (None, true) => self.random_delimiters(&coded),
            (None, false) => DelimiterSet::parse("$%#!(").expect("the default set is valid").0,
        };
        if let Some(clash) = new.header_bytes().into_iter().find(|b| coded.contains(b)) {
            return self.fail(format!(
                "delimiters {new}: {:?} occurs in a coded MSH value (MSH-7, 9, 11, 12 or 18), \
                 which cannot carry an escape sequence",
                clash as char
            ));
        }
        if new.escape.is_none() {
            return self.fail(format!(
                "delimiters {new}: an escape character is needed to re-encode values"
            ));
        }
        // A v2.7 truncation character stays when it does not clash with the new set.
        if new.truncation.is_none() {
            new.truncation = old.truncation.filter(|t| !new.header_bytes().contains(t));
        }
        let mut out = self.message.as_bytes()[..self.message.header().offset()].to_vec();
        for segment in self.message.segments() {
            let bytes = segment.as_bytes();
            // MSH-1 and MSH-2 are written from the new set; every other segment keeps its id
            // and has the rest transcoded from its first field separator on.
            let skip = if segment.index() == 1 {
                out.extend_from_slice(b"MSH");
                out.extend(new.header_bytes());
                3 + old.header_bytes().len()
            } else {
                out.extend_from_slice(&bytes[..3.min(bytes.len())]);
                3
            };
            transcode(&bytes[skip.min(bytes.len())..], &old, &new, &mut out);
            out.push(b'\r');
        }
        if let Err(e) = Message::parse(&out) {
            return self
                .fail(format!("delimiters {new}: the re-encoded message does not parse: {e}"));
        }
        Ok(Mutated {
            bytes: out,
            description: format!(
                "re-encoded with delimiters {new} (was {old}), declared in MSH-1 and MSH-2 \
                 (ch. 2, 2.5.4)"
            ),
            intent: Intent::Valid,
        })
    }

    pub(super) fn random_delimiters(&mut self, avoid: &[u8]) -> Delimiters {
        let mut pool: Vec<u8> =
            DELIMITER_POOL.iter().copied().filter(|b| !avoid.contains(b)).collect();
        let mut chosen = Vec::with_capacity(5);
        for _ in 0..5 {
            let i = self.index(pool.len());
            chosen.push(pool.remove(i));
        }
        Delimiters {
            field: chosen[0],
            component: chosen[1],
            repetition: chosen[2],
            escape: Some(chosen[3]),
            subcomponent: Some(chosen[4]),
            truncation: None,
        }
    }

    pub(super) fn batch_wrap(&mut self, p: &BatchWrap) -> Result<Mutated> {
        if !(1..=BatchWrap::MAX_MESSAGES).contains(&p.messages) {
            return self.fail(format!(
                "messages {} is not between 1 and {}",
                p.messages,
                BatchWrap::MAX_MESSAGES
            ));
        }
        let d = *self.message.delimiters();
        let header = self.message.header();
        let field = |n: usize| header.field(n).map_or(&b""[..], |v| v.as_bytes());
        let envelope_header = |id: &str| {
            let mut out = id.as_bytes().to_vec();
            out.extend(d.header_bytes());
            for n in 3..=7 {
                out.push(d.field);
                out.extend_from_slice(field(n));
            }
            out.push(b'\r');
            out
        };
        let mut out = Vec::new();
        if p.file_header {
            out.extend(envelope_header("FHS"));
        }
        out.extend(envelope_header("BHS"));
        let single = self.rebuild(&(0..self.message.segment_count()).collect::<Vec<_>>());
        let single = single.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&single).to_vec();
        if single.len().saturating_mul(p.messages) > MAX_OUTPUT {
            return self.fail(format!(
                "{} copies of a {}-byte message would exceed {MAX_OUTPUT} bytes",
                p.messages,
                single.len()
            ));
        }
        let control = Path::parse("MSH-10").expect("a valid literal path");
        let id = field(10).to_vec();
        for i in 1..=p.messages {
            if i == 1 {
                out.extend_from_slice(&single);
                continue;
            }
            let mut copy = MessageBuf::new(single.clone())
                .map_err(|e| self.edit_error()(EditError::Broken(e)))?;
            let mut unique = id.clone();
            unique.extend_from_slice(format!("-{i}").as_bytes());
            copy.set_raw(&control, &unique).map_err(self.edit_error())?;
            out.extend(copy.into_bytes());
        }
        out.extend(segment_bytes("BTS", &d, &[&p.messages.to_string()]));
        out.push(b'\r');
        if p.file_header {
            out.extend(segment_bytes("FTS", &d, &["1"]));
            out.push(b'\r');
        }
        let envelope = if p.file_header { "FHS/BHS ... BTS/FTS" } else { "BHS ... BTS" };
        Ok(Mutated {
            bytes: out,
            description: format!(
                "{} message(s) wrapped in {envelope} (BTS-1 = {}, batch support is agreed per \
                 site, ch. 2, batch protocol)",
                p.messages, p.messages
            ),
            intent: Intent::Either,
        })
    }
}
