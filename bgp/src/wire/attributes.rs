//! Path attributes (RFC 4271 §5 and extensions): the interned attribute set
//! [`PathAttributes`], and MP_REACH_NLRI / MP_UNREACH_NLRI ([`MpReach`], [`MpUnreach`]),
//! which are kept apart so that an attribute set never contains NLRI.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use smallvec::SmallVec;

use super::family::AddressFamily;
use super::nlri::Nlri;

/// Path attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271, RFC 6793).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: some speaker on the path did not recognise this optional transitive attribute.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the length field is 2 octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// ORIGIN attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// 0: learned from an interior gateway protocol.
    Igp,
    /// 1: learned via EGP.
    Egp,
    /// 2: learned some other way (e.g. redistributed).
    Incomplete,
}

impl Origin {
    /// The lower-case name used in JSON output ("igp", "egp", "incomplete").
    pub fn name(self) -> &'static str {
        match self {
            Self::Igp => "igp",
            Self::Egp => "egp",
            Self::Incomplete => "incomplete",
        }
    }
}

/// The path attributes of a route, without its NLRI: what the RIB interns and shares
/// between all the prefixes announced with it. `Clone + Eq + Hash`.
///
/// Optional attributes are `Option`s or empty lists when absent (RFC 7606 makes an
/// empty COMMUNITIES, CLUSTER_LIST, EXTENDED_COMMUNITIES or LARGE_COMMUNITY malformed,
/// so an empty list always means "absent"). After a successful decode of an UPDATE that
/// announces routes, `origin` and `as_path` are `Some`, and `next_hop` is `Some` when
/// IPv4 NLRI are in the NLRI field (otherwise the UPDATE is treat-as-withdraw).
/// AS4_PATH and AS4_AGGREGATOR never appear here: the decoder merges them (RFC 6793
/// §4.2.3) and the encoder regenerates them for 2-octet sessions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Option<Origin>,
    /// AS_PATH with 4-octet AS numbers.
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (IPv4 NLRI in the UPDATE's NLRI field).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (4-octet AS).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES, in received order.
    pub communities: CommunityList,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456), first entry most recent.
    pub cluster_list: Vec<Ipv4Addr>,
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub extended_communities: Vec<ExtendedCommunity>,
    /// LARGE_COMMUNITY (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// Attributes this codec does not model (including MP_REACH/MP_UNREACH of families
    /// whose NLRI it does not decode), in received order.
    pub unknown: Vec<RawAttribute>,
}

impl PathAttributes {
    /// The attribute set to pass on to another peer: unrecognised optional transitive
    /// attributes get the Partial bit, unrecognised non-transitive ones are dropped
    /// (RFC 4271 §9.1.2 / §5).
    pub fn for_readvertise(&self) -> PathAttributes {
        let mut out = self.clone();
        out.unknown = self
            .unknown
            .iter()
            .filter_map(RawAttribute::for_readvertise)
            .collect();
        out
    }
}

/// A path attribute kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Attribute flags (Optional, Transitive, Partial); the Extended Length bit and the
    /// unused low bits are cleared, the encoder sets Extended Length as the length needs.
    pub flags: u8,
    /// Attribute type code.
    pub type_code: u8,
    /// Attribute value.
    pub value: Bytes,
}

impl RawAttribute {
    /// Whether the Optional bit is set.
    pub fn is_optional(&self) -> bool {
        self.flags & flags::OPTIONAL != 0
    }
    /// Whether the Transitive bit is set.
    pub fn is_transitive(&self) -> bool {
        self.flags & flags::TRANSITIVE != 0
    }
    /// Whether the Partial bit is set.
    pub fn is_partial(&self) -> bool {
        self.flags & flags::PARTIAL != 0
    }

    /// This unrecognised attribute as passed on to another peer: optional transitive
    /// ones get the Partial bit set; optional non-transitive ones are not passed on
    /// (`None`); well-known ones (cannot be unrecognised after decode) are kept as is.
    pub fn for_readvertise(&self) -> Option<RawAttribute> {
        match (self.is_optional(), self.is_transitive()) {
            (true, true) => Some(RawAttribute {
                flags: self.flags | flags::PARTIAL,
                ..self.clone()
            }),
            (true, false) => None,
            (false, _) => Some(self.clone()),
        }
    }
}

/// AS_PATH segment type (RFC 4271 §4.3, RFC 5065).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AsSegmentKind {
    /// 1: unordered set of ASes.
    Set,
    /// 2: ordered sequence of ASes.
    Sequence,
    /// 3: confederation sequence (RFC 5065).
    ConfedSequence,
    /// 4: confederation set (RFC 5065).
    ConfedSet,
}

