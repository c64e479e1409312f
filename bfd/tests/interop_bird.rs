//! tern's BFD driver against BIRD 2 (`protocol bfd` with a `neighbor`) across a bridge:
//! the session comes Up on both sides; the bridge silently drops BFD (links stay up) and
//! our side goes Down with diag 1 (Control Detection Time Expired) after about
//! interval × multiplier, BIRD shows Down too; the drop goes and both are Up again.

mod common;

use std::time::{Duration, Instant};

use bfd::{AuthKey, BfdEvent, Diag, PeerKey, SessionParams, State};
use common::*;
use testlab::bird::start_bird;
use testlab::wait_for;

fn bird_conf(neighbor: &str) -> String {
    bird_conf_auth(neighbor, "")
}

/// `auth` goes inside the interface block, e.g. `authentication keyed sha1; password "x";`.
fn bird_conf_auth(neighbor: &str, auth: &str) -> String {
    format!(
        "router id 10.77.0.2;\nlog stderr all;\nprotocol device {{ scan time 2; }}\n\
         protocol bfd {{\n  interface \"eth0\" {{ interval 100 ms; multiplier 3; {auth} }};\n  \
         neighbor {neighbor};\n}}\n"
    )
}

fn key_of(peer: &str, local: &str) -> PeerKey {
    PeerKey {
        peer: ip(peer),
        local: ip(local),
        ifindex: None,
    }
}

fn silent_drop_against_bird(name: &str, ours: &str, theirs: &str) {
    let mut f = Fabric::new(name);
    let bird = start_bird(&mut f.lab, &f.d.clone(), "bird", &bird_conf(ours));
    let drv = NsDriver::start(&f.t, 0x5eed);
    let key = PeerKey {
        peer: ip(theirs),
        local: ip(ours),
        ifindex: None,
    };
    let params = SessionParams::new(Duration::from_millis(100), 3);
    drv.call(drv.handle.add_peer(key, params))
        .expect("add peer");

    drv.wait_event("up", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "BIRD session Up", || {
        (bird_bfd_state(&bird, ours).as_deref() == Some("Up")).then_some(())
    });
    // Up with the negotiated 100 ms both ways once the poll sequences are over.
    wait_for(TIMEOUT, "negotiated 100 ms x 3", || {
        let s = drv.status().session;
        (!s.polling && s.detection_time == Some(Duration::from_millis(300))).then_some(())
    });
    let s = drv.status().session;
    assert_eq!(s.tx_interval, Some(Duration::from_millis(100)));
    assert_eq!(s.remote_detect_mult, 3);

    let cut = Instant::now();
    f.cut_bfd();
    let (at, ev) = drv.wait_event("down", |e| matches!(e, BfdEvent::Down { .. }));
    let took = at - cut;
    assert_eq!(
        ev,
        BfdEvent::Down {
            peer: key,
            diag: Diag::ControlDetectionTimeExpired,
            remote_state: State::Up
        }
    );
    eprintln!(
        "{name}: our side down {} ms after the cut (100 ms x 3)",
        took.as_millis()
    );
    wait_for(TIMEOUT, "BIRD session Down", || {
        (bird_bfd_state(&bird, ours).as_deref() == Some("Down")).then_some(())
    });
    assert!(f.ping_ok(theirs), "the link itself still forwards");
    let s = drv.status().session;
    assert_eq!(
        (s.state, s.local_diag),
        (State::Down, Diag::ControlDetectionTimeExpired)
    );
    assert_eq!(s.remote_discr, 0, "forgotten after a detection time");

    f.heal_bfd();
    drv.wait_event("up again", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "BIRD session Up again", || {
        (bird_bfd_state(&bird, ours).as_deref() == Some("Up")).then_some(())
    });
    let s = drv.status().session;
    assert_eq!((s.up_transitions, s.down_transitions), (2, 1));
    let c = drv.call(drv.handle.counters()).expect("counters");
    assert_eq!(c.bad_ttl + c.malformed, 0, "{c:?}");
}

#[test]
fn bird_ipv4_up_silent_drop_down_and_back() {
    silent_drop_against_bird("bfd-bird4", T4, D4);
}

#[test]
fn bird_ipv6_up_silent_drop_down_and_back() {
    silent_drop_against_bird("bfd-bird6", T6, D6);
}

#[test]
fn bird_keyed_sha1_and_meticulous_come_up_a_wrong_key_does_not() {
    let mut f = Fabric::new("bfd-birdsha");
    let d = f.d.clone();
    let auth = |kind: &str| format!("authentication {kind}; password \"tern-secret\" {{ id 7; }};");
    let bird = start_bird(
        &mut f.lab,
        &d,
        "bird",
        &bird_conf_auth(T4, &auth("keyed sha1")),
    );
    let drv = NsDriver::start(&f.t, 0x5a1);
    let k = key_of(D4, T4);
    let secret = |s: &[u8], meticulous| AuthKey {
        key_id: 7,
        secret: s.to_vec(),
        meticulous,
    };
    let p = SessionParams::new(Duration::from_millis(100), 3);

    // Wrong secret: every packet is refused, nobody comes up.
    drv.call(
        drv.handle
            .add_peer(k, p.clone().with_auth(secret(b"not-it", false))),
    )
    .expect("add");
    wait_for(TIMEOUT, "refused packets", || {
        let s = drv.status().session;
        (s.packets_dropped >= 3).then_some(())
    });
    assert_ne!(drv.status().session.state, State::Up);
    assert_eq!(drv.status().session.packets_in, 0);
    assert_ne!(bird_bfd_state(&bird, T4).as_deref(), Some("Up"));

    // The right secret: Up on both sides; then the same with Meticulous Keyed SHA1.
    assert!(drv
        .call(
            drv.handle
                .set_params(k, p.clone().with_auth(secret(b"tern-secret", false)))
        )
        .expect("params"));
    drv.wait_event("up with keyed sha1", |e| matches!(e, BfdEvent::Up { .. }));
    wait_for(TIMEOUT, "BIRD Up with keyed sha1", || {
        (bird_bfd_state(&bird, T4).as_deref() == Some("Up")).then_some(())
    });

    assert!(drv.call(drv.handle.remove_peer(k)).expect("remove"));
    bird.reconfigure(&bird_conf_auth(T4, &auth("meticulous keyed sha1")));
    drv.call(
        drv.handle
            .add_peer(k, p.with_auth(secret(b"tern-secret", true))),
    )
    .expect("add meticulous");
    drv.wait_event("up with meticulous keyed sha1", |e| {
        matches!(e, BfdEvent::Up { .. })
    });
    wait_for(TIMEOUT, "BIRD Up with meticulous keyed sha1", || {
        (bird_bfd_state(&bird, T4).as_deref() == Some("Up")).then_some(())
    });
    // Steady for a while: no refused packet (every sequence number in the window).
    let before = drv.status().session.packets_in;
    wait_for(TIMEOUT, "20 more packets", || {
        (drv.status().session.packets_in >= before + 20).then_some(())
    });
    let s = drv.status().session;
    assert_eq!((s.state, s.packets_dropped), (State::Up, 0));
}
