//! What the base standard adds to a profile's rules: the format of each data type and the
//! codes of HL7 tables, per version.

use crate::hl7::message::Message;
use crate::hl7::value::Value;

/// Why a value does not meet its data type, or `None` when it does (or the type is not one
/// the harness knows: a profile may name local types).
pub fn datatype_problem(
    datatype: &str,
    value: &Value<'_>,
    message: &Message<'_>,
    version: &str,
) -> Option<String> {
    crate::hl7::datatype::check_value(datatype, message, value, version)
        .err()
        .map(|v| v.to_string())
}

/// Whether HL7 table `number` of `version` holds `code`; `None` when the harness's tables
/// have no codes for it (or the version is not one they cover).
pub fn table_has(number: u16, code: &str, version: &str) -> Option<bool> {
    let version = crate::hl7::standard::Version::parse(version)?;
    let table = crate::hl7::standard::table(version, number)?;
    if table.codes.is_empty() {
        return None;
    }
    Some(table.contains(code))
}
