//! The event socket: route changes of the namespace as they happen, and interfaces
//! coming back up (the kernel deletes IPv4 routes, and nexthop objects with their
//! routes, when an interface goes down, without a route event).

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use rtnetlink::sys::Socket;

use super::{codec, NetlinkTable, RECV_BUF};
use crate::reconcile::RouteEvent;
use crate::table::TableError;

const RTM_DELLINK: u16 = 17;
const IFF_UP: u32 = 0x1;

/// Whether reading events emptied the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRead {
    /// Nothing more to read for now.
    Drained,
    /// Stopped after the requested maximum; call again.
    More,
    /// The kernel dropped events (ENOBUFS): only a full reconcile is safe now. The events
    /// still queued were read and discarded (the reconcile covers them); `drained` says
    /// whether the socket is empty.
    Overrun {
        /// Nothing more to read for now.
        drained: bool,
    },
}

/// The non-blocking socket subscribed to IPv4 and IPv6 route events and to link events
/// of the namespace.
pub struct EventSocket {
    sock: Socket,
    buf: Vec<u8>,
    links: LinkWatch,
}

/// Interfaces going down and coming back up.
#[derive(Debug, Default)]
struct LinkWatch {
    /// Seen going down (administratively) and not up again yet.
    down: HashSet<u32>,
    /// One of them came back up since the last [`EventSocket::take_links_up`].
    came_up: bool,
}

impl LinkWatch {
    /// Track administrative up/down from an RTM_NEWLINK/RTM_DELLINK (struct ifinfomsg:
    /// family, pad, type, index, flags, change; `change` has the flags that changed).
    fn event(&mut self, ty: u16, payload: &[u8]) {
        let word = |at| codec::ne_u32(payload, at);
        let (Some(index), Some(flags), Some(change)) = (word(4), word(8), word(12)) else {
            return;
        };
        if ty == RTM_DELLINK {
            self.down.remove(&index);
        } else if change == u32::MAX {
            // A new interface (the kernel says "everything changed"): not a transition.
        } else if change & IFF_UP != 0 {
            if flags & IFF_UP == 0 {
                self.down.insert(index);
            } else if self.down.remove(&index) {
                self.came_up = true;
            }
        }
    }
}

impl AsRawFd for EventSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl EventSocket {
    pub(super) fn new(sock: Socket) -> Self {
        EventSocket {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
            links: LinkWatch::default(),
        }
    }

    /// Whether an interface that went down came back up since the last call: the routes
    /// the kernel deleted with it are worth a reconcile. A new interface coming up for
    /// the first time (a container's veth) does not count.
    pub fn take_links_up(&mut self) -> bool {
        std::mem::take(&mut self.links.came_up)
    }

    /// Read pending route events about our routes into `out` (at most about `max`
    /// messages); `table` names the interfaces.
    pub fn read(
        &mut self,
        table: &mut NetlinkTable,
        out: &mut Vec<RouteEvent>,
        max: usize,
    ) -> Result<EventRead, TableError> {
        let mut unknown_ifindex = false;
        let mut n = 0;
        let mut drained = false;
        let mut overrun = false;
        while n < max {
            self.buf.clear();
            match self.sock.recv(&mut self.buf, libc::MSG_DONTWAIT) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Events were lost; what is queued is now only worth discarding.
                    overrun = true;
                    out.clear();
                    continue;
                }
                Err(e) => {
                    return Err(TableError::Io {
                        what: "recv events",
                        source: e,
                    })
                }
            }
            for m in codec::messages(&self.buf) {
                let m = m?;
                n += 1;
                if overrun {
                    continue;
                }
                let new = match m.ty {
                    codec::RTM_NEWROUTE => true,
                    codec::RTM_DELROUTE => false,
                    codec::RTM_NEWLINK | RTM_DELLINK => {
                        self.links.event(m.ty, m.payload);
                        continue;
                    }
                    _ => continue,
                };
                let links = &table.links;
                let mut name_of = |i: u32| {
                    links.name(i).unwrap_or_else(|| {
                        unknown_ifindex = true;
                        format!("if{i}")
                    })
                };
                let objects = &table.nh;
                let mut object = |id: u32| {
                    objects.hops(id, &mut |i| {
                        links.name(i).unwrap_or_else(|| format!("if{i}"))
                    })
                };
                let parsed = codec::parse_route(m.payload, &table.cfg, &mut name_of, &mut object)?;
                if let Some(r) = parsed {
                    out.push(if new {
                        RouteEvent::New(r)
                    } else {
                        RouteEvent::Del(r)
                    });
                }
            }
        }
        let result = match (overrun, drained) {
            (true, d) => EventRead::Overrun { drained: d },
            (false, true) => EventRead::Drained,
            (false, false) => EventRead::More,
        };
        if unknown_ifindex {
            // A new interface: learn its name for the next events and dumps.
            table.refresh_links()?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// struct ifinfomsg as the kernel sends it to a link listener. The flags and change
    /// words of the first three events below were captured on 6.18 (`ip link add d2 type
    /// veth peer ...`, `ip link set d2 up`, the carrier coming up); the rest follow them.
    fn ifinfo(index: u32, flags: u32, change: u32) -> Vec<u8> {
        let mut b = vec![0, 0, 1, 0];
        for w in [index, flags, change] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b
    }

    #[test]
    fn only_an_interface_that_went_down_counts_when_it_comes_up() {
        let mut w = LinkWatch::default();
        w.event(codec::RTM_NEWLINK, &ifinfo(3, 0x1002, u32::MAX)); // created, down
        w.event(codec::RTM_NEWLINK, &ifinfo(3, 0x1003, 0x1)); // set up
        w.event(codec::RTM_NEWLINK, &ifinfo(3, 0x11043, 0)); // carrier
        assert!(!std::mem::take(&mut w.came_up), "a new interface coming up");
        w.event(codec::RTM_NEWLINK, &ifinfo(3, 0x1002, 0x1)); // set down
        w.event(codec::RTM_NEWLINK, &ifinfo(3, 0x1003, 0x1)); // set up again
        assert!(std::mem::take(&mut w.came_up));
        w.event(codec::RTM_NEWLINK, &ifinfo(4, 0x1002, 0x1));
        w.event(RTM_DELLINK, &ifinfo(4, 0x1002, u32::MAX));
        w.event(codec::RTM_NEWLINK, &ifinfo(4, 0x1003, 0x1)); // another interface, same index
        assert!(!w.came_up, "deleted meanwhile");
        w.event(codec::RTM_NEWLINK, &[0; 8]); // short: ignored
        assert!(w.down.is_empty());
    }
}
