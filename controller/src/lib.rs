//! The kernel FIB side of tern: a desired table of routes (tern's own types), reconciled
//! level-triggered against the kernel's routes that carry tern's protocol number — at start,
//! periodically and on netlink route events — with many netlink requests per send.
//!
//! See README.md for the contract (protocol number, adoption on restart, failure reporting).
#![warn(missing_docs)]

mod controller;
mod docker_veth;
mod interner;
mod memory;
mod netlink;
pub mod netns;
mod prefix_map;
mod reconcile;
mod route;
mod status;
mod table;
mod tunnel;
mod veth;
mod vxlan;
mod workload;

pub use controller::{
    Controller, ControllerConfig, ControllerError, ControllerHandle, ControllerTask, Direct,
    PrefixFilter, DIRECT_CHANGES,
};
pub use docker_veth::{create_docker_veth, gateway_neighbours};
pub use memory::{MemoryTable, Owner};
pub use netlink::{EventRead, EventSocket, NetlinkTable};
pub use reconcile::{DesiredChange, Reconciler, RouteEvent};
pub use route::{NextHop, Route, RouteKind, TableConfig, DEFAULT_PROTOCOL, MAIN_TABLE};
pub use status::{Counters, CountersSnapshot, RouteState, RouteStatus};
pub use table::{Action, DumpInfo, Op, OpError, OpErrorKind, RouteTable, TableError};
pub use tunnel::{
    delete_tunnel, ensure_ipip, set_workload_mtu, uplink_mtu, TunnelError, DEFAULT_UPLINK_MTU,
    IPIP_DEVICE, IPIP_OVERHEAD, VXLAN_DEVICE, VXLAN_OVERHEAD,
};
pub use veth::{
    check_workload_veth, create_workload_veth, delete_workload_veth, host_veth_exists, VethCreated,
    VethError, VethSpec, GATEWAY4, HOST_MAC,
};
pub use vxlan::{ensure_vxlan, sync_vteps, vtep_mac, VtepSync, DEFAULT_VNI, VXLAN_PORT};
pub use workload::{
    configure_workload_interface, Ipv6Setup, WorkloadError, GATEWAY_V4, GATEWAY_V6,
};
