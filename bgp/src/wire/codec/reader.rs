//! A bounds-checked byte reader (in the style of rustls' `codec::Reader`): every read
//! returns `None` instead of panicking, `sub(len)` scopes a length-prefixed field, and
//! [`Reader::offset`] says where in the message a fault is.

/// Cursor over a byte slice that remembers its offset within the whole message.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte is at `base` in the message.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Offset of the next byte from the start of the message.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Octets left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Whether every octet was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` octets.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// A reader over the next `n` octets (a length-prefixed field).
    pub(crate) fn sub(&mut self, n: usize) -> Option<Reader<'a>> {
        let base = self.offset();
        self.take(n).map(|buf| Reader::new(buf, base))
    }

    /// All remaining octets.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        out
    }

    /// The next `N` octets as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    /// One octet.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked_and_offsets_track_the_message() {
        let data = [1u8, 2, 3, 4, 5];
        let mut r = Reader::new(&data, 19);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.offset(), 20);
        let mut sub = r.sub(2).unwrap();
        assert_eq!(sub.offset(), 20);
        assert_eq!(sub.u16(), Some(0x0203));
        assert!(sub.is_empty());
        assert_eq!(sub.u8(), None);
        assert_eq!(r.u32(), None, "only 2 octets left");
        assert_eq!(r.remaining(), 2);
        assert!(r.sub(3).is_none());
        assert_eq!(r.take(usize::MAX), None);
        assert_eq!(r.rest(), &[4, 5]);
        assert!(r.is_empty());
    }
}
