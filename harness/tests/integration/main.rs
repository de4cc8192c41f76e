//! Integration tests: one binary, one module per area. Commands run as the real binary.

mod ack;
mod cli;
mod corpus;
mod defects;
mod generator;
mod hostile;
mod http;
mod mllp;
mod names;
mod properties;
mod public_corpus;
mod report;
mod run;
mod sender;
mod structures;
mod support;
mod tls;
mod transports;
