//! The line format shared by the generated files: `KEY... VERSIONS: DATA`, `#` comments.
//!
//! VERSIONS are words such as `2.5.1` or ranges `2.3..2.6` (every version of
//! [`Version::ALL`] from one to the other). Bad lines are reported, never a panic: the data is
//! generated and tested, but a hand edit must degrade one line, not the binary.

use crate::hl7::structures::Version;

/// One data line, borrowed from the embedded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataLine {
    /// 1-based line number in its file, for error messages.
    pub line: usize,
    pub key: Vec<&'static str>,
    pub versions: Vec<Version>,
    pub data: &'static str,
}

/// Reads the lines of `text` whose key has `key_words` words; problems go to `errors` as
/// `file:line: reason`.
pub(crate) fn data_lines(
    file: &str,
    text: &'static str,
    key_words: usize,
    errors: &mut Vec<String>,
) -> Vec<DataLine> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((head, rest)) = line.split_once(':') else {
            errors.push(format!("{file}:{}: expected `KEY VERSIONS: DATA`", n + 1));
            continue;
        };
        let words: Vec<&'static str> = head.split_whitespace().collect();
        let versions = words.get(key_words..).and_then(parse_versions);
        match versions {
            Some(versions) if !versions.is_empty() => out.push(DataLine {
                line: n + 1,
                key: words[..key_words].to_vec(),
                versions,
                // Only the separating space is dropped: a table's last code may end in one.
                data: rest.strip_prefix(' ').unwrap_or(rest).trim_end_matches(['\r', '\n']),
            }),
            _ => errors.push(format!("{file}:{}: bad key or version list {head:?}", n + 1)),
        }
    }
    out
}

/// `2.3 2.5..2.6` as versions; `None` when a word is no version or a range runs backwards.
fn parse_versions(words: &[&str]) -> Option<Vec<Version>> {
    let mut versions = Vec::new();
    for word in words {
        match word.split_once("..") {
            Some((from, to)) => {
                let (from, to) = (Version::parse(from)?, Version::parse(to)?);
                if from > to {
                    return None;
                }
                versions.extend(Version::ALL.into_iter().filter(|v| (from..=to).contains(v)));
            }
            None => versions.push(Version::parse(word)?),
        }
    }
    Some(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        text: &'static str,
        key_words: usize,
        expected: Result<(&[&str], &[Version], &str), &str>,
    ) {
        let mut errors = Vec::new();
        let lines = data_lines("t.txt", text, key_words, &mut errors);
        match expected {
            Ok((key, versions, data)) => {
                assert!(errors.is_empty(), "{text}: {errors:?}");
                assert_eq!(lines.len(), 1, "{text}");
                assert_eq!(
                    (lines[0].key.as_slice(), lines[0].versions.as_slice(), lines[0].data),
                    (key, versions, data)
                );
            }
            Err(error) => {
                assert!(lines.is_empty(), "{text}");
                assert_eq!(errors, [error], "{text}");
            }
        }
    }

    #[test]
    fn lines() {
        use Version::*;
        check(
            "# c\n\nPID 3 2.5: CX 1 * 250 - X\n",
            2,
            Ok((&["PID", "3"], &[V2_5], "CX 1 * 250 - X")),
        );
        check(
            "ACK 2.3..2.4 2.8: MSH MSA",
            1,
            Ok((&["ACK"], &[V2_3, V2_3_1, V2_4, V2_8], "MSH MSA")),
        );
        check("0001 2.7: user x\tA\tB ", 1, Ok((&["0001"], &[V2_7], "user x\tA\tB ")));
        check("ACK 2.6..2.3: MSH", 1, Err("t.txt:1: bad key or version list \"ACK 2.6..2.3\""));
        check("ACK 2.9: MSH", 1, Err("t.txt:1: bad key or version list \"ACK 2.9\""));
        check("ACK: MSH", 1, Err("t.txt:1: bad key or version list \"ACK\""));
        check("PID 2.5: X", 2, Err("t.txt:1: bad key or version list \"PID 2.5\""));
        check("ACK 2.5 MSH", 1, Err("t.txt:1: expected `KEY VERSIONS: DATA`"));
    }
}
