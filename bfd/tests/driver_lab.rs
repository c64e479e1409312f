//! Two tern drivers in two lab namespaces, and hand-made packets sent from inside the
//! lab: sessions come Up with source ports in 49152–65535; packets with a TTL below 255,
//! malformed packets and packets for no session are counted and change nothing;
//! a timer change runs a Poll Sequence end to end; `remove_peer` tells the neighbour
//! AdminDown.

mod common;

use std::fs::File;
use std::net::UdpSocket;
use std::time::Duration;

use bfd::driver::SOURCE_PORTS;
use bfd::{BfdEvent, ControlPacket, Diag, PeerKey, SessionParams, State};
use common::*;
use testlab::{wait_for, Netns};

/// Sends `bytes` from `from` (port chosen by the kernel) to `to`:3784 with `ttl`, from a
/// thread inside `ns`.
fn send_from(ns: &Netns, from: &str, to: &str, ttl: u32, bytes: Vec<u8>) {
    let path = format!("/run/netns/{}", ns.name());
    let (from, to) = (from.to_string(), to.to_string());
    std::thread::spawn(move || {
        let f = File::open(&path).expect("open netns");
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let s = UdpSocket::bind((from.as_str(), 0)).expect("bind");
        s.set_ttl(ttl).expect("ttl");
        s.send_to(&bytes, (to.as_str(), 3784)).expect("send");
    })
    .join()
    .expect("sender thread");
}

