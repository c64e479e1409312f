//! `tern bgp decode`: raw BGP messages on stdin → one JSON object per line.
use std::process::ExitCode;

/// Arguments of `tern bgp decode`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input is hex text (whitespace ignored) instead of raw bytes.
    #[arg(long)]
    pub hex: bool,
    /// Decode AS numbers as 2 octets (4-octet AS not negotiated).
    #[arg(long)]
    pub as2: bool,
    /// ADD-PATH path identifiers were negotiated (receive) for IPv4/IPv6 unicast.
    #[arg(long)]
    pub add_path: bool,
}

/// Runs `tern bgp decode`.
pub fn run(_args: Args) -> ExitCode {
    super::not_built("tern bgp decode")
}
