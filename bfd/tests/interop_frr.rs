//! tern's BFD driver against FRR's bfdd (run standalone, without zebra) across a bridge:
//! Up on both sides; a silent drop of BFD on the bridge takes our side Down with diag 1
//! within about interval × multiplier and bfdd sees Down too; healed, both come Up; a
//! `shutdown` of the peer in bfdd reaches us as Down with remote state AdminDown.

mod common;

use std::time::{Duration, Instant};

use bfd::{BfdEvent, Diag, PeerKey, SessionParams, State};
use common::*;
use testlab::wait_for;

fn bfdd_conf(peer: &str, local: &str) -> String {
    format!(
        "bfd\n peer {peer} local-address {local}\n  receive-interval 100\n  \
         transmit-interval 100\n  detect-multiplier 3\n !\n!\n"
    )
}

fn bfdd_state(b: &Bfdd, peer: &str) -> String {
    b.peer_state(peer).map(|s| s.0).unwrap_or_default()
}

#[test]
fn frr_bfdd_up_silent_drop_down_back_and_admin_down() {
    let mut f = Fabric::new("bfd-frr");
    let d = f.d.clone();
    let bfdd = Bfdd::start(&mut f.lab, &d, &bfdd_conf(T4, D4));
    let drv = NsDriver::start(&f.t, 0xf22);
    let key = PeerKey {
        peer: ip(D4),
        local: ip(T4),
        ifindex: None,
    };
    let params = SessionParams::new(Duration::from_millis(100), 3);
    drv.call(drv.handle.add_peer(key, params))
        .expect("add peer");

    drv.wait_event("up", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "bfdd session up", || {
        (bfdd_state(&bfdd, T4) == "up").then_some(())
    });
    wait_for(TIMEOUT, "negotiated 100 ms x 3", || {
        let s = drv.status().session;
        (!s.polling && s.detection_time == Some(Duration::from_millis(300))).then_some(())
    });

    let cut = Instant::now();
    f.cut_bfd();
    let (at, ev) = drv.wait_event("down", |e| matches!(e, BfdEvent::Down { .. }));
    assert_eq!(
        ev,
        BfdEvent::Down {
            peer: key,
            diag: Diag::ControlDetectionTimeExpired,
            remote_state: State::Up
        }
    );
    eprintln!(
        "bfd-frr: our side down {} ms after the cut (100 ms x 3)",
        (at - cut).as_millis()
    );
    wait_for(TIMEOUT, "bfdd session down", || {
        let (st, diag) = bfdd.peer_state(T4)?;
        (st == "down").then_some(diag)
    });
    assert!(f.ping_ok(D4), "the link itself still forwards");

    f.heal_bfd();
    drv.wait_event("up again", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "bfdd session up again", || {
        (bfdd_state(&bfdd, T4) == "up").then_some(())
    });

    // The operator shuts the peer down in FRR: we hear AdminDown (diag 3, remote
    // AdminDown: a client keeps its BGP session, RFC 5882 §3.2).
    let peer_cmd = format!("peer {T4} local-address {D4}");
    bfdd.vtysh(&["configure terminal", "bfd", &peer_cmd, "shutdown"]);
    let (_, ev) = drv.wait_event("admin down", |e| matches!(e, BfdEvent::Down { .. }));
    assert_eq!(
        ev,
        BfdEvent::Down {
            peer: key,
            diag: Diag::NeighborSignaledSessionDown,
            remote_state: State::AdminDown
        }
    );
    bfdd.vtysh(&["configure terminal", "bfd", &peer_cmd, "no shutdown"]);
    drv.wait_event("up after no shutdown", |e| matches!(e, BfdEvent::Up { .. }));
    let s = drv.status().session;
    assert_eq!((s.up_transitions, s.down_transitions), (3, 2));
}

#[test]
fn frr_bfdd_ipv6_up_silent_drop_down_and_back() {
    let mut f = Fabric::new("bfd-frr6");
    let d = f.d.clone();
    let bfdd = Bfdd::start(&mut f.lab, &d, &bfdd_conf(T6, D6));
    let drv = NsDriver::start(&f.t, 0xf66);
    let key = PeerKey {
        peer: ip(D6),
        local: ip(T6),
        ifindex: None,
    };
    drv.call(
        drv.handle
            .add_peer(key, SessionParams::new(Duration::from_millis(100), 3)),
    )
    .expect("add peer");
    drv.wait_event("up", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "bfdd session up", || {
        (bfdd_state(&bfdd, T6) == "up").then_some(())
    });
    wait_for(TIMEOUT, "negotiated 100 ms x 3", || {
        let s = drv.status().session;
        (!s.polling && s.detection_time == Some(Duration::from_millis(300))).then_some(())
    });
    let cut = Instant::now();
    f.cut_bfd();
    let (at, ev) = drv.wait_event("down", |e| matches!(e, BfdEvent::Down { .. }));
    assert!(matches!(
        ev,
        BfdEvent::Down {
            diag: Diag::ControlDetectionTimeExpired,
            ..
        }
    ));
    eprintln!(
        "bfd-frr6: our side down {} ms after the cut (100 ms x 3)",
        (at - cut).as_millis()
    );
    wait_for(TIMEOUT, "bfdd session down", || {
        (bfdd_state(&bfdd, T6) == "down").then_some(())
    });
    f.heal_bfd();
    drv.wait_event("up again", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "bfdd session up again", || {
        (bfdd_state(&bfdd, T6) == "up").then_some(())
    });
}
