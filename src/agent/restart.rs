//! The restarting speaker's side of graceful restart (RFC 4724 §4.1) in the agent.
//!
//! - [`forwarding_kept`]: whether this start is a restart with forwarding state kept —
//!   tern's routes (its protocol number, in its table) are still in the kernel. Only then does the OPEN carry the Restart State bit and the Forwarding
//!   State bit (a peer keeps our routes through our restart only if we say, truthfully,
//!   that we kept forwarding). A first start, or a start after `--flush-routes-on-exit` or
//!   a reboot, sends neither.
//! - [`sweep_after_end_of_rib`]: the routes a previous run left in the kernel are adopted
//!   by the controller; the ones nobody re-learned are removed once every peer has sent
//!   End-of-RIB for every family of its session and the controller has taken the
//!   re-learned routes (or once the restart time has passed, RFC 4724's selection
//!   deferral), not at a fixed time after start.

use std::collections::HashSet;
use std::time::Duration;

use bgp::speaker::SpeakerHandle;
use controller::{ControllerHandle, NetlinkTable, Route, RouteTable, TableConfig};
use ipnet::IpNet;
use tokio::time::{sleep, Instant};

/// Whether tern's routes (learned routes, block blackholes, workload routes: every route
/// with its protocol number in its table) survived in the kernel; read before the
/// controller starts. Any error reads as "not kept".
pub fn forwarding_kept(table: TableConfig) -> bool {
    let Ok(mut nl) = NetlinkTable::open(table, None, false) else {
        return false;
    };
    let mut n = 0usize;
    let counted = nl.dump(&mut |_: Route| n += 1);
    counted.is_ok() && n > 0
}

/// How often the peers' End-of-RIB state is read.
const POLL: Duration = Duration::from_millis(200);
/// Longest wait, after End-of-RIB, for the controller to take the re-learned routes
/// (a learned route the guard keeps out of the kernel never arrives there).
const SETTLE: Duration = Duration::from_secs(5);

/// Waits until every configured peer is Established and has sent End-of-RIB for every
/// family of its session, or until `max` has passed, then until the controller's desired
/// table holds the Loc-RIB's prefixes and this node's own device routes (endpoint files,
/// restored CNI workloads: `locals` turns true once they are handed over), at most
/// [`SETTLE`], and lets the controller delete the adopted routes nobody wants now.
pub async fn sweep_after_end_of_rib(
    speaker: SpeakerHandle,
    fib: ControllerHandle,
    mut locals: tokio::sync::watch::Receiver<bool>,
    max: Duration,
) {
    let start = Instant::now();
    loop {
        let peers = speaker.peers().await;
        let done = peers.iter().all(|p| {
            p.state == "Established"
                && p.negotiated
                    .as_ref()
                    .is_some_and(|n| n.families.iter().all(|f| p.end_of_rib.contains(f)))
        });
        if done {
            tracing::info!(
                "graceful restart: End-of-RIB from every peer after {:?}",
                start.elapsed()
            );
            break;
        }
        if start.elapsed() >= max {
            tracing::info!("graceful restart: not every peer sent End-of-RIB within {max:?}");
            break;
        }
        sleep(POLL).await;
    }
    let settle = Instant::now();
    // Without this a peer's quick End-of-RIB let the sweep delete the routes to this
    // node's containers before the endpoint files were read (seen in agent_hitless:
    // one ping lost).
    if tokio::time::timeout(SETTLE, locals.wait_for(|r| *r))
        .await
        .is_err()
    {
        tracing::info!("graceful restart: local routes not loaded within {SETTLE:?}");
    }
    loop {
        let rib: HashSet<IpNet> = speaker.route_prefixes().await.into_iter().collect();
        let desired: HashSet<IpNet> = match fib.routes().await {
            Ok(r) => r.into_iter().map(|s| s.route.prefix).collect(),
            Err(_) => return,
        };
        if rib.is_subset(&desired) || settle.elapsed() >= SETTLE {
            break;
        }
        sleep(POLL).await;
    }
    match fib.allow_deletes().await {
        Ok(()) => tracing::info!(
            "graceful restart: sweeping routes of the previous run that nobody re-advertised"
        ),
        Err(e) => tracing::warn!("graceful restart sweep: {e}"),
    }
}
