//! AS path decoding in 2- and 4-octet form and the RFC 6793 §4.2.3 merge of AS4_PATH
//! into the AS_PATH received on a 2-octet session.

use crate::wire::attributes::{AsList, AsPath, AsSegment, AsSegmentKind, SegmentList};

/// Decodes an AS_PATH/AS4_PATH value; `Err` is the RFC 7606 §7.2 reason it is malformed
/// (unrecognised segment type, zero-length segment, overrun, a dangling octet).
pub(crate) fn decode_as_path(value: &[u8], four_octet: bool) -> Result<AsPath, &'static str> {
    let size = if four_octet { 4 } else { 2 };
    let mut segments = SegmentList::new();
    let mut i = 0usize;
    while i < value.len() {
        let (Some(&kind), Some(&count)) = (value.get(i), value.get(i + 1)) else {
            return Err("AS_PATH segment header truncated");
        };
        let kind = AsSegmentKind::from_code(kind).ok_or("unrecognised AS_PATH segment type")?;
        if count == 0 {
            return Err("AS_PATH segment of length zero");
        }
        let n = usize::from(count) * size;
        let body = value
            .get(i + 2..i + 2 + n)
            .ok_or("AS_PATH segment runs past the attribute")?;
        let asns: AsList = if four_octet {
            body.chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            body.chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect()
        };
        segments.push(AsSegment { kind, asns });
        i += 2 + n;
    }
    Ok(AsPath { segments })
}

/// Octets of `path` on the wire with `size`-octet AS numbers (segments over 255 ASes
/// are split).
pub(crate) fn encoded_len(path: &AsPath, size: usize) -> usize {
    path.segments
        .iter()
        .map(|s| {
            let chunks = s.asns.len().div_ceil(255).max(1);
            chunks * 2 + s.asns.len() * size
        })
        .sum()
}

/// The path a NEW speaker reconstructs from AS_PATH and AS4_PATH (RFC 6793 §4.2.3):
/// if AS_PATH holds fewer ASes than AS4_PATH, AS4_PATH is ignored; otherwise the
/// leading ASes of AS_PATH that AS4_PATH lacks (and leading confederation segments,
/// which count 0) are kept, followed by AS4_PATH.
pub(crate) fn merge(as_path: &AsPath, as4_path: &AsPath) -> AsPath {
    let (len, len4) = (as_path.length(), as4_path.length());
    if len < len4 {
        return as_path.clone();
    }
    let mut need = len - len4;
    let mut out = SegmentList::with_capacity(as_path.segments.len() + as4_path.segments.len());
    for seg in &as_path.segments {
        match seg.kind {
            AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => out.push(seg.clone()),
            AsSegmentKind::Set if need >= 1 => {
                out.push(seg.clone());
                need -= 1;
            }
            AsSegmentKind::Sequence if need > 0 => {
                let take = need.min(seg.asns.len());
                out.push(AsSegment {
                    kind: seg.kind,
                    asns: seg.asns.iter().take(take).copied().collect(),
                });
                need -= take;
                if take < seg.asns.len() {
                    break;
                }
            }
            _ => break,
        }
    }
    // Join the kept head and AS4_PATH's first segment when both are sequences (they
    // were one segment on the wire); AS4_PATH's own segments stay as they are.
    let mut tail = as4_path.segments.iter();
    if let (Some(last), Some(first)) = (out.last_mut(), as4_path.segments.first()) {
        let joinable = last.kind == AsSegmentKind::Sequence
            && first.kind == AsSegmentKind::Sequence
            && last.asns.len() + first.asns.len() <= 255;
        if joinable {
            last.asns.extend_from_slice(&first.asns);
            tail.next();
        }
    }
    out.extend(tail.cloned());
    AsPath { segments: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsSegment {
        AsSegment {
            kind: AsSegmentKind::Sequence,
            asns: asns.into(),
        }
    }

    #[test]
    fn rfc6793_merge_replaces_as_trans_with_the_real_ases() {
        // An OLD speaker 65001 prepended itself to a path whose tail came from NEW speakers.
        let as_path = AsPath {
            segments: vec![seq(&[65001, 23456, 23456, 65003])].into(),
        };
        let as4 = AsPath {
            segments: vec![seq(&[4200000001, 4200000002, 65003])].into(),
        };
        let merged = merge(&as_path, &as4);
        assert_eq!(
            merged.segments[..],
            [seq(&[65001, 4200000001, 4200000002, 65003])]
        );
    }

    #[test]
    fn as4_path_longer_than_as_path_is_ignored() {
        let as_path = AsPath {
            segments: vec![seq(&[23456])].into(),
        };
        let as4 = AsPath {
            segments: vec![seq(&[4200000001, 4200000002])].into(),
        };
        assert_eq!(merge(&as_path, &as4), as_path);
    }

    #[test]
    fn leading_confed_segments_and_sets_are_kept() {
        let confed = AsSegment {
            kind: AsSegmentKind::ConfedSequence,
            asns: vec![64512].into(),
        };
        let set = AsSegment {
            kind: AsSegmentKind::Set,
            asns: vec![1, 2].into(),
        };
        let as_path = AsPath {
            segments: vec![confed.clone(), set.clone(), seq(&[23456])].into(),
        };
        let as4 = AsPath {
            segments: vec![seq(&[4200000001])].into(),
        };
        assert_eq!(
            merge(&as_path, &as4).segments[..],
            [confed, set, seq(&[4200000001])]
        );
    }

    #[test]
    fn malformed_paths_are_rejected() {
        assert!(
            decode_as_path(&[2, 0], true).is_err(),
            "zero-length segment"
        );
        assert!(
            decode_as_path(&[5, 1, 0, 1], false).is_err(),
            "segment type 5"
        );
        assert!(decode_as_path(&[2, 2, 0, 1], false).is_err(), "overrun");
        assert!(
            decode_as_path(&[2, 1, 0, 1, 2], false).is_err(),
            "dangling octet"
        );
        assert_eq!(decode_as_path(&[], true).unwrap(), AsPath::default());
    }
}
