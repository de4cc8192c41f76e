//! The numeric primitives (NM, SI, SNM) and the samples of the string-like types.

use super::{Problem, Version};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// NM (v2.3 ch. 2, v2.5.1 ch. 2A.3.47): "an optional leading sign (+ or -), the digits and an
/// optional decimal point … Except for the optional leading sign and the optional decimal point,
/// no non-numeric ASCII characters are allowed". `.5` and `5.` pass (see the module doc).
pub(super) fn check_numeric(value: &str) -> Result<(), Problem> {
    let mut digits = 0usize;
    let mut points = 0usize;
    let commas = value.matches(',').count();
    for (index, c) in value.char_indices() {
        match c {
            '0'..='9' => digits += 1,
            '.' => {
                points += 1;
                if points > 1 {
                    return Err(Problem::SecondDecimalPoint);
                }
            }
            '+' | '-' if index == 0 => {}
            '+' | '-' => return Err(Problem::MisplacedSign),
            // A single comma and no point reads as a decimal comma ("12,5"); any other comma
            // as a thousands separator ("1,234.5", "1,234,567").
            ',' if commas == 1 && !value.contains('.') => return Err(Problem::DecimalComma),
            ',' => return Err(Problem::ThousandsSeparator),
            'e' | 'E' if digits > 0 => return Err(Problem::Exponent),
            other => {
                return Err(Problem::Unexpected {
                    position: value[..index].chars().count() + 1,
                    found: other,
                    expected: "a digit, a leading sign or one '.'",
                    format: "[+|-]digits[.digits]",
                })
            }
        }
    }
    if digits == 0 {
        return Err(Problem::NoDigit);
    }
    Ok(())
}

/// SI: "a non-negative integer in the form of a NM field"; from v2.5 "Maximum Length: 4 …
/// a number between 0 and 9999". Digits only: a sign or a point makes it no plain integer.
pub(super) fn check_sequence_id(value: &str, version: Version) -> Result<(), Problem> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotAnInteger);
    }
    if version.si_has_four_digits() && value.len() > 4 {
        return Err(Problem::TooManyDigits { found: value.len() });
    }
    Ok(())
}

/// SNM (v2.7 ch. 2A): "a string whose characters are limited to "+" and/or the decimal digits
/// 0 through 9". The text places no rule on where the `+` stands, so neither do we.
pub(super) fn check_telephone_digits(value: &str) -> Result<(), Problem> {
    if value.bytes().all(|b| b == b'+' || b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Problem::NotTelephoneDigits)
    }
}

pub(super) fn sample_numeric(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    match rng.random_range(0..4) {
        0 => out.push('-'),
        1 => out.push('+'),
        _ => {}
    }
    let count = rng.random_range(1..=6);
    push_digits(rng, &mut out, count);
    if rng.random_bool(0.5) {
        out.push('.');
        let count = rng.random_range(1..=4);
        push_digits(rng, &mut out, count);
    }
    out
}

pub(super) fn sample_sequence_id(rng: &mut ChaCha8Rng) -> String {
    rng.random_range(0..=9999u32).to_string()
}

pub(super) fn sample_telephone_digits(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    if rng.random_bool(0.3) {
        out.push('+');
    }
    let count = rng.random_range(3..=12);
    push_digits(rng, &mut out, count);
    out
}

/// A North American number as the v2.3 TN pattern writes it, e.g. `(415)555-3210`.
pub(super) fn sample_telephone_number(rng: &mut ChaCha8Rng) -> String {
    let mut out = String::from("(");
    push_digits(rng, &mut out, 3);
    out.push(')');
    push_digits(rng, &mut out, 3);
    out.push('-');
    push_digits(rng, &mut out, 4);
    out
}

/// Words for the string types: ASCII letters, digits and spaces only, so no charset or escape
/// question arises.
pub(super) fn sample_words(rng: &mut ChaCha8Rng) -> String {
    const WORDS: [&str; 8] = ["Sample", "value", "Smith", "Anna", "ward", "North", "test", "42"];
    let count = rng.random_range(1..=3);
    let words: Vec<&str> = (0..count).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
    words.join(" ")
}

/// A code as tables write them: one to three upper-case letters or digits. Its table membership
/// is the caller's to arrange.
pub(super) fn sample_code(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let len = rng.random_range(1..=3);
    (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

fn push_digits(rng: &mut ChaCha8Rng, out: &mut String, count: usize) {
    for _ in 0..count {
        out.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_primitive;
    use super::*;

    /// `expected`: `None` passes, `Some(problem)` fails with it.
    fn check(datatype: &str, version: &str, value: &str, expected: Option<Problem>) {
        let got = check_primitive(datatype, value, version).err().map(|v| v.problem);
        assert_eq!(got, expected, "{datatype} {version} {value:?}");
    }

    #[test]
    fn numeric_permitted_edges_pass() {
        for value in ["0", "-0.50", "+12", "007", "1.2000", "999", "-123.792", ".5", "5."] {
            check("NM", "2.5.1", value, None);
        }
    }

    #[test]
    fn numeric_defects_fail() {
        check("NM", "2.5.1", "1e5", Some(Problem::Exponent));
        check("NM", "2.5.1", "1E-3", Some(Problem::Exponent));
        check("NM", "2.5.1", "12,5", Some(Problem::DecimalComma));
        check("NM", "2.5.1", "1,234.5", Some(Problem::ThousandsSeparator));
        check("NM", "2.5.1", "1,234,567", Some(Problem::ThousandsSeparator));
        check("NM", "2.5.1", "1.2.3", Some(Problem::SecondDecimalPoint));
        check("NM", "2.5.1", "5-", Some(Problem::MisplacedSign));
        check("NM", "2.5.1", "+", Some(Problem::NoDigit));
        check("NM", "2.5.1", "-.", Some(Problem::NoDigit));
        check(
            "NM",
            "2.5.1",
            "<12",
            Some(Problem::Unexpected {
                position: 1,
                found: '<',
                expected: "a digit, a leading sign or one '.'",
                format: "[+|-]digits[.digits]",
            }),
        );
        check(
            "NM",
            "2.3",
            " 12",
            Some(Problem::Unexpected {
                position: 1,
                found: ' ',
                expected: "a digit, a leading sign or one '.'",
                format: "[+|-]digits[.digits]",
            }),
        );
    }

    #[test]
    fn sequence_id_is_four_digits_from_2_5() {
        check("SI", "2.5", "9999", None);
        check("SI", "2.5", "0", None);
        check("SI", "2.5", "10000", Some(Problem::TooManyDigits { found: 5 }));
        check("SI", "2.8.2", "10000", Some(Problem::TooManyDigits { found: 5 }));
        check("SI", "2.4", "10000", None);
        check("SI", "2.3", "1234567890", None);
        check("SI", "2.4", "-1", Some(Problem::NotAnInteger));
        check("SI", "2.5", "1.0", Some(Problem::NotAnInteger));
        check("SI", "2.5", "+1", Some(Problem::NotAnInteger));
    }

    #[test]
    fn telephone_digits() {
        check("SNM", "2.7", "+4930123456", None);
        check("SNM", "2.7", "0678989", None);
        check("SNM", "2.7", "555-1234", Some(Problem::NotTelephoneDigits));
        check("SNM", "2.7", "(415)5553210", Some(Problem::NotTelephoneDigits));
    }
}
