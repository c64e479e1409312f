//! `kind: List` (and `NetworkPolicyList`, …) documents, as `kubectl get -o yaml` writes
//! them: each block-style item of `items` becomes a document of its own whose text keeps
//! the item's columns (the `- ` blanked) and starts at the item's line, so every error
//! inside an item is located in the file as for any other document. Each line of the
//! list goes to one item at most: the work is linear in the file.

use config::yaml::{Location, Positions};

use super::Piece;

/// The items of a list document, or where an item cannot be read and why.
pub(super) fn items(
    piece: &Piece,
    positions: &Positions,
) -> Vec<Result<Piece, (Location, String)>> {
    let lines: Vec<&str> = piece.text.lines().collect();
    let mut out = Vec::new();
    for i in 0.. {
        let path = format!("items[{i}]");
        let Some(pos) = positions.get(&path) else {
            break;
        };
        let (line, column) = (pos.value.line, pos.value.column);
        let first = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
        let head: String = first.chars().skip(column.saturating_sub(1)).collect();
        if head.starts_with('{') || head.starts_with('[') || !head.contains(':') {
            out.push(Err((
                pos.value,
                format!(
                    "{path}: each item must be a mapping in block style (as kubectl writes it)"
                ),
            )));
            continue;
        }
        let indent = column.saturating_sub(1);
        let mut text = " ".repeat(indent);
        text.push_str(&head);
        text.push('\n');
        for l in lines.iter().skip(line) {
            let t = l.trim_start();
            let own = l.len() - t.len();
            if !t.is_empty() && !t.starts_with('#') && own < indent {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        out.push(Ok(Piece {
            text,
            first_line: piece.first_line + line.saturating_sub(1),
        }));
    }
    out
}
