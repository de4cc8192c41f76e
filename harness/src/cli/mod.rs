//! The command line: clap derive types (raw flags) here, one module per command that turns them
//! into library calls and output. `main.rs` only calls [`main`].

mod client_args;
mod command;
mod completions;
mod diff;
mod engine;
mod generate;
mod hllp_args;
mod input;
mod inspect;
mod keygen;
mod load;
mod man;
mod profile;
mod profile_pack;
mod proxy;
pub mod reference;
mod report;
mod run;
mod schema;
mod schema_markdown;
mod seed;
mod send;
mod serve;
mod validate;

pub use command::{exit, main, Cli, Command};
pub use input::InputError;
