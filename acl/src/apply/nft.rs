//! nftables apply: check, then one atomic `nft -f -` transaction.

use super::{ApplyError, ApplyMode, Exec};
use crate::render::nft::{diff_transaction, full_transaction, NftRuleset, TABLE};

fn transact(ex: &Exec, script: &str, check: bool) -> Result<(), ApplyError> {
    if check {
        ex.run("nft", &["-c", "-f", "-"], Some(script))?;
    }
    ex.run("nft", &["-f", "-"], Some(script))?;
    Ok(())
}

/// Turns the kernel's tern table from `prev` (what this process applied last) into
/// `next`. When the incremental transaction is refused (the table was changed or removed
/// behind tern's back), falls back to a full replacement.
pub(super) fn apply(
    ex: &Exec,
    prev: Option<&NftRuleset>,
    next: &NftRuleset,
    check: bool,
) -> Result<ApplyMode, ApplyError> {
    if let Some(p) = prev {
        if p == next {
            return Ok(ApplyMode::Unchanged);
        }
        if let Some(script) = diff_transaction(p, next) {
            match transact(ex, &script, check) {
                Ok(()) => return Ok(ApplyMode::Incremental),
                Err(e) => {
                    tracing::warn!(error = %e, "incremental nft transaction refused; replacing the table")
                }
            }
        }
    }
    transact(ex, &full_transaction(next), check)?;
    Ok(ApplyMode::Full)
}

/// Deletes `table inet tern` if it exists.
pub(super) fn flush(ex: &Exec) -> Result<(), ApplyError> {
    ex.run(
        "nft",
        &["-f", "-"],
        Some(&format!("table {TABLE}\ndelete table {TABLE}\n")),
    )?;
    Ok(())
}
