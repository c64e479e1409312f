//! The session timers of the running speaker against a raw peer (bytes through
//! `bgp::wire`) with a 3 s hold time: while the peer's KEEPALIVEs keep pushing the
//! speaker's hold timer later, the speaker still sends its own KEEPALIVEs; when the
//! peer falls silent, the hold timer expires — not before 3 s (RFC 4271 §4.4, §6.5).
//! The speaker keeps one timer for all sessions and lets it go off early when the
//! earliest deadline moves later; this is what that must not break.

mod speaker_common;

use std::time::{Duration, Instant};

use bgp::speaker::Speaker;
use bgp::wire::codec::{decode_message, encode_message};
use bgp::wire::{DecodeContext, EncodeContext, ErrorCode, Message};
use bytes::BytesMut;
use speaker_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn bytes_of(m: &Message) -> BytesMut {
    let mut b = BytesMut::new();
    encode_message(m, &EncodeContext::default(), &mut b).expect("encode");
    b
}

#[test]
fn keepalives_go_out_and_the_hold_timer_expires_while_the_peer_moves_it() {
    let (_lab, ns) = lab_with_loopback("spk-timers", &["10.0.0.1/32", "10.0.0.2/32"]);
    in_netns(&ns, || async move {
        let mut p = passive(peer("10.0.0.2", 65001, "10.0.0.1"));
        p.hold_time = Duration::from_secs(3);
        let (speaker, _changes) = Speaker::start(speaker(64512, "10.0.0.1", p, &[]))
            .await
            .expect("speaker");

        // OPEN with a 3 s hold time and KEEPALIVE; the speaker's OPEN read.
        let (mut rd, mut wr, buf) =
            feeder_session_with_hold(65001, "10.0.0.2", "10.0.0.1", false, 3).await;

        // What the speaker sends, with when it arrived, until it closes.
        let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Message)>();
        tokio::spawn(async move {
            let mut buf = buf;
            loop {
                while let Ok((m, used)) = decode_message(&buf, &DecodeContext::default()) {
                    let _ = buf.split_to(used);
                    let _ = tx.send((Instant::now(), m));
                }
                match rd.read_buf(&mut buf).await {
                    Ok(n) if n > 0 => {}
                    _ => return,
                }
            }
        });
        established(&speaker, "the raw peer's session").await;

        // 4 s of KEEPALIVEs every 400 ms: each restarts the speaker's hold timer.
        let moving = Instant::now();
        for _ in 0..10 {
            wr.write_all(&bytes_of(&Message::Keepalive))
                .await
                .expect("KEEPALIVE");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let last = Instant::now();
        wr.write_all(&bytes_of(&Message::Keepalive))
            .await
            .expect("KEEPALIVE");

        // Then silence, until the speaker gives up on us.
        let mut keepalives = 0;
        let notification = loop {
            let next = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
            let Ok(Some((at, m))) = next else {
                panic!("no NOTIFICATION within 30 s of silence ({keepalives} KEEPALIVEs)");
            };
            match m {
                Message::Keepalive if at > moving && at <= last => keepalives += 1,
                Message::Notification(n) => break (at, n),
                _ => {}
            }
        };
        let (at, n) = notification;
        assert_eq!(n.error, ErrorCode::HoldTimerExpired(0), "{n:?}");
        let silent = at.duration_since(last);
        assert!(
            silent >= Duration::from_millis(2900),
            "the hold timer expired {silent:?} after the peer's last message (hold time 3 s)"
        );
        // One every second (a third of the hold time) for 4 s; at least two however
        // slow the machine.
        assert!(
            keepalives >= 2,
            "{keepalives} KEEPALIVEs from the speaker in 4 s"
        );
        speaker.shutdown().await;
    });
}
