//! The reference engine's defect switches (`hl7-harness engine --defect NAME`): known bugs of
//! interface engines, switched on one at a time so that a through case can prove that the check
//! naming the bug's effect catches it. Like [`crate::target::defect`], names are kebab-case and
//! never change once published. The byte-level ones ([`mangle_escapes`], [`mangle_charset`])
//! are pure functions over an output message.

use std::collections::BTreeSet;

macro_rules! engine_defects {
    ($($defect:ident = $name:literal: $description:literal,)+) => {
        /// One switch.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum EngineDefect {
            $($defect,)+
        }

        impl EngineDefect {
            pub const ALL: &'static [EngineDefect] = &[$(EngineDefect::$defect,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(EngineDefect::$defect => $name,)+
                }
            }

            /// One line: what the engine does wrong, and what a destination sees.
            pub fn description(self) -> &'static str {
                match self {
                    $(EngineDefect::$defect => $description,)+
                }
            }
        }
    };
}

engine_defects! {
    DropOnFullQueue = "drop-on-full-queue": "an input that finds a destination's queue full is answered AA and never forwarded to it (correct: AR, not journaled, so the source sends it again)",
    DuplicateOnTimeout = "duplicate-on-timeout": "after an ACK timeout the message is sent again under a new MSH-10, so a destination that took the first copy cannot tell the second is the same message: it arrives twice",
    Reorder = "reorder": "when several messages wait for a destination, the newest is sent first (correct: in the order accepted)",
    ForwardBeforeJournal = "forward-before-journal": "a message is queued for forwarding before it is journaled: when the journal write fails the source is answered AR, yet the destination receives the message (and again when the source resends)",
    MangleEscape = "mangle-escape": "escape sequences are resolved in the forwarded bytes (\\F\\ becomes |, \\S\\ ^, \\T\\ &, \\R\\ ~, \\E\\ \\), breaking the fields that held them",
    MangleCharset = "mangle-charset": "every byte above 0x7F is taken as ISO 8859-1 and written again as UTF-8, whatever MSH-18 says (UTF-8 input arrives double-encoded: ø as Ã¸)",
    AaThenDrop = "aa-then-drop": "every third input that a route takes is answered AA and then dropped: neither journaled nor forwarded",
}

/// The switches turned on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineDefects(BTreeSet<EngineDefect>);

impl EngineDefects {
    pub fn new(defects: impl IntoIterator<Item = EngineDefect>) -> Self {
        EngineDefects(defects.into_iter().collect())
    }

    pub fn has(&self, defect: EngineDefect) -> bool {
        self.0.contains(&defect)
    }

    pub fn iter(&self) -> impl Iterator<Item = EngineDefect> + '_ {
        self.0.iter().copied()
    }
}

/// Reads a switch by name (clap's value parser).
pub fn parse_engine_defect(name: &str) -> Result<EngineDefect, String> {
    EngineDefect::ALL.iter().copied().find(|d| d.name() == name).ok_or_else(|| {
        let names: Vec<_> = EngineDefect::ALL.iter().map(|d| d.name()).collect();
        format!("unknown engine defect {name:?}; known: {}", names.join(", "))
    })
}

/// `mangle-escape`: every escape sequence naming a delimiter replaced by the delimiter itself,
/// after MSH-2 (which holds the escape character and stays as it is).
pub fn mangle_escapes(payload: &[u8]) -> Vec<u8> {
    // MSH|^~\& : field separator at 3, encoding characters at 4..8.
    if payload.len() < 8 || !payload.starts_with(b"MSH") {
        return payload.to_vec();
    }
    let field = payload[3];
    let (component, repetition, escape, subcomponent) =
        (payload[4], payload[5], payload[6], payload[7]);
    let mut out = payload[..8].to_vec();
    let mut i = 8;
    while i < payload.len() {
        let b = payload[i];
        if b == escape && i + 2 < payload.len() && payload[i + 2] == escape {
            let replaced = match payload[i + 1] {
                b'F' => Some(field),
                b'S' => Some(component),
                b'T' => Some(subcomponent),
                b'R' => Some(repetition),
                b'E' => Some(escape),
                _ => None,
            };
            if let Some(r) = replaced {
                out.push(r);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// `mangle-charset`: each byte above 0x7F read as ISO 8859-1 and written as UTF-8.
pub fn mangle_charset(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    for &b in payload {
        if b < 0x80 {
            out.push(b);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(char::from(b).encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_are_unique() {
        for &d in EngineDefect::ALL {
            assert_eq!(parse_engine_defect(d.name()), Ok(d));
        }
        assert!(parse_engine_defect("nope").unwrap_err().contains("drop-on-full-queue"));
    }

    #[test]
    fn byte_mangling() {
        let msg = b"MSH|^~\\&|A\rPID|1||x\\F\\y\\S\\z\\E\\\\H\\\r";
        assert_eq!(mangle_escapes(msg), b"MSH|^~\\&|A\rPID|1||x|y^z\\\\H\\\r".to_vec());
        assert_eq!(mangle_charset("D\u{f8}".as_bytes()), "D\u{c3}\u{b8}".as_bytes());
        assert_eq!(mangle_charset(b"plain"), b"plain");
    }
}
