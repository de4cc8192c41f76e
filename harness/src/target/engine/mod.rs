//! The reference interface engine (`hl7-harness engine ROUTES.yaml`): a small router to test the
//! through role against. It receives HL7 v2 over MLLP (or HTTP: `http_input`), applies the
//! declared mappings of every route that takes the message type, journals the input and
//! forwards each output to its destinations (MLLP, HLLP or HTTP), with its own queue and
//! retries per destination. Defect switches
//! ([`defect::EngineDefect`]) turn known engine bugs on, one at a time.
//!
//! # Semantics
//!
//! - **Accept.** An input that a route takes is mapped (every route, every destination), then
//!   journaled (`inbox.journal`, synced) and only then queued and answered AA (CA in enhanced
//!   mode, MSH-15/16 valued: the engine's answer is an accept acknowledgment, a commitment to
//!   deliver). A mapping that fails is answered AE (CE), nothing kept. A destination queue at its
//!   `max_queue`, or a journal write that fails, is answered AR (CE): nothing kept, the source
//!   sends it again (HL7 v2.5.1 ch. 2, 2.9.2: AR for reasons unrelated to the content).
//! - **Filter.** An input no route takes is answered AA (CA): filtering is the engine doing its
//!   job, and a NAK would make the source resend it forever. Nothing is journaled or forwarded.
//!   Bytes that are not an HL7 message get no answer (there is no MSH to address one to).
//! - **Forward.** One forwarder per destination sends its outputs one at a time in the order
//!   they were accepted, waits for the ACK whose MSA-2 is the output's MSH-10
//!   (`transport::client`), and takes the next only when it is AA or CA. No ACK within
//!   `ack_timeout`, a close, a reset or a refused connect closes the connection and sends the
//!   same bytes (same MSH-10) again after `backoff`, doubled up to `backoff_max`. A negative
//!   ACK listed in `retry_on` (default AR and CE: the receiver was down or could not store) is
//!   retried the same way; any other (AE, CR: the content itself is refused, the same bytes would
//!   fail again) gives the output up ("dead"). `retries: N` gives up after N resends;
//!   `unlimited` (the default) never does.
//! - **Journal.** `outcomes.journal` records each output delivered or given up
//!   (`delivered|dead SEQ N DEST`). On start every journaled input is mapped again and each
//!   output not closed there is queued again, so nothing acknowledged is lost across a restart;
//!   an output accepted by the destination just before a crash, before its outcome was written,
//!   is sent again with the same MSH-10 (at least once; a destination dedups by MSH-10).
//! - **MSH-10.** `control_id: keep` (default) forwards the input's MSH-10; `control_id: engine`
//!   writes `E<seq>.<n>` (input sequence, output number), the same on every resend and after a
//!   restart. Either way a resend carries the MSH-10 of the first send.
//! - **Bounds.** Input frames up to `limits.max_frame_bytes` (1 MiB), idle input connections
//!   closed after `limits.idle_timeout`; a queue holds at most `max_queue` outputs on the accept
//!   path (a restart queues whatever the journal holds open). Inputs whose every output is
//!   closed are dropped from both journals (`compact`) at start and after every 1,024 closed,
//!   so the files hold what is still open rather than everything ever accepted.
//!
//! `routes` reads the file, `mapping` applies mappings (pure), `core` accepts and journals,
//! `forward` queues and sends (`forward_hllp` over HLLP), `compact` keeps the journals small,
//! `serve` runs it (`http_input`: its HTTP input); `defect` holds the switches.

pub mod compact;
pub mod core;
pub mod defect;
pub mod forward;
pub mod forward_hllp;
pub mod http_input;
pub mod mapping;
pub mod routes;
pub mod serve;

pub use self::core::{Engine, EngineCounts, EngineError, Verdict};
pub use self::defect::{EngineDefect, EngineDefects};
pub use self::routes::{read_routes, Routes};
pub use self::serve::run_engine;
