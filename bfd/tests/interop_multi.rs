//! One driver, three sessions at once: BIRD, FRR bfdd and another tern driver on one
//! bridge. All come Up; BFD to and from the FRR host alone is dropped on the bridge: only
//! that session goes Down (diag 1), the other two stay Up and keep counting packets; healed,
//! it comes back.

mod common;

use std::time::Duration;

use bfd::{BfdEvent, Diag, PeerKey, SessionParams, State};
use common::*;
use testlab::bird::start_bird;
use testlab::wait_for;

const F4: &str = "10.77.0.3";
const U4: &str = "10.77.0.4";

fn key(peer: &str) -> PeerKey {
    PeerKey {
        peer: ip(peer),
        local: ip(T4),
        ifindex: None,
    }
}

#[test]
fn three_sessions_one_cut_only_that_one_goes_down() {
    let mut f = Fabric::new("bfd-multi");
    let frr_ns = f.add_host("f", &["10.77.0.3/24"]);
    let other_ns = f.add_host("u", &["10.77.0.4/24"]);
    let d = f.d.clone();
    let bird_conf = format!(
        "router id 10.77.0.2;\nlog stderr all;\nprotocol device {{ scan time 2; }}\n\
         protocol bfd {{\n  interface \"eth0\" {{ interval 100 ms; multiplier 3; }};\n  \
         neighbor {T4};\n}}\n"
    );
    let bird = start_bird(&mut f.lab, &d, "bird", &bird_conf);
    let bfdd = Bfdd::start(
        &mut f.lab,
        &frr_ns,
        &format!(
            "bfd\n peer {T4} local-address {F4}\n  receive-interval 100\n  \
             transmit-interval 100\n !\n!\n"
        ),
    );
    let other = NsDriver::start(&other_ns, 99);
    let p = SessionParams::new(Duration::from_millis(100), 3);
    other
        .call(other.handle.add_peer(
            PeerKey {
                peer: ip(T4),
                local: ip(U4),
                ifindex: None,
            },
            p.clone(),
        ))
        .expect("add on the other tern");

    let drv = NsDriver::start(&f.t, 3);
    for peer in [D4, F4, U4] {
        drv.call(drv.handle.add_peer(key(peer), p.clone()))
            .expect("add");
    }
    let all_up = || {
        let st = drv.call(drv.handle.status()).expect("status");
        st.iter()
            .all(|s| s.session.state == State::Up)
            .then_some(st)
    };
    let st = wait_for(TIMEOUT, "three sessions Up", all_up);
    assert_eq!(st.len(), 3);
    let mut discrs: Vec<u32> = st.iter().map(|s| s.session.local_discr).collect();
    discrs.sort();
    discrs.dedup();
    assert_eq!(discrs.len(), 3, "distinct discriminators");
    wait_for(TIMEOUT, "BIRD Up", || {
        (bird_bfd_state(&bird, T4).as_deref() == Some("Up")).then_some(())
    });
    wait_for(TIMEOUT, "bfdd up", || {
        (bfdd.peer_state(T4)?.0 == "up").then_some(())
    });

    f.cut_bfd_of(F4);
    let (_, ev) = drv.wait_event("FRR session down", |e| matches!(e, BfdEvent::Down { .. }));
    assert_eq!(
        ev,
        BfdEvent::Down {
            peer: key(F4),
            diag: Diag::ControlDetectionTimeExpired,
            remote_state: State::Up
        }
    );
    // The others stay Up and keep hearing their neighbours for a few detection times.
    let heard = |st: &[bfd::SessionStatus], peer: &str| {
        st.iter()
            .find(|s| s.peer == key(peer))
            .map(|s| (s.session.state, s.session.packets_in))
            .expect("session")
    };
    let before = drv.call(drv.handle.status()).expect("status");
    wait_for(
        TIMEOUT,
        "20 more packets from BIRD and the other tern",
        || {
            let now = drv.call(drv.handle.status()).expect("status");
            (heard(&now, D4).1 >= heard(&before, D4).1 + 20
                && heard(&now, U4).1 >= heard(&before, U4).1 + 20)
                .then_some(())
        },
    );
    let now = drv.call(drv.handle.status()).expect("status");
    assert_eq!(heard(&now, D4).0, State::Up);
    assert_eq!(heard(&now, U4).0, State::Up);
    assert_eq!(heard(&now, F4).0, State::Down);
    assert!(
        drv.events.try_iter().all(|(_, e)| e.peer() == key(F4)),
        "no event for the other sessions"
    );

    f.sw.ok(&["nft", "delete", "table", "bridge", "bfdcut1"]);
    wait_for(TIMEOUT, "all Up again", all_up);
}
