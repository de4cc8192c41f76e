//! The messages of `report.html`, each stored once, as copies from an earlier, similar one.
//!
//! A run sends the same corpus messages again and again with a few fields changed (MSH-7,
//! MSH-10, a patient id, a varied field), and the answers differ even less; written out in
//! full they were most of the page. Here a message is an earlier message's number followed by
//! pieces: a string is literal text, a pair of numbers copies `length` units of the earlier
//! message from `start` (of the message itself from `-1 - start`, for repeated content). The page's script rebuilds each text into its `<pre data-m>` when it
//! loads. Offsets count UTF-16 code units, as JavaScript's `slice` does. The table is JSON in a
//! `<script type="application/json">`, every `<` written `\u003c` so no message can end the
//! script element.

use serde_json::{json, Value};
use std::collections::HashMap;

/// How many earlier messages a new one is compared with: enough to reach the previous case's
/// messages, bounded so a run of any size is rendered in linear time.
const WINDOW: usize = 48;

/// The shortest copy worth writing (a copy costs about as many bytes as this in JSON).
const MIN_COPY: usize = 12;

/// Where a run of `MIN_COPY` characters occurs in the base, at most this many places each
/// (HL7 has long runs of `^`; more candidates would only cost time).
const PLACES: usize = 8;

#[derive(Debug, Default)]
pub struct MessageTable {
    /// Each message's text as characters (to compare with later ones).
    texts: Vec<Vec<char>>,
    entries: Vec<Value>,
}

/// For each character index of `chars` (and its end), the offset in UTF-16 units.
fn utf16_offsets(chars: &[char]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(chars.len() + 1);
    let mut at = 0;
    offsets.push(0);
    for c in chars {
        at += c.len_utf16();
        offsets.push(at);
    }
    offsets
}

/// The length of the common prefix of `a` and `b`.
fn common(a: &[char], b: &[char]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Where each run of `MIN_COPY` characters starts in a text (the first `PLACES` places).
#[derive(Default)]
struct Grams<'a> {
    places: HashMap<&'a [char], Vec<usize>>,
}

impl<'a> Grams<'a> {
    fn add(&mut self, text: &'a [char], start: usize) {
        if let Some(gram) = text.get(start..start + MIN_COPY) {
            let places = self.places.entry(gram).or_default();
            if places.len() < PLACES {
                places.push(start);
            }
        }
    }

    /// The longest copy from `source` that `text` continues with at `at`: (start, length).
    fn longest(&self, source: &[char], text: &[char], at: usize) -> (usize, usize) {
        let gram = text.get(at..at + MIN_COPY);
        let places = gram.and_then(|gram| self.places.get(gram)).into_iter().flatten();
        places
            .map(|&start| (start, common(&source[start..], &text[at..])))
            .fold((0, 0), |best, found| if found.1 > best.1 { found } else { best })
    }
}

/// `text` as `[base, pieces…]`: greedy longest copies from `base` or from the text itself
/// (a negative start, `-1 - start`; it may overlap what it writes, as a repeated pattern
/// does), literal text between them.
fn pieces(number: usize, base: &[char], text: &[char]) -> Vec<Value> {
    let mut from_base = Grams::default();
    for start in 0..base.len() {
        from_base.add(base, start);
    }
    let mut from_self = Grams::default();
    let (base_offsets, own_offsets) = (utf16_offsets(base), utf16_offsets(text));
    let mut out = vec![json!(number)];
    let mut literal = String::new();
    let mut at = 0;
    while at < text.len() {
        let (base_start, base_length) = from_base.longest(base, text, at);
        let (own_start, own_length) = from_self.longest(text, text, at);
        let next = if base_length.max(own_length) < MIN_COPY {
            literal.push(text[at]);
            at + 1
        } else {
            if !literal.is_empty() {
                out.push(json!(std::mem::take(&mut literal)));
            }
            if base_length >= own_length {
                let (from, to) = (base_offsets[base_start], base_offsets[base_start + base_length]);
                out.push(json!(from));
                out.push(json!(to - from));
                at + base_length
            } else {
                let from = own_offsets[own_start];
                out.push(json!(-1 - from as i64));
                out.push(json!(own_offsets[own_start + own_length] - from));
                at + own_length
            }
        };
        for start in at..next {
            from_self.add(text, start);
        }
        at = next;
    }
    if !literal.is_empty() {
        out.push(json!(literal));
    }
    out
}

