//! Scenario files (YAML): the model, strict loading with file:line:column errors, `${VAR}`
//! interpolation and the placeholders filled in from sent messages.

mod files;
mod hllp;
mod limits;
mod load;
mod model;
mod profile;
mod receiver;
mod schema;
mod text;
mod validate;

pub use files::{check_pack_file, pack_roots, FileAccess, FileRefused};
pub use hllp::{BlockLimit, ChecksumName, HllpSpec, SpanName};
pub use limits::{MAX_EXPANDED_TEXT, MAX_NESTING, MAX_SCENARIO_BYTES, MAX_VALUES};
pub use load::{
    from_yaml, load_file, load_file_for, load_packs, load_packs_for, load_text, load_text_for,
    suggest, to_yaml, LoadError, LoadedScenario, Pack, TemplateMessage,
};
pub use model::*;
pub use profile::load_profile;
pub use receiver::*;
pub use schema::json_schema;
pub use text::{
    interpolate, with_unset_allowed, FieldPath, FileRef, Pattern, Piece, Placeholders, Secret,
    Span, Text, VariableRead, UNSET_PLACEHOLDER,
};
