//! The HL7 v2 message model: parsing with the delimiters a message declares, encoding, escapes,
//! character sets, paths, segment grammars, the ACK builder and the field-level diff.
//!
//! Pure: nothing here reads files or sockets. Parsing is zero-copy: a [`Message`] indexes its
//! segments in the input and finds fields on demand, so reading a field allocates nothing.

pub mod delimiters;
pub mod finding;
pub mod charset;
pub mod escape;
