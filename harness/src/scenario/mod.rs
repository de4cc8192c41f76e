//! Scenario files (YAML): the raw format ([`raw`]), strict loading with file:line:column errors,
//! `${VAR}` interpolation, and resolution into the validated [`Scenario`] the runner reads
//! ([`resolve`]). Nothing after `scenario` imports [`raw`].

mod files;
mod hllp;
mod interpolate;
mod interpolating;
mod limits;
mod load;
mod profile;
pub mod raw;
mod receiver;
pub mod resolve;
mod schema;
mod text;
mod through;
mod through_read;
mod validate;

pub use files::{check_pack_file, pack_roots, FileAccess, FileRefused};
pub use hllp::{BlockLimit, ChecksumName, HllpSettingError, HllpSpec, SpanName};
pub use interpolate::{
    interpolate, InterpolateError, Interpolation, VariableRead, UNSET_PLACEHOLDER,
};
pub use limits::{MAX_EXPANDED_TEXT, MAX_NESTING, MAX_SCENARIO_BYTES, MAX_VALUES};
pub use load::{
    from_yaml, load_file, load_file_for, load_packs, load_packs_for, load_text, load_text_for,
    suggest, to_yaml, LoadError, LoadOptions, LoadedScenario, Pack, PackError, ReadError,
    TemplateError, TemplateMessage,
};
pub use profile::load_profile;
pub use raw::{
    AckExpectation, AckOutcome, Auth, BasicAuth, BuiltinSpec, Expect, LoadSpec, Order, Probe,
    ReplyExpectation, Resend, Role, Step, Template, TlsSpec, Transport, Vary,
};
pub use receiver::*;
pub use resolve::{
    Case, FileTarget, HttpListening, Listening, Load, Scenario, Target, TargetTimeouts,
    HTTP_MAX_BODY_BYTES,
};
pub use schema::json_schema;
pub use text::{
    FieldPath, FileRef, Pattern, PatternError, Piece, Placeholders, RenderError, Secret, Span, Text,
};
pub use through::*;
pub use through_read::*;
