//! The data type check over a value of a parsed message, for the profile validator: it picks
//! the pieces a type is made of (TS's time and degree of precision) and reads each as text
//! (escapes resolved, charset decoded) before the format check.

use super::{check_degree_of_precision, DatatypeViolation, Primitive, Version};
use crate::hl7::message::Message;
use crate::hl7::value::{Level, Value};

/// Checks one value of `message` (a repetition, component or subcomponent; a field means its
/// first repetition) against the primitive `datatype` of `version`. Unknown types, composites
/// among them, pass: their components carry their own types.
///
/// TS is read as its pieces: the time (component 1, or subcomponent 1 when the TS is itself a
/// component) against the time format, the degree of precision (the next piece) against
/// `Y L D H M S`. Any other primitive is checked whole, so a component separator inside an NM
/// shows as the character it is.
pub fn check_value(
    datatype: &str,
    message: &Message<'_>,
    value: &Value<'_>,
    version: &str,
) -> Result<(), DatatypeViolation> {
    let Some(primitive) = Primitive::from_code(datatype) else {
        return Ok(());
    };
    let value = match value.level() {
        Level::Field => value.repetition(1).unwrap_or(*value),
        _ => *value,
    };
    if primitive != Primitive::TimeStamp || value.level() == Level::Subcomponent {
        return primitive.check(&message.text(&value), Version::parse(version));
    }
    let piece = |n: usize| {
        if value.level() == Level::Component {
            value.subcomponent(n)
        } else {
            value.component(n)
        }
    };
    if let Some(time) = piece(1) {
        primitive.check(&message.text(&time), Version::parse(version))?;
    }
    match piece(2) {
        Some(precision) => check_degree_of_precision(&message.text(&precision), version),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::datatype::Problem;
    use crate::hl7::path::Path;

    const MESSAGE: &str = "MSH|^~\\&|A|B|C|D|20240230120000^X||ADT^A01|1|P|2.4\r\
         EVN|A01|20240101^Q\r\
         PID|1||123^^^H&2.16&ISO||Doe^John||19800229|M|||^^^^^^^^^^^^20241301|||||||12^5\r";

    fn check(path: &str, datatype: &str) -> Option<Problem> {
        let message = Message::parse(MESSAGE.as_bytes()).expect("the sample parses");
        let path: Path = path.parse().expect("a valid path");
        let value = message.get(&path).expect("the path is valued");
        check_value(datatype, &message, &value, "2.4").err().map(|v| v.problem)
    }

    #[test]
    fn a_time_stamp_is_read_as_time_and_precision() {
        assert_eq!(
            check("MSH-7", "TS"),
            Some(Problem::Day { day: 30, last: 29, year: 2024, month: 2 })
        );
        assert_eq!(check("MSH-7.2", "ST"), None);
        assert_eq!(check("PID-7", "TS"), None);
        assert_eq!(check("EVN-2", "TS"), Some(Problem::DegreeOfPrecision));
    }

    #[test]
    fn a_time_stamp_inside_a_component_is_read_from_its_subcomponents() {
        assert_eq!(check("PID-11.13", "TS"), Some(Problem::Month(13)));
    }

    #[test]
    fn a_primitive_valued_with_components_shows_the_separator() {
        let got = check("PID-18", "NM");
        assert!(
            matches!(got, Some(Problem::Unexpected { position: 3, found: '^', .. })),
            "{got:?}"
        );
        assert_eq!(check("PID-18.1", "NM"), None);
    }

    #[test]
    fn composites_and_unknown_types_pass() {
        assert_eq!(check("PID-3", "CX"), None);
        assert_eq!(check("PID-5", "XPN"), None);
    }
}
