//! One module per subcommand; each owns its clap arguments and its `run`.

pub mod agent;
pub mod config;
pub mod datastore;
pub mod decode;
pub mod endpoints;
pub mod fib;
pub mod policy;
pub mod reload;
pub mod shell;
pub mod status;

/// Exit code for a runtime failure.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code for bad input (config, policy, malformed messages).
pub const EXIT_BAD_INPUT: u8 = 2;
