//! Mutations of field values: non-ASCII text and charsets, escapes, nulls, timestamps, long
//! values and many repetitions.

use super::apply::*;
use super::mutation::*;
use crate::hl7::charset::{self, Charset};
use crate::hl7::edit::{EditError, MessageBuf};
use crate::hl7::Path;

impl<'a> Cx<'_, 'a> {
    pub(super) fn non_ascii(&mut self, p: &NonAscii) -> Result<Mutated> {
        let fields = self.fields_or_default(&p.fields, TEXT_FIELDS, 2)?;
        let script = match p.script {
            Some(s) => s,
            None => *self.pick(&Script::ALL),
        };
        let texts = match script {
            Script::Latin1 => LATIN1,
            Script::Greek => GREEK,
            Script::Cjk => CJK,
            Script::Emoji => EMOJI,
        };
        let chosen: Vec<&str> = fields.iter().map(|_| *self.pick(texts)).collect();
        let declared = self.message.charset();
        let mut buf = self.buf();
        let mut note = format!("encoded as {declared}");
        let unmappable =
            fields.iter().zip(&chosen).find(|(_, t)| charset::encode(t, declared).is_err());
        if let Some((path, text)) = unmappable {
            match p.unmappable {
                OnUnmappable::Fail => {
                    return self.fail(format!(
                        "{path}: {text:?} cannot be written in {declared} (MSH-18); use unmappable: declare_utf8"
                    ))
                }
                OnUnmappable::DeclareUtf8 => {
                    buf = self.to_utf8()?;
                    note = format!(
                        "MSH-18 {declared} cannot hold {script} text, so the message was re-encoded as UNICODE UTF-8",
                        script = script.as_str()
                    );
                }
            }
        }
        for (path, text) in fields.iter().zip(&chosen) {
            buf.set(path, text).map_err(self.edit_error())?;
        }
        let what = describe_values(&fields, &chosen);
        self.done(buf, format!("{what} ({} text, {note})", script.as_str()), Intent::Valid)
    }

    /// The base re-encoded as UTF-8 with MSH-18 `UNICODE UTF-8`.
    pub(super) fn to_utf8(&self) -> Result<MessageBuf> {
        let text = charset::decode(self.message.as_bytes(), self.message.charset());
        let mut buf = MessageBuf::new(text.into_owned().into_bytes())
            .map_err(|e| self.edit_error()(EditError::Broken(e)))?;
        let msh18 = Path::parse("MSH-18").expect("a valid literal path");
        buf.set_raw(&msh18, b"UNICODE UTF-8").map_err(self.edit_error())?;
        Ok(buf)
    }

    pub(super) fn charset_mismatch(&mut self, p: &FieldsParam) -> Result<Mutated> {
        let fields = self.fields_or_default(&p.fields, TEXT_FIELDS, 2)?;
        let chosen: Vec<&str> = fields.iter().map(|_| *self.pick(LATIN1)).collect();
        let mut buf = match self.message.charset() {
            Charset::UnicodeUtf8 | Charset::Unicode => self.buf(),
            _ => self.to_utf8()?,
        };
        let delimiters = buf.delimiters();
        for (path, text) in fields.iter().zip(&chosen) {
            // Latin-1 letters are all >= 0xC0 and never continuation bytes, so these bytes can
            // never read as UTF-8: the mismatch is detectable, as the intent claims.
            let latin1 =
                charset::encode(text, Charset::Iso8859_1).expect("the LATIN1 texts are ISO 8859-1");
            let escaped = crate::hl7::escape::escape(&latin1, &delimiters).map_err(|source| {
                self.edit_error()(EditError::Escape { path: path.to_string(), source })
            })?;
            buf.set_raw(path, &escaped).map_err(self.edit_error())?;
        }
        let what = describe_values(&fields, &chosen);
        let declared = buf.message().charset();
        self.done(
            buf,
            format!("{what} written as ISO 8859-1 bytes while MSH-18 declares {declared} (invalid UTF-8, ch. 2, MSH-18)"),
            Intent::Invalid,
        )
    }

    pub(super) fn escaped_delimiters(&mut self, p: &FieldsParam) -> Result<Mutated> {
        let fields = self.fields_or_default(&p.fields, TEXT_FIELDS, 1)?;
        let d = self.message.delimiters();
        let (f, c, r) = (d.field as char, d.component as char, d.repetition as char);
        let e = d.escape.map_or(String::new(), |b| (b as char).to_string());
        let s = d.subcomponent.map_or(String::new(), |b| (b as char).to_string());
        let values = [
            format!("A{f}B{c}C{r}D{e}E{s}F"),
            format!("O{f}Brien"),
            format!("Smith{c}Jones"),
            format!("Ann{r}Marie"),
            format!("C:{e}temp"),
            format!("R{s}D"),
        ];
        // Every field gets the value with all the delimiters first, then others by the seed.
        let chosen: Vec<String> = (0..fields.len())
            .map(|i| if i == 0 { values[0].clone() } else { self.pick(&values).clone() })
            .collect();
        let mut buf = self.buf();
        for (path, text) in fields.iter().zip(&chosen) {
            buf.set(path, text).map_err(self.edit_error())?;
        }
        let texts: Vec<&str> = chosen.iter().map(String::as_str).collect();
        let what = describe_values(&fields, &texts);
        self.done(buf, format!("{what}, written with escape sequences (ch. 2, 2.7)"), Intent::Valid)
    }

    pub(super) fn present_but_null(&mut self, p: &FieldsParam) -> Result<Mutated> {
        let fields = self.fields_or_default(&p.fields, OPTIONAL_FIELDS, 1)?;
        let mut buf = self.buf();
        for path in &fields {
            buf.set_raw(path, b"\"\"").map_err(self.edit_error())?;
        }
        let required: Vec<String> = fields
            .iter()
            .filter(|p| {
                p.component.is_none() && self.is_required(p.segment_id(), p.field.unwrap_or(0))
            })
            .map(ToString::to_string)
            .collect();
        let list = join_paths(&fields);
        if required.is_empty() {
            self.done(
                buf,
                format!("{list} = \"\" (present but null: delete the value, ch. 2, 2.5.3)"),
                Intent::Valid,
            )
        } else {
            self.done(
                buf,
                format!(
                    "{list} = \"\" (present but null), though {} required: whether null \
                     satisfies that is site-defined",
                    required.join(" ")
                ),
                Intent::Either,
            )
        }
    }

    // --- fields ---

    pub(super) fn timestamp_variants(&mut self, p: &TimestampVariants) -> Result<Mutated> {
        let path = match &p.field {
            Some(path) => path.clone(),
            None => Path::parse("MSH-7").expect("a valid literal path"),
        };
        self.check_field(&path)?;
        let variant = match p.variant {
            Some(v) => v,
            None => *self.pick(&TimestampVariant::ALL),
        };
        let original =
            self.message.get(&path).map(|v| self.message.text(&v).into_owned()).unwrap_or_default();
        let first = original.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
        let digits =
            if first.len() >= 8 { first.to_string() } else { FALLBACK_TIMESTAMP.to_string() };
        let full: String = format!("{digits:0<14}").chars().take(14).collect();
        let is_msh7 = path.segment_id() == "MSH" && path.field == Some(7);
        let d = self.message.delimiters();
        let (value, intent, why) = match variant {
            TimestampVariant::ReducedPrecision => {
                // MSH-7 keeps the minute, other timestamps the day; DTM allows any precision
                // down to the year (ch. 2A, DTM).
                let keep = if is_msh7 { 12 } else { 8 };
                let reduced: String = digits.chars().take(keep).collect();
                (reduced, Intent::Valid, "reduced precision (ch. 2A, DTM)")
            }
            TimestampVariant::TimeZone => {
                let zone = *self.pick(&["+0000", "-0500", "+0100", "+0530", "-1000"]);
                (format!("{full}{zone}"), Intent::Valid, "with a time zone offset (ch. 2A, DTM)")
            }
            TimestampVariant::Fraction => {
                let fraction = 1 + self.index(9999);
                (
                    format!("{full}.{fraction:04}"),
                    Intent::Valid,
                    "with fractional seconds (ch. 2A, DTM)",
                )
            }
            TimestampVariant::Components => (
                format!("{full}{}S", d.component as char),
                Intent::Either,
                "with the TS degree-of-precision component, kept for backward compatibility only \
                 since v2.3 (ch. 2A, TS)",
            ),
        };
        let mut buf = self.buf();
        buf.set_raw(&path, value.as_bytes()).map_err(self.edit_error())?;
        self.done(buf, format!("{path} = {value:?}: {why} [{}]", variant.as_str()), intent)
    }

    pub(super) fn long_field(&mut self, p: &LongField) -> Result<Mutated> {
        if !(1..=LongField::MAX_LENGTH).contains(&p.length) {
            return self.fail(format!(
                "length {} is not between 1 and {}",
                p.length,
                LongField::MAX_LENGTH
            ));
        }
        let given: Vec<Path> = p.field.iter().cloned().collect();
        let path = self.fields_or_default(&given, TEXT_FIELDS, 1)?.remove(0);
        let start = self.index(26);
        let value: Vec<u8> = (0..p.length).map(|i| b'A' + ((start + i) % 26) as u8).collect();
        let mut buf = self.buf();
        buf.set_raw(&path, &value).map_err(self.edit_error())?;
        self.done(
            buf,
            format!(
                "{path} = {} characters (maximum lengths are site-defined, ch. 2, 2.5.3)",
                p.length
            ),
            Intent::Either,
        )
    }

    pub(super) fn many_repetitions(&mut self, p: &ManyRepetitions) -> Result<Mutated> {
        if !(2..=ManyRepetitions::MAX_COUNT).contains(&p.count) {
            return self.fail(format!(
                "count {} is not between 2 and {}",
                p.count,
                ManyRepetitions::MAX_COUNT
            ));
        }
        let given: Vec<Path> = p.field.iter().cloned().collect();
        let path =
            self.fields_or_default(&given, &["PID-3", "STF-2", "OBX-5", "NK1-5"], 1)?.remove(0);
        if path.repetition.is_some() || path.component.is_some() {
            return self.fail(format!(
                "{path}: name a whole field, e.g. {}-{}",
                path.segment_id(),
                path.field.unwrap_or(1)
            ));
        }
        let d = *self.message.delimiters();
        let existing =
            self.message.get(&path).and_then(|v| v.repetition(1)).map(|v| v.as_bytes().to_vec());
        let first = match existing {
            Some(bytes) if !bytes.is_empty() => bytes,
            _ => b"R".to_vec(),
        };
        let total = (first.len() + 1).saturating_mul(p.count);
        if total > MAX_OUTPUT {
            return self.fail(format!(
                "{path}: {} repetitions of {} bytes would exceed {MAX_OUTPUT} bytes",
                p.count,
                first.len()
            ));
        }
        let mut value = Vec::with_capacity(total);
        for i in 0..p.count {
            if i > 0 {
                value.push(d.repetition);
            }
            value.extend_from_slice(&first);
        }
        let mut buf = self.buf();
        buf.set_raw(&path, &value).map_err(self.edit_error())?;
        self.done(
            buf,
            format!(
                "{path} repeated {} times (how many repetitions a receiver keeps is site-defined)",
                p.count
            ),
            Intent::Either,
        )
    }
}
