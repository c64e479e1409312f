//! The property the `control_request` fuzz target checks, shared with the corpus replay
//! in the agent's control socket tests (`src/agent/control_tests.rs`).
//!
//! Any bytes as one request line of the control socket (as the server reads it: at
//! most `max` bytes, UTF-8, the line's newline kept): parsing never panics; an error is
//! a `bad request: …` message for the client; a parsed request serializes and parses
//! back to the same request (what the CLI sends is what the agent reads).

use std::fmt::Debug;

/// Runs one input through `parse` (the agent's request-line parser); returns whether it
/// parsed. Generic so that it compiles both inside the agent and in the fuzz crate,
/// which builds the agent's protocol modules from their sources.
pub fn check<R, P>(data: &[u8], max: usize, parse: P) -> bool
where
    R: serde::Serialize + PartialEq + Debug,
    P: Fn(&str) -> Result<R, String>,
{
    // The server reads at most `max` bytes up to a newline; longer lines are refused
    // before parsing, invalid UTF-8 closes the connection.
    let line = match data.iter().position(|b| *b == b'\n') {
        Some(i) => &data[..=i],
        None => data,
    };
    if line.len() > max {
        return false;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return false;
    };
    match parse(text) {
        Ok(req) => {
            let again = serde_json::to_string(&req).expect("a request serializes");
            let back = parse(&again).unwrap_or_else(|e| panic!("{again} does not parse back: {e}"));
            assert_eq!(back, req, "round trip of {text:?} through {again}");
            true
        }
        Err(e) => {
            assert!(e.starts_with("bad request"), "{e}");
            false
        }
    }
}
