//! The harness's vocabulary: small types every layer shares (durations as written, seeds,
//! control ids, check ids, connection events). Nothing here does I/O or imports another module
//! of the crate.

mod connection_event;
mod duration;
mod ids;
mod span;

pub use connection_event::ConnectionEvent;
pub use duration::parse_duration;
pub use ids::{CheckId, ControlId, Seed};
pub use span::Span;
