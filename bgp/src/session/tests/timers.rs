//! Hold timer, keepalive cadence and ConnectRetry back-off on the virtual clock.

use super::*;

#[test]
fn hold_timer_expires_without_sleeping() {
    let mut sim = established_pair(IBGP);
    sim.mute.push((1, 0)); // node 1 goes silent towards node 0
    sim.run_for(Duration::from_secs(89));
    assert_eq!(sim.state(0, 1), State::Established);
    sim.run_for(Duration::from_secs(2));
    assert_ne!(sim.state(0, 1), State::Established);
    assert_eq!(
        sim.notifications(0, 1).first().map(|n| n.error),
        Some(ErrorCode::HoldTimerExpired(0))
    );
    assert!(sim
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Down(0, 1, r) if r.contains("hold-timer-expired"))));
    // The peer learns it from the NOTIFICATION.
    assert!(sim
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Down(1, 0, r) if r.contains("received"))));
}

#[test]
fn keepalives_every_third_of_hold_time_and_none_with_hold_zero() {
    let mut sim = established_pair(IBGP);
    let before = count_keepalives(&sim, 0, 1);
    sim.run_for(Duration::from_secs(300));
    assert_eq!(count_keepalives(&sim, 0, 1) - before, 10);
    assert_eq!(sim.state(0, 1), State::Established);

    let mut sim = pair(IBGP);
    for (n, p) in [(0, 1), (1, 0)] {
        let mut c = cfg(n, p, IBGP);
        c.hold_time = Duration::ZERO;
        sim.add_session(n, p, c);
    }
    sim.start(0, 1);
    sim.start(1, 0);
    assert_eq!(sim.state(0, 1), State::Established);
    let before = count_keepalives(&sim, 0, 1);
    assert_eq!(before, 1, "only the KEEPALIVE that confirms the OPEN");
    sim.run_for(Duration::from_secs(3600));
    assert_eq!(count_keepalives(&sim, 0, 1), before);
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(sim.session(0, 1).poll_timeout(), None);
}

#[test]
fn sending_updates_postpones_keepalives() {
    let mut sim = established_pair(IBGP);
    let before = count_keepalives(&sim, 0, 1);
    sim.run_for(Duration::from_secs(20));
    let now = sim.now;
    sim.session_mut(0, 1).update_sent(now);
    // The KEEPALIVE due at 30 s moved to 50 s.
    sim.run_for(Duration::from_secs(29));
    assert_eq!(count_keepalives(&sim, 0, 1), before);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(count_keepalives(&sim, 0, 1), before + 1);
}

fn retry_gaps(seed: u64) -> Vec<Duration> {
    let mut sim = pair(IBGP);
    let mut c = cfg(0, 1, IBGP);
    c.jitter_seed = seed;
    sim.add_session(0, 1, c);
    sim.start(0, 1); // node 1 is not started: connections are refused
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.state(0, 1), State::Active);
    let times: Vec<Instant> = sim.connects.iter().map(|c| c.2).collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn connect_retry_backs_off_exponentially_with_jitter() {
    let gaps = retry_gaps(1);
    assert!(gaps.len() >= 8, "{gaps:?}");
    let base = Duration::from_secs(5);
    for (i, gap) in gaps.iter().enumerate() {
        let full = base * (1 << i.min(4));
        assert!(
            *gap <= full && *gap >= full.mul_f64(0.75),
            "attempt {i}: gap {gap:?} outside [0.75, 1] × {full:?}"
        );
    }
    assert_eq!(gaps, retry_gaps(1), "same seed, same schedule");
    assert_ne!(gaps, retry_gaps(2), "another seed, another schedule");
}

#[test]
fn back_off_resets_once_established() {
    let mut sim = pair(IBGP);
    sim.start(0, 1);
    sim.run_for(Duration::from_secs(100));
    assert!(sim.session(0, 1).failures() >= 3);
    sim.start(1, 0);
    assert_eq!(sim.state(0, 1), State::Established);
    assert_eq!(sim.session(0, 1).failures(), 0);
}
