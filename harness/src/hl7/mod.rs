//! The HL7 v2 message model: parsing with the delimiters a message declares, encoding, escapes,
//! character sets, paths, segment grammars, the ACK builder and the field-level diff.
//!
//! Pure: nothing here reads files or sockets. Parsing is zero-copy: a [`Message`] indexes its
//! segments in the input and finds fields on demand, so reading a field allocates nothing.

pub mod ack;
pub mod batch;
pub mod charset;
pub mod datatype;
pub mod delimiters;
pub mod diff;
pub mod edit;
pub mod encode;
pub mod escape;
pub mod finding;
pub mod message;
pub mod names;
pub mod path;
pub(crate) mod scan;
pub mod segment;
pub mod standard;
pub mod structures;
mod table_hash;
pub mod validate;
pub mod value;
pub mod visit;

pub use batch::{split_batch, Batch};
pub use charset::Charset;
pub use delimiters::Delimiters;
pub use finding::{Finding, Location, Severity};
pub use message::{Message, ParseError, ParseOptions, Segment};
pub use path::{Path, PathError};
pub use value::{Level, Presence, Value};
pub use visit::{Position, Visitor};
