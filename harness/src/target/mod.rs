//! The built-in reference endpoint: a correct HL7 receiver that the harness tests itself
//! against, and that users can run as a stand-in for a real system. `responder` decides the
//! acknowledgment of each message by the standard; `client_feed` applies the messages (ADT client
//! feed, MFN professionals) to the state that effect probes read; `journal` keeps every message
//! received; `endpoint` ties them together (`brief_lock` takes its state's lock); `server` runs it on MLLP (`threaded` gives the correct endpoint's plain
//! connections a thread each) and `http` on HL7 over
//! HTTP, with the JSON state endpoint; `profile` is what it declares (its target profile).
//! `engine` is the reference interface engine, a router between a source and destinations.

pub mod basic_auth;
pub mod brief_lock;
pub mod client_feed;
pub mod defect;
pub mod endpoint;
pub mod engine;
pub mod fragile;
pub mod group_commit;
pub mod http;
pub mod journal;
pub mod log;
pub mod plays;
pub mod profile;
pub mod receipts;
pub mod reference_sender;
pub mod resend_key;
pub mod responder;
pub mod sender_defect;
pub mod server;
pub mod threaded;
