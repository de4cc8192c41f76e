//! Transports: the byte framings HL7 v2 travels in (MLLP, HLLP), as pure codecs.
//!
//! Pure: no sockets, no clocks. Each codec implements `tokio_util::codec::{Decoder, Encoder}` so
//! the socket layer can run it under `Framed`. Nothing here imports `runner`, `report` or `cli`.

pub mod hllp;
pub mod mllp;

pub use hllp::{
    BlockType, Checksum, ChecksumSpan, HllpBlock, HllpCodec, HllpError, HllpNote, HllpOptions,
    NakReason, Outgoing,
};
pub use mllp::{Frame, FrameKind, FrameNote, MllpCodec, MllpError, MllpOptions, Tolerance};