impl AsSegmentKind {
    /// The segment type code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Set => 1,
            Self::Sequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }

    /// The segment kind for a wire code (`None` for an unrecognised segment type).
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Set),
            2 => Some(Self::Sequence),
            3 => Some(Self::ConfedSequence),
            4 => Some(Self::ConfedSet),
            _ => None,
        }
    }

    /// JSON/log name: "set", "sequence", "confed-sequence", "confed-set".
    pub fn name(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::Sequence => "sequence",
            Self::ConfedSequence => "confed-sequence",
            Self::ConfedSet => "confed-set",
        }
    }

    /// Whether this is a confederation segment.
    pub fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

/// The AS numbers of one segment: up to six are kept inline (no allocation per
/// decoded UPDATE for the usual path; the list is 8 octets bigger than a `Vec`).
pub type AsList = SmallVec<[u32; 6]>;

/// The segments of one path: the usual single AS_SEQUENCE is kept inline.
pub type SegmentList = SmallVec<[AsSegment; 1]>;

/// COMMUNITIES values: up to four are kept inline, in the size of a `Vec`.
pub type CommunityList = SmallVec<[Community; 4]>;

/// One AS_PATH segment. On the wire a segment holds 1..=255 ASes; longer sequences
/// are split by the encoder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: AsSegmentKind,
    /// AS numbers, 4-octet.
    pub asns: AsList,
}

/// AS_PATH with 4-octet AS numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments, leftmost (most recently prepended) first.
    pub segments: SegmentList,
}

impl AsPath {
    /// A path made of one AS_SEQUENCE (empty path when `asns` is empty).
    pub fn sequence(asns: impl Into<Vec<u32>>) -> Self {
        let asns = asns.into();
        if asns.is_empty() {
            return Self::default();
        }
        let mut segments = SegmentList::new();
        segments.push(AsSegment {
            kind: AsSegmentKind::Sequence,
            asns: AsList::from_vec(asns),
        });
        Self { segments }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2 a, RFC 5065 §5.3):
    /// each AS in a sequence counts 1, a set counts 1, confederation segments count 0.
    pub fn length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                AsSegmentKind::Sequence => s.asns.len(),
                AsSegmentKind::Set => 1,
                AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// Whether `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Prepends `asn` as an eBGP speaker does (RFC 4271 §5.1.2): into the leading
    /// AS_SEQUENCE if it has room, else as a new leading AS_SEQUENCE.
    pub fn prepend(&mut self, asn: u32) {
        match self.segments.first_mut() {
            Some(seg) if seg.kind == AsSegmentKind::Sequence && seg.asns.len() < 255 => {
                seg.asns.insert(0, asn)
            }
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: AsSegmentKind::Sequence,
                    asns: smallvec::smallvec![asn],
                },
            ),
        }
    }

    /// The neighbouring AS: the first AS of a leading AS_SEQUENCE (RFC 4271 §9.1.2.2 c
    /// compares MED only between routes whose first AS matches). Confederation
    /// segments are skipped.
    pub fn first_asn(&self) -> Option<u32> {
        let seg = self.segments.iter().find(|s| !s.kind.is_confed())?;
        match seg.kind {
            AsSegmentKind::Sequence => seg.asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: the last AS of a trailing AS_SEQUENCE.
    pub fn origin_asn(&self) -> Option<u32> {
        let seg = self.segments.last()?;
        match seg.kind {
            AsSegmentKind::Sequence => seg.asns.last().copied(),
            _ => None,
        }
    }

    /// Whether the path has no segments.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }
}

impl std::fmt::Display for AsPath {
    /// BIRD-like text: `65001 65002 {65003 65004} (65010)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for seg in &self.segments {
            let (open, close) = match seg.kind {
                AsSegmentKind::Sequence => ("", ""),
                AsSegmentKind::Set => ("{", "}"),
                AsSegmentKind::ConfedSequence => ("(", ")"),
                AsSegmentKind::ConfedSet => ("[", "]"),
            };
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(open)?;
            for (i, asn) in seg.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{asn}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// AGGREGATOR (with a 4-octet AS; merged with AS4_AGGREGATOR on 2-octet sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// AS of the speaker that formed the aggregate.
    pub asn: u32,
    /// Its BGP Identifier.
    pub address: Ipv4Addr,
}

/// A COMMUNITIES value (RFC 1997): high 16 bits AS, low 16 bits local value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// NOPEER (RFC 3765).
    pub const NO_PEER: Community = Community(0xFFFF_FF04);

    /// A community from its AS and local value.
    pub const fn new(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }

    /// The high 16 bits.
    pub fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low 16 bits.
    pub fn value(self) -> u16 {
        self.0 as u16
    }

    /// The well-known name ("no-export", …), if this is a well-known community.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Self::GRACEFUL_SHUTDOWN => "graceful-shutdown",
            Self::ACCEPT_OWN => "accept-own",
            Self::LLGR_STALE => "llgr-stale",
            Self::NO_LLGR => "no-llgr",
            Self::BLACKHOLE => "blackhole",
            Self::NO_EXPORT => "no-export",
            Self::NO_ADVERTISE => "no-advertise",
            Self::NO_EXPORT_SUBCONFED => "no-export-subconfed",
            Self::NO_PEER => "no-peer",
            _ => return None,
        })
    }
}

