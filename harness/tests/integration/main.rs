//! Integration tests: one binary, one module per area. Commands run as the real binary.

mod ack;
mod baseline;
mod cli;
mod corpus;
mod dead_peer;
mod defects;
mod generator;
mod hardening;
mod hostile;
mod http;
mod inputs;
mod junit_schema;
mod load;
mod mllp;
mod names;
mod outbound;
mod properties;
mod proxy;
mod public_corpus;
mod report;
mod run;
mod sender;
mod structures;
mod support;
mod tls;
mod transports;
