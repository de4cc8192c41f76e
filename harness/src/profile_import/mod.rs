//! Importing message profiles written in XML into the target profile (`profile import`), and
//! showing a profile as a table (`profile show`).
//!
//! Two formats are read: the HL7 v2.x message profile (`HL7v2xConformanceProfile`, as HAPI reads
//! it) and the NIST/IGAMT `ConformanceProfile` export with its value set, binding and
//! constraint files. Whatever the target profile cannot carry as written is reported as a
//! [`Note`] with the file, line and element, never dropped silently.
//!
//! Pure: the caller reads the files (within its limits) and hands over their text; this module
//! does no I/O and never panics on hostile XML (size, node and depth limits, no DTD).

mod assertion;
mod common;
mod hl7v2x;
mod import;
mod nist;
mod nist_files;
mod table;
mod xml;

pub use import::{format_of, import, to_yaml, Companion, Format, Imported, Source};
pub use table::show;
pub use xml::{ImportError, Note, MAX_XML_BYTES, MAX_XML_DEPTH, MAX_XML_NODES};