impl std::fmt::Display for Community {
    /// `65000:100`, or the well-known name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.well_known_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}:{}", self.asn(), self.value()),
        }
    }
}

/// An EXTENDED_COMMUNITIES value (RFC 4360): 8 octets, type, subtype and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// Type high octet (with the IANA-authority and transitive bits).
    pub fn type_high(self) -> u8 {
        self.0[0]
    }
    /// Subtype (low type octet) for the types that have one.
    pub fn subtype(self) -> u8 {
        self.0[1]
    }
    /// Whether the community is transitive across ASes (bit 0x40 of the type clear).
    pub fn is_transitive(self) -> bool {
        self.0[0] & 0x40 == 0
    }

    /// A route target in the 2-octet-AS-specific form (type 0x00, subtype 0x02).
    pub fn route_target(asn: u16, value: u32) -> Self {
        let [a, b] = asn.to_be_bytes();
        let [c, d, e, g] = value.to_be_bytes();
        Self([0x00, 0x02, a, b, c, d, e, g])
    }
}

impl std::fmt::Display for ExtendedCommunity {
    /// `rt:65000:100` / `ro:…` for route targets and route origins in the 2-octet AS,
    /// IPv4-address and 4-octet AS forms; otherwise `0x` and 16 hex digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        let kind = match b[1] {
            0x02 => Some("rt"),
            0x03 => Some("ro"),
            _ => None,
        };
        match (b[0] & 0x3f, kind) {
            (0x00, Some(k)) => write!(
                f,
                "{k}:{}:{}",
                u16::from_be_bytes([b[2], b[3]]),
                u32::from_be_bytes([b[4], b[5], b[6], b[7]])
            ),
            (0x01, Some(k)) => write!(
                f,
                "{k}:{}:{}",
                Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                u16::from_be_bytes([b[6], b[7]])
            ),
            (0x02, Some(k)) => write!(
                f,
                "{k}:{}:{}",
                u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                u16::from_be_bytes([b[6], b[7]])
            ),
            _ => write!(f, "0x{:016x}", u64::from_be_bytes(b)),
        }
    }
}

/// A LARGE_COMMUNITY value (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global Administrator (an AS number).
    pub global_admin: u32,
    /// Local Data Part 1.
    pub local_data1: u32,
    /// Local Data Part 2.
    pub local_data2: u32,
}

impl std::fmt::Display for LargeCommunity {
    /// `65000:1:2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// Next hop of MP_REACH_NLRI: a global address plus, for IPv6, an optional link-local
/// one (RFC 2545 §3; RFC 8950 for IPv4 NLRI over an IPv6 next hop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpNextHop {
    /// Global next hop (IPv4 for a 4-octet next hop, IPv6 for 16 or 32 octets).
    pub global: IpAddr,
    /// Link-local IPv6 next hop (the second half of a 32-octet next hop).
    pub link_local: Option<Ipv6Addr>,
}

/// MP_REACH_NLRI for a family whose NLRI this codec decodes (IPv4/IPv6 unicast or
/// multicast). Other families stay in [`PathAttributes::unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// AFI/SAFI of the NLRI.
    pub family: AddressFamily,
    /// Next hop for all the NLRI.
    pub next_hop: MpNextHop,
    /// Announced prefixes.
    pub nlri: Vec<Nlri>,
}

/// MP_UNREACH_NLRI for a family whose NLRI this codec decodes. An empty `withdrawn`
/// list in an otherwise empty UPDATE is that family's End-of-RIB marker (RFC 4724 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// AFI/SAFI of the NLRI.
    pub family: AddressFamily,
    /// Withdrawn prefixes.
    pub withdrawn: Vec<Nlri>,
}
