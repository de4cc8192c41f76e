//! Transports: the byte framings HL7 v2 travels in (MLLP, HLLP), as pure codecs.
//!
//! The codecs are pure: no sockets, no clocks. Each implements
//! `tokio_util::codec::{Decoder, Encoder}`; `framed` runs any of them over TCP or TLS with a
//! timeout on every wait (`connection` and `hllp_connection` name the MLLP and HLLP kinds);
//! `blocking` runs MLLP on a blocking socket for a server that gives a connection its own
//! thread (with `read_spin`'s short spin before a read sleeps), and `reassembly` holds the decisions both readers share;
//! `target_url` parses where a client sends, `dial` is the one connect (TCP along a route, then
//! TLS) of every client and of the proxy's upstream side, and `client` sends a message and
//! awaits its ACK for every client of the harness. Nothing here imports `runner`, `report` or
//! `cli`.

pub mod accept;
pub mod blocking;
pub mod client;
pub mod connection;
pub mod dial;
pub mod framed;
pub mod hllp;
pub mod hllp_connection;
pub mod http_client;
pub mod http_server;
pub mod media_type;
pub mod mllp;
pub mod read_spin;
mod reassembly;
pub mod target_url;
pub mod tls;
pub mod userinfo;

pub use hllp::{
    BlockType, Checksum, ChecksumSpan, HllpBlock, HllpCodec, HllpError, HllpNote, HllpOptions,
    NakReason, Outgoing,
};
pub use mllp::{Frame, FrameKind, FrameNote, MllpCodec, MllpError, MllpOptions, Tolerance};