impl MessageTable {
    /// Adds `text` and returns its number (for `<pre data-m="N">`).
    pub fn add(&mut self, text: &str) -> usize {
        let chars: Vec<char> = text.chars().collect();
        // The base: the earlier message sharing the longest prefix and suffix with this one
        // (cheap to find; the copies then take whatever else they share).
        let first = self.texts.len().saturating_sub(WINDOW);
        let base = (first..self.texts.len()).max_by_key(|&n| {
            let earlier = &self.texts[n];
            let prefix = common(&chars, earlier);
            let room = chars.len().min(earlier.len()) - prefix;
            let suffix = chars
                .iter()
                .rev()
                .zip(earlier.iter().rev())
                .take(room)
                .take_while(|(a, b)| a == b)
                .count();
            (prefix + suffix, n)
        });
        let whole = json!(text);
        let entry = match base {
            Some(base) => {
                let copied = Value::Array(pieces(base, &self.texts[base], &chars));
                if copied.to_string().len() < whole.to_string().len() {
                    copied
                } else {
                    whole
                }
            }
            None => whole,
        };
        self.texts.push(chars);
        self.entries.push(entry);
        self.entries.len() - 1
    }

    /// The table as JSON safe inside a `<script>` element.
    pub fn to_script_json(&self) -> String {
        Value::Array(self.entries.clone()).to_string().replace('<', "\\u003c")
    }
}

/// Rebuilds the texts from a table, as the page's script does (for the tests).
#[cfg(test)]
fn rebuild(json: &str) -> Vec<String> {
    let entries: Vec<Value> = serde_json::from_str(json).expect("the table is JSON");
    let mut texts: Vec<Vec<u16>> = Vec::new();
    for entry in entries {
        let text = match entry {
            Value::String(text) => text.encode_utf16().collect(),
            Value::Array(parts) => {
                let base = texts[parts[0].as_u64().expect("base") as usize].clone();
                let mut text = Vec::new();
                let mut rest = parts[1..].iter();
                while let Some(part) = rest.next() {
                    match part {
                        Value::String(literal) => text.extend(literal.encode_utf16()),
                        start => {
                            let start = start.as_i64().expect("start");
                            let length = rest.next().and_then(Value::as_u64).expect("length");
                            if start >= 0 {
                                let start = start as usize;
                                text.extend_from_slice(&base[start..start + length as usize]);
                            } else {
                                // Unit by unit: the copy may overlap what it writes.
                                let start = (-1 - start) as usize;
                                for n in 0..length as usize {
                                    text.push(text[start + n]);
                                }
                            }
                        }
                    }
                }
                text
            }
            other => panic!("not an entry: {other}"),
        };
        texts.push(text);
    }
    texts.into_iter().map(|t| String::from_utf16(&t).expect("UTF-16")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(messages: &[&str], largest: usize) {
        let mut table = MessageTable::default();
        for (n, message) in messages.iter().enumerate() {
            assert_eq!(table.add(message), n);
        }
        let json = table.to_script_json();
        assert!(!json.contains('<'), "{json}");
        assert_eq!(rebuild(&json), messages);
        assert!(json.len() <= largest, "{} bytes: {json}", json.len());
    }

    const A04: &str = "MSH|^~\\&|SND|FAC|RCV|FAC|20240101120000||ADT^A04|MSG-0001|P|2.4\n\
                       PID|1||X-1^^^HOSP^MR||Jansen^Piet||19700101|M\nPV1|1|O";

    #[test]
    fn similar_messages_are_stored_as_deltas() {
        let second = A04.replace("MSG-0001", "MSG-0002");
        let third = A04.replace("Piet", "Klaas").replace("20240101120000", "20240101120001");
        check(&[A04, &second, &third], A04.len() + 100);
    }

    #[test]
    fn any_text_comes_back_unchanged() {
        check(&["", "", "a", "ab", "ba", "aXa", "aa"], 200);
        check(&["</script><!-- é 😀 ü", "</script><!-- é 😀! ü", "😀😀😀", "😀x😀😀"], 200);
        let emoji = "😀 ü ".repeat(8);
        check(&[&emoji, &format!("x{emoji}y{emoji}")], 200);
        // A repeated pattern copies from itself, overlapping what it writes.
        let long = format!("OBX|1|ED|{}|", "ABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(2000));
        check(&["MSH|", &long], 150);
        // A message that is another's prefix, and one sharing prefix and suffix that overlap.
        check(&[A04, &A04[..40], &format!("{A04}{A04}"), "abcabc", "abc"], 1000);
    }
}
