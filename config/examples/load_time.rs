//! Times `NodeConfig::load` of a node file with N blocks: what a reload reads and checks
//! before it can originate a new block (`bench/propagation`).
//! `cargo run --release -p config --example load_time -- [BLOCKS] [ROUNDS]`
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let blocks: u32 = args.next().map_or(Ok(100), |a| a.parse())?;
    let rounds: usize = args.next().map_or(Ok(2000), |a| a.parse())?;
    let list: Vec<String> = (0..blocks)
        .map(|i| format!("10.96.{}.{}/26", i / 4, (i % 4) * 64))
        .collect();
    // The shape of the propagation bench's node file.
    let text = format!(
        "nodeName: a\nasNumber: 64512\nrouterId: 10.0.0.1\nblocks: [{}]\n\
         pools: [10.96.0.0/12]\npeers:\n  - {{ peerIP: 10.0.0.2, asNumber: 64512, \
         routeReflectorClient: false, holdTime: 9s, connectRetryTime: 1s }}\n",
        list.join(", ")
    );
    let dir = std::env::temp_dir().join(format!("tern-load-time-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("node.yaml");
    std::fs::write(&file, &text)?;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let c = config::node::NodeConfig::load(&file)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(c);
    }
    std::fs::remove_dir_all(&dir)?;
    times.sort_by(f64::total_cmp);
    println!(
        "{blocks} blocks, {} octets: load p50 {:.1} us, p90 {:.1} us ({} rounds)",
        text.len(),
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times.len()
    );
    Ok(())
}
