//! Switching pools' tunnel modes while the agent runs: a reload whose node file changes a
//! pool's `ipipMode` / `vxlanMode` ([`Switch::set_file`]), or in etcd mode an IPPool
//! whose mode changes ([`Switch::follow_pools`]), moves the routes without a restart.
//!
//! The order keeps packets flowing: a device a mode now needs is made first (an error —
//! a kernel without the module — refuses the switch and changes nothing); then the
//! routes task re-derives the next hops of the pools' routes ([`OverlayUpdate`]) and the
//! controller replaces them in the kernel (`via HOST` ⇄ `via HOST dev tern.… onlink`,
//! one replace per route, no gap) and `tern.vxlan`'s per-host entries are written at
//! once; only after the kernel has them is a device that no pool uses any more deleted. BGP is not involved: sessions stay up, routes are
//! neither withdrawn nor re-advertised.

use std::sync::Arc;

use config::node::PoolOverlay;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use super::overlay::{pool_modes, Devices, Overlay};

/// New tunnel modes for the routes task; `done` is answered once the changed routes
/// are in the kernel.
#[derive(Debug)]
pub struct OverlayUpdate {
    /// The modes from now on.
    pub overlay: Overlay,
    /// Answered when the routes have moved.
    pub done: oneshot::Sender<()>,
}

#[derive(Debug)]
struct State {
    devices: Devices,
    /// The node file's pool modes.
    file: Vec<PoolOverlay>,
    /// The datastore's IPPools (etcd mode), whose modes apply to the pools the file
    /// gives none.
    items: Option<Arc<cluster::Items>>,
    current: Overlay,
    routes: mpsc::Sender<OverlayUpdate>,
}

/// The handle that changes the modes in force (cheap to clone).
#[derive(Debug, Clone)]
pub struct Switch {
    state: Arc<Mutex<State>>,
}

impl Switch {
    /// The switch for modes `current` (made by `overlay::setup` with `devices`), of
    /// which `file` came from the node file (the rest from IPPools in etcd mode).
    pub fn new(
        devices: Devices,
        current: Overlay,
        file: Vec<PoolOverlay>,
        routes: mpsc::Sender<OverlayUpdate>,
    ) -> Switch {
        Switch {
            state: Arc::new(Mutex::new(State {
                devices,
                file,
                items: None,
                current,
                routes,
            })),
        }
    }

    /// The node file's pool modes changed (a reload): applies them with the datastore's.
    /// Returns what changed in words, or why nothing did.
    pub async fn set_file(&self, pools: Vec<PoolOverlay>) -> Result<String, String> {
        let mut s = self.state.lock().await;
        let all = effective(&pools, s.items.as_deref());
        let said = apply(&mut s, &all).await?;
        s.file = pools;
        Ok(said)
    }

    /// etcd mode: follows the IPPools' modes until the reflector stops; a switch that
    /// fails is logged and leaves the previous modes in force (retried on the next
    /// change of the pools).
    pub async fn follow_pools(self, mut pools: watch::Receiver<Arc<store::Snapshot>>) {
        loop {
            let items = pools.borrow_and_update().items.clone();
            {
                let mut s = self.state.lock().await;
                let all = effective(&s.file, Some(&items));
                s.items = Some(items);
                if Overlay::from_pools(&all) != s.current {
                    match apply(&mut s, &all).await {
                        Ok(said) => tracing::info!("IPPool tunnel modes applied: {said}"),
                        Err(e) => tracing::error!("IPPool tunnel modes not applied: {e}"),
                    }
                }
            }
            if pools.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The file's modes and those of the IPPools (for the pools the file gives none).
fn effective(file: &[PoolOverlay], items: Option<&cluster::Items>) -> Vec<PoolOverlay> {
    let mut all = file.to_vec();
    if let Some(items) = items {
        all.extend(pool_modes(items, file));
    }
    all
}

/// Moves to the modes of `pools`; see the module's order.
async fn apply(s: &mut State, pools: &[PoolOverlay]) -> Result<String, String> {
    let new = Overlay::from_pools(pools);
    if new == s.current {
        return Ok("tunnel modes unchanged".into());
    }
    let devs = [controller::IPIP_DEVICE, controller::VXLAN_DEVICE];
    let mut made = Vec::new();
    for dev in devs {
        if new.uses(dev) && !s.current.uses(dev) {
            if let Err(e) = s.devices.make(dev, pools) {
                // Nothing stays half-done: devices made for this switch go again.
                for d in made {
                    remove(&mut s.devices, d);
                }
                s.devices.set_workload_mtu();
                return Err(format!("{e} (nothing was changed)"));
            }
            made.push(dev);
        }
    }
    s.devices.set_workload_mtu();
    let (done, moved) = oneshot::channel();
    let update = OverlayUpdate {
        overlay: new.clone(),
        done,
    };
    if s.routes.send(update).await.is_err() || moved.await.is_err() {
        return Err("the routes task is not running".into());
    }
    if new.uses(controller::VXLAN_DEVICE) {
        // The new routes' VTEP entries now, not at the next periodic pass.
        match tokio::task::spawn_blocking(controller::sync_vteps).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("tern.vxlan entries: {e}"),
            Err(e) => tracing::warn!("tern.vxlan entries: {e}"),
        }
    }
    let mut removed = Vec::new();
    for dev in devs {
        if s.current.uses(dev) && !new.uses(dev) {
            remove(&mut s.devices, dev);
            removed.push(dev);
        }
    }
    s.devices.set_workload_mtu();
    s.current = new;
    let modes: Vec<String> = pools
        .iter()
        .map(|p| format!("{} ipipMode {} vxlanMode {}", p.cidr, p.ipip, p.vxlan))
        .collect();
    let mut said = format!("tunnel modes now [{}]", modes.join(", "));
    if !made.is_empty() {
        said.push_str(&format!("; created {}", made.join(" ")));
    }
    if !removed.is_empty() {
        said.push_str(&format!("; removed {}", removed.join(" ")));
    }
    Ok(said)
}

fn remove(devices: &mut Devices, dev: &'static str) {
    devices.forget(dev);
    match controller::delete_tunnel(dev) {
        Ok(_) => tracing::info!("{dev} removed: no pool uses it"),
        Err(e) => tracing::warn!("removing {dev}: {e}"),
    }
}