fn down_packet(my: u32) -> ControlPacket {
    ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: my,
        your_discr: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

fn key(peer: &str, local: &str) -> PeerKey {
    PeerKey {
        peer: ip(peer),
        local: ip(local),
        ifindex: None,
    }
}

#[test]
fn ttl_below_255_malformed_and_unknown_packets_are_dropped() {
    let f = Fabric::new("bfd-gtsm");
    let drv = NsDriver::start(&f.t, 7);
    let params = SessionParams::new(Duration::from_millis(100), 3);
    drv.call(drv.handle.add_peer(key(D4, T4), params))
        .expect("add");
    let counters = || drv.call(drv.handle.counters()).expect("counters");

    // One router hop away (TTL 254): dropped before any session sees it.
    send_from(&f.d, D4, T4, 254, down_packet(0xabc).encode());
    wait_for(TIMEOUT, "bad TTL counted", || {
        (counters().bad_ttl == 1).then_some(())
    });
    // Garbage with TTL 255.
    send_from(&f.d, D4, T4, 255, vec![0x20, 0x40, 0x03]);
    wait_for(TIMEOUT, "malformed counted", || {
        (counters().malformed == 1).then_some(())
    });
    // A valid packet naming a discriminator this driver never gave out.
    send_from(&f.d, D4, T4, 255, {
        let mut p = down_packet(0xabc);
        p.your_discr = 0x1234_5678;
        p.state = State::Init;
        p.encode()
    });
    wait_for(TIMEOUT, "unknown session counted", || {
        (counters().no_session == 1).then_some(())
    });
    let s = drv.status();
    assert_eq!((s.session.state, s.session.packets_in), (State::Down, 0));
    assert!(
        (SOURCE_PORTS.0..=SOURCE_PORTS.1).contains(&s.source_port),
        "{}",
        s.source_port
    );

    // The same Down packet with TTL 255 is taken: the session answers with Init.
    send_from(&f.d, D4, T4, 255, down_packet(0xabc).encode());
    wait_for(TIMEOUT, "session Init", || {
        let s = drv.status().session;
        (s.state == State::Init && s.remote_discr == 0xabc).then_some(())
    });
    assert_eq!(counters().bad_ttl, 1);
}

#[test]
fn two_drivers_poll_sequence_and_remove_peer_signals_admin_down() {
    let f = Fabric::new("bfd-pair");
    let a = NsDriver::start(&f.t, 1);
    let b = NsDriver::start(&f.d, 2);
    let p100 = SessionParams::new(Duration::from_millis(100), 3);
    let (ka, kb) = (key(D6, T6), key(T6, D6));
    a.call(a.handle.add_peer(ka, p100.clone())).expect("add a");
    b.call(b.handle.add_peer(kb, p100.clone())).expect("add b");
    a.wait_event("a up", |e| matches!(e, BfdEvent::Up { .. }));
    b.wait_event("b up", |e| matches!(e, BfdEvent::Up { .. }));

    // b slows to 250 ms x 5: a's detection time follows through the poll sequence.
    let slow = SessionParams::new(Duration::from_millis(250), 5);
    assert!(b.call(b.handle.set_params(kb, slow)).expect("params"));
    wait_for(TIMEOUT, "a detects b after 5 x 250 ms", || {
        let s = a.status().session;
        (s.detection_time == Some(Duration::from_millis(1250))).then_some(())
    });
    wait_for(TIMEOUT, "b's poll sequence ended", || {
        let s = b.status().session;
        (!s.polling && s.tx_interval == Some(Duration::from_millis(250))).then_some(())
    });
    assert_eq!(
        a.status().session.tx_interval,
        Some(Duration::from_millis(250))
    );
    assert_eq!(a.status().session.state, State::Up);

    // Removing the peer on b says AdminDown: a goes down with diag 3, remote AdminDown.
    assert!(b.call(b.handle.remove_peer(kb)).expect("remove"));
    let (_, ev) = a.wait_event("a down", |e| matches!(e, BfdEvent::Down { .. }));
    assert_eq!(
        ev,
        BfdEvent::Down {
            peer: ka,
            diag: Diag::NeighborSignaledSessionDown,
            remote_state: State::AdminDown
        }
    );
    assert!(b.call(b.handle.status()).expect("status").is_empty());
    assert!(!b.call(b.handle.remove_peer(kb)).expect("remove again"));
    assert!(matches!(
        a.call(a.handle.add_peer(ka, p100)),
        Err(bfd::DriverError::Exists(_))
    ));
}

fn ifindex(ns: &Netns, ifname: &str) -> u32 {
    ns.ok(&["cat", &format!("/sys/class/net/{ifname}/ifindex")])
        .trim()
        .parse()
        .expect("ifindex")
}

#[test]
fn ipv6_link_local_sessions_need_and_use_the_interface() {
    let f = Fabric::new("bfd-ll");
    for (ns, addr) in [(&f.t, "fe80::a/64"), (&f.d, "fe80::b/64")] {
        ns.ok(&["ip", "-6", "addr", "add", addr, "dev", "eth0", "nodad"]);
    }
    let (it, id) = (ifindex(&f.t, "eth0"), ifindex(&f.d, "eth0"));
    let a = NsDriver::start(&f.t, 11);
    let b = NsDriver::start(&f.d, 12);
    let p = SessionParams::new(Duration::from_millis(100), 3);
    let ka = PeerKey {
        peer: ip("fe80::b"),
        local: ip("fe80::a"),
        ifindex: Some(it),
    };
    let kb = PeerKey {
        peer: ip("fe80::a"),
        local: ip("fe80::b"),
        ifindex: Some(id),
    };
    // Without the interface a link-local source cannot be bound: a clear error.
    let no_if = PeerKey {
        ifindex: None,
        ..ka
    };
    assert!(matches!(
        a.call(a.handle.add_peer(no_if, p.clone())),
        Err(bfd::DriverError::Source { .. })
    ));
    assert!(a.call(a.handle.status()).expect("status").is_empty());
    a.call(a.handle.add_peer(ka, p.clone())).expect("add a");
    b.call(b.handle.add_peer(kb, p)).expect("add b");
    a.wait_event("a up", |e| *e == BfdEvent::Up { peer: ka });
    b.wait_event("b up", |e| *e == BfdEvent::Up { peer: kb });
    f.cut_bfd();
    let (_, ev) = a.wait_event("a down", |e| matches!(e, BfdEvent::Down { .. }));
    assert!(matches!(
        ev,
        BfdEvent::Down {
            diag: Diag::ControlDetectionTimeExpired,
            ..
        }
    ));
    f.heal_bfd();
    a.wait_event("a up again", |e| *e == BfdEvent::Up { peer: ka });
}
