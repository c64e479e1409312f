//! FIB benchmark driver (see bench/fib/run.sh): installs N IPv4 /24 routes via one next hop
//! with tern's controller in the *current* network namespace, then removes them, and prints
//! timings, rates and peak RSS. Run it under `ip netns exec` in a namespace made for it.
//!
//! ```text
//! fib_bench [--routes N] [--via 192.168.0.2] [--protocol 201] [--replace-all]
//! ```
//! Default feeds the routes as a stream of `Upsert`s (as BGP does); `--replace-all` sends
//! one `ReplaceAll` with all of them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use controller::{Controller, ControllerConfig, NextHop, Route, TableConfig};
use ipnet::IpNet;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn route(i: u32, via: IpAddr) -> Route {
    // 16.0.0.0/24, 16.0.1.0/24, ... : 2^20 distinct /24s fit in 16.0.0.0/4.
    let p =
        IpNet::new(IpAddr::V4(Ipv4Addr::from((16u32 << 24) + (i << 8))), 24).expect("valid /24");
    Route::via(p, [NextHop::new(via)])
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut n: u32 = 1_000_000;
    let mut via: IpAddr = "192.168.0.2".parse()?;
    let mut protocol = controller::DEFAULT_PROTOCOL;
    let mut replace_all = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--routes" => n = args.next().ok_or("--routes N")?.parse()?,
            "--via" => via = args.next().ok_or("--via ADDR")?.parse()?,
            "--protocol" => protocol = args.next().ok_or("--protocol N")?.parse()?,
            "--replace-all" => replace_all = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if n > 1 << 20 {
        return Err("at most 1048576 routes".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let config = ControllerConfig {
            table: TableConfig { protocol, ..TableConfig::default() },
            netns: None,
            resync_interval: Duration::from_secs(3600),
            adopt_grace: Duration::ZERO,
            ..ControllerConfig::default()
        };
        let (ctl, task) = Controller::spawn(config)?;
        let t0 = Instant::now();
        if replace_all {
            let routes: Vec<Route> = (0..n).map(|i| route(i, via)).collect();
            ctl.replace_all(routes).await?;
        } else {
            for i in 0..n {
                ctl.upsert(route(i, via)).await?;
            }
        }
        ctl.sync().await?;
        let install = t0.elapsed();
        let c = ctl.counters();
        println!(
            "install: {n} routes in {:.2} s = {:.0} routes/s (installed {}, failed {}, netlink ops {}, errors {})",
            install.as_secs_f64(),
            rate(n as u64, install),
            c.routes_installed,
            c.routes_failed,
            c.netlink_ops,
            c.netlink_errors
        );
        if c.routes_installed != n as u64 {
            return Err(format!("only {} of {n} routes installed", c.routes_installed).into());
        }
        let t1 = Instant::now();
        ctl.reconcile().await?;
        let rec = t1.elapsed();
        println!(
            "reconcile (dump + diff, nothing to change): {:.2} s, netlink ops after: {}",
            rec.as_secs_f64(),
            ctl.counters().netlink_ops
        );
        let t2 = Instant::now();
        let removed = ctl.flush().await?;
        let remove = t2.elapsed();
        println!(
            "remove (flush): {removed} routes in {:.2} s = {:.0} routes/s",
            remove.as_secs_f64(),
            rate(removed as u64, remove)
        );
        let c = ctl.counters();
        println!(
            "counters: netlink ops {}, errors {}, route events read {}, event overruns (-> resync) {}, full reconciles {}",
            c.netlink_ops, c.netlink_errors, c.events, c.event_overruns, c.reconciles
        );
        ctl.shutdown(false).await?;
        task.wait().await?;
        println!("peak RSS (VmHWM): {} KiB", vm_hwm_kib());
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
