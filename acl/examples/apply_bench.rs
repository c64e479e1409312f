//! Benchmark driver for bench/acl (not a test): generates a synthetic cluster, measures
//! load, compile and render, then — run inside a throwaway network namespace — a full
//! apply and a one-changed-policy apply for a backend.
//!
//! ```text
//! apply_bench gen DIR ENDPOINTS POLICIES     write DIR/endpoints.yaml, DIR/policies-*.yaml
//! apply_bench measure DIR BACKEND [--check|--no-check] [ROUNDS]
//!                                            print timings (applies: run in a netns!);
//!                                            default: the applier's own dry-run choice
//! apply_bench apply BACKEND FILES...         apply once and print the rule count
//! apply_bench gen-chain DIR POLICIES         policies every new connection to a server walks
//! apply_bench profile DIR [ROUNDS]           the user-space part of one change (incremental
//!                                            render, comparison, diff; no nft), for a profiler
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use acl::{compile, load_paths, Applier, Backend, CompileOptions, Ir};

fn gen(dir: &Path, endpoints: usize, policies: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut eps = String::new();
    for ns in 0..10 {
        let _ = write!(
            eps,
            "kind: Namespace\nname: ns{ns}\nlabels: {{ team: t{} }}\n---\n",
            ns % 3
        );
    }
    for i in 0..endpoints {
        let _ = write!(
            eps,
            "kind: WorkloadEndpoint\nname: wl-{i}\nnamespace: ns{}\ninterface: tb{i}\nips: [10.{}.{}.{}/32]\nlabels: {{ app: app{}, tier: t{} }}\n---\n",
            i % 10,
            80 + i / 65536,
            (i / 256) % 256,
            i % 256,
            i % 100,
            i % 5
        );
    }
    std::fs::write(dir.join("endpoints.yaml"), eps).unwrap();
    // Ten policy files so one change rewrites one file.
    let mut files = vec![String::new(); 10];
    for j in 0..policies {
        let _ = write!(
            files[j % 10],
            "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{ name: pol-{j}, namespace: ns{} }}\nspec:\n  order: {j}\n  selector: app == 'app{}'\n  types: [Ingress, Egress]\n  ingress:\n    - action: Deny\n      source: {{ nets: [192.168.{}.0/24] }}\n    - action: Allow\n      protocol: TCP\n      source: {{ selector: tier == 't{}' }}\n      destination: {{ ports: [{}, \"9000:9100\"] }}\n    - action: Allow\n      protocol: UDP\n      source: {{ namespaceSelector: team == 't{}' }}\n      destination: {{ ports: [53] }}\n  egress:\n    - action: Allow\n      protocol: TCP\n      destination: {{ notNets: [172.16.0.0/12] }}\n---\n",
            j % 10,
            j % 100,
            j % 256,
            j % 5,
            1000 + j % 50,
            j % 3
        );
    }
    for (k, f) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("policies-{k}.yaml")), f).unwrap();
    }
}

/// Policies for the throughput run: `policies` GlobalNetworkPolicies select the iperf3
/// server, each with four Deny rules a connection from the client does not match, then
/// one policy allows the client; every new connection walks all of them.
fn gen_chain(dir: &Path, policies: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let eps = "kind: WorkloadEndpoint\nname: client\nnamespace: bench\ninterface: tb-c1\nips: [10.90.0.1/32]\nlabels: { app: client }\n---\nkind: WorkloadEndpoint\nname: server\nnamespace: bench\ninterface: tb-c2\nips: [10.90.0.2/32]\nlabels: { app: server }\n";
    std::fs::write(dir.join("endpoints.yaml"), eps).unwrap();
    let mut out = String::new();
    for j in 0..policies {
        let _ = write!(
            out,
            "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{ name: deny-{j} }}\nspec:\n  order: {j}\n  selector: app == 'server'\n  ingress:\n    - {{ action: Deny, source: {{ nets: [192.168.{}.{}/32] }} }}\n    - {{ action: Deny, protocol: TCP, destination: {{ ports: [{}] }} }}\n    - {{ action: Deny, protocol: UDP, destination: {{ ports: [{}] }} }}\n    - {{ action: Deny, protocol: TCP, source: {{ nets: [172.16.{}.0/24] }} }}\n---\n",
            j / 256 % 256,
            j % 256,
            10000 + j % 50000,
            10000 + j % 50000,
            j % 256
        );
    }
    out.push_str("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: allow-client }\nspec:\n  order: 100000\n  selector: app == 'server'\n  ingress:\n    - { action: Allow, protocol: TCP, source: { selector: app == 'client' }, destination: { ports: [5201] } }\n");
    std::fs::write(dir.join("policies.yaml"), out).unwrap();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The nearest-rank percentile `p` (0–100) of `v`.
fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// CPU time of this process and its waited-for children, in ms (assumes 100 ticks/s).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // Fields after the command: state(3) … utime(14) stime(15) cutime(16) cstime(17).
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    f.get(11..15).map_or(0.0, |v| v.iter().sum::<f64>() * 10.0)
}

/// CPU time (ms, from `schedstat`: nanoseconds) of this process's living children named
/// `comm`: the applier's long-lived `nft -i` sessions, which `cpu_ms` does not count
/// (a child's time reaches `cutime` only when it has exited and been waited for).
fn children_cpu_ms(comm: &str) -> f64 {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0.0;
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n);
        // Fields after the command: state(3) ppid(4) …
        let ppid = rest.split_whitespace().nth(1).unwrap_or("");
        if name != comm || ppid != me {
            continue;
        }
        let sched = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        let ns: f64 = sched
            .split_whitespace()
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0.0);
        total += ns / 1e6;
    }
    total
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Which dry runs the applier does: its default, or `--check` / `--no-check` forced.
#[derive(Debug, Clone, Copy)]
enum CheckMode {
    Default,
    Always,
    Never,
}

fn measure(dir: &Path, backend: Backend, mode: CheckMode, rounds: usize) {
    let (mut changes, bundle, ir, [load, comp]) = Changes::new(dir);
    let t = Instant::now();
    let text = acl::render_text(&ir, backend);
    let render = ms(t);
    println!(
        "{backend:?}: {} endpoints, {} policies -> {} endpoints under policy, {} policy rules, {} sets; rendered {} lines",
        bundle.workloads.len(),
        bundle.policies.len(),
        ir.endpoints.len(),
        ir.rule_count(),
        ir.set_count(),
        text.lines().count()
    );
    println!("load {load:.1} ms, compile {comp:.1} ms, render {render:.1} ms");
    println!("dry runs: {mode:?}");
    let mut applier = Applier::new(backend);
    match mode {
        CheckMode::Default => {}
        CheckMode::Always => applier = applier.check_first(true),
        CheckMode::Never => applier = applier.check_first(false),
    }
    let _ = applier.flush();
    let r = applier.apply(&ir).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "full apply: {:.1} ms ({} rules, {} sets, {:?})",
        r.duration.as_secs_f64() * 1000.0,
        r.rules,
        r.sets,
        r.mode
    );
    // One changed policy: a port of pol-7 in policies-7.yaml.
    // `rounds` changes, alternating the edit and its revert; wall time and CPU time (this
    // process and its children, from /proc/self/stat) per apply. The first incremental
    // apply also starts the applier's `nft -i` child. For nftables the same incremental
    // render and diff the applier does are repeated beside it (on a copy, not timed as
    // part of "apply") to split the apply into render, diff and the `nft` commit.
    let mut applies = Vec::new();
    let (mut renders, mut diffs, mut diff_bytes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tools, mut child_cpu, mut after_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut child_end = None;
    let nft = backend == Backend::Nftables;
    let mut prev = nft.then(|| (ir.clone(), acl::render::nft::render(&ir)));
    let mut cpu = 0.0;
    // GAP_MS: a pause before each change (the agent's changes come one at a time, with
    // the caches cold), 0 by default.
    let gap = std::env::var("GAP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_millis);
    for i in 0..rounds {
        if let Some(g) = gap {
            std::thread::sleep(g);
        }
        let (_, ir2) = changes.round(i);
        if let Some((pir, prs)) = prev.take() {
            let t = Instant::now();
            let next = acl::render::nft::render_with(&ir2, Some((&pir, &prs)));
            renders.push(ms(t));
            let t = Instant::now();
            let script = acl::render::nft::diff_transaction(&prs, &next).unwrap_or_default();
            diffs.push(ms(t));
            diff_bytes.push(script.len() as f64);
            prev = Some((ir2.clone(), next));
        }
        let (cpu0, child0) = (cpu_ms(), children_cpu_ms("nft"));
        // The session's CPU since the last apply returned: the removals it ran after it.
        if let Some(end) = child_end {
            after_cpu.push(child0 - end);
        }
        let r = applier.apply_owned(ir2).unwrap_or_else(|e| panic!("{e}"));
        cpu += cpu_ms() - cpu0;
        let end = children_cpu_ms("nft");
        // The first incremental apply starts the session (its time before is 0).
        if i > 0 {
            child_cpu.push(end - child0);
        }
        child_end = Some(end);
        assert_eq!(r.mode, acl::ApplyMode::Incremental);
        applies.push(r.duration.as_secs_f64() * 1000.0);
        tools.push(r.tools.as_secs_f64() * 1000.0);
    }
    changes.restore();
    let first = applies.first().copied().unwrap_or(0.0);
    let min = applies.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "one changed policy ({rounds} rounds): apply median {:.1} ms, p99 {:.1} ms (min {min:.1}, max {:.1}, first {first:.1}); CPU per apply (incl. tools) {:.1} ms",
        median(&mut applies),
        percentile(&mut applies, 99.0),
        percentile(&mut applies, 100.0),
        cpu / rounds as f64,
    );
    println!(
        "  not part of apply (medians): reload {:.1} ms, compile {:.1} ms",
        median(&mut changes.reloads),
        median(&mut changes.compiles)
    );
    if nft {
        println!(
            "  inside apply: in nft median {:.1} ms, p99 {:.1} ms (the nft -i session's CPU {:.1} ms; after the apply returned {:.1} ms, mean {:.1}); beside it, the same incremental render {:.2} ms and diff {:.2} ms ({:.0} bytes) (medians)",
            median(&mut tools),
            percentile(&mut tools, 99.0),
            median(&mut child_cpu),
            median(&mut after_cpu),
            after_cpu.iter().sum::<f64>() / after_cpu.len().max(1) as f64,
            median(&mut renders),
            median(&mut diffs),
            median(&mut diff_bytes),
        );
    } else {
        println!(
            "  inside apply: in the tools median {:.1} ms, p99 {:.1} ms",
            median(&mut tools),
            percentile(&mut tools, 99.0)
        );
    }
    applier.flush().unwrap_or_else(|e| panic!("{e}"));
}

/// The user-space part of one nftables change as the applier does it: the incremental
/// render against the previous IR and ruleset, the unchanged check, the diff and the
/// counts. Not inlined, so that a profiler can collect just this
/// (`valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*one_change*'`).
#[inline(never)]
fn one_change(
    pir: &acl::Ir,
    prs: &acl::render::nft::NftRuleset,
    ir: &acl::Ir,
) -> (acl::render::nft::NftRuleset, usize, usize) {
    let next = acl::render::nft::render_with(ir, Some((pir, prs)));
    let bytes = if *prs == next {
        0
    } else {
        acl::render::nft::diff_transaction(prs, &next).map_or(0, |s| s.len())
    };
    let (rules, _) = acl::render::nft::counts(&next);
    (next, bytes, rules)
}

/// `rounds` one-policy changes (edit, revert, …) through [`one_change`], without nft:
/// prints the median time of render + diff and the script size.
/// The one-policy change both modes make: pol-7's file, its text, and the text with one
/// more port in pol-7.
/// The agent's work before an apply, for one policy file changed back and forth
/// ([`pol7_change`]): write the file, reload (the `Loader` parses the changed file only),
/// compile (incrementally), each timed.
struct Changes {
    paths: Vec<PathBuf>,
    loader: acl::loader::Loader,
    compiler: acl::Incremental,
    file: PathBuf,
    text: String,
    changed: String,
    reloads: Vec<f64>,
    compiles: Vec<f64>,
}

impl Changes {
    /// Loads and compiles `dir` as it is (the first, full compile), each timed (ms, also
    /// returned).
    fn new(dir: &Path) -> (Changes, acl::Bundle, Ir, [f64; 2]) {
        let (file, text, changed) = pol7_change(dir);
        let mut c = Changes {
            paths: vec![dir.to_path_buf()],
            loader: acl::loader::Loader::new(),
            compiler: acl::Incremental::new(),
            file,
            text,
            changed,
            reloads: Vec::new(),
            compiles: Vec::new(),
        };
        let t = Instant::now();
        let bundle = c.loader.load(&c.paths).unwrap_or_else(|e| panic!("{e}"));
        let load = ms(t);
        let t = Instant::now();
        let ir = c.compiler.compile(&bundle, &CompileOptions::default());
        let compile = ms(t);
        (c, bundle, ir, [load, compile])
    }

    /// Round `i`: the edit when even, its revert when odd.
    fn round(&mut self, i: usize) -> (acl::Bundle, Ir) {
        let content = if i.is_multiple_of(2) {
            &self.changed
        } else {
            &self.text
        };
        std::fs::write(&self.file, content).unwrap();
        let t = Instant::now();
        let bundle = self
            .loader
            .load(&self.paths)
            .unwrap_or_else(|e| panic!("{e}"));
        self.reloads.push(ms(t));
        let t = Instant::now();
        let ir = self.compiler.compile(&bundle, &CompileOptions::default());
        self.compiles.push(ms(t));
        (bundle, ir)
    }

    /// Puts the file back as it was.
    fn restore(&self) {
        std::fs::write(&self.file, &self.text).unwrap();
    }
}

fn pol7_change(dir: &Path) -> (PathBuf, String, String) {
    let file = dir.join("policies-7.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let changed = text.replacen(
        "ports: [1007, \"9000:9100\"]",
        "ports: [1007, 1443, \"9000:9100\"]",
        1,
    );
    assert_ne!(text, changed);
    (file, text, changed)
}

fn profile(dir: &Path, rounds: usize) {
    let paths = vec![dir.to_path_buf()];
    let mut loader = acl::loader::Loader::new();
    let bundle = loader.load(&paths).unwrap_or_else(|e| panic!("{e}"));
    let ir = compile(&bundle, &CompileOptions::default());
    let (file, text, changed) = pol7_change(dir);
    let mut irs = Vec::new();
    for t in [&changed, &text] {
        std::fs::write(&file, t).unwrap();
        let bundle = loader.load(&paths).unwrap_or_else(|e| panic!("{e}"));
        irs.push(compile(&bundle, &CompileOptions::default()));
    }
    let mut rs = acl::render::nft::render(&ir);
    let mut prev = ir;
    let (mut times, mut bytes, mut rules) = (Vec::new(), 0, 0);
    for i in 0..rounds {
        let next_ir = irs[i % 2].clone();
        let t = Instant::now();
        let (next, b, r) = one_change(&prev, &rs, &next_ir);
        times.push(ms(t));
        if i < 2 {
            // The incremental render is the full one, and the diff's text (by hash).
            assert!(
                next == acl::render::nft::render(&next_ir),
                "render_with differs"
            );
            let script = acl::render::nft::diff_transaction(&rs, &next).unwrap_or_default();
            println!("diff {i}: {:016x}", acl::ir::fnv64(&script));
        }
        (bytes, rules) = (b, r);
        prev = next_ir;
        rs = next;
    }
    println!(
        "render + diff of one change ({rounds} rounds): median {:.2} ms, min {:.2} ms ({bytes} bytes, {rules} rules)",
        median(&mut times),
        times.iter().copied().fold(f64::INFINITY, f64::min)
    );
}

/// What the agent does before applying one change, without root: the changed file of
/// [`pol7_change`] written, loaded and the bundle compiled `rounds` times (edit and revert
/// alternating), the other files unchanged.
fn reload(dir: &Path, rounds: usize) {
    // The agent's compile: incremental after the first (a full one is timed beside it).
    let (mut changes, _, _, _) = Changes::new(dir);
    let mut fulls = Vec::new();
    for i in 0..rounds {
        let (bundle, ir) = changes.round(i);
        drop(ir);
        let t = Instant::now();
        let ir = compile(&bundle, &CompileOptions::default());
        fulls.push(ms(t));
        drop(ir);
    }
    changes.restore();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "one changed file ({} bytes, {rounds} rounds): reload median {:.1} ms (min {:.1}), compile median {:.1} ms (min {:.1}; {} chains reused), full compile median {:.1} ms (min {:.1})",
        changes.text.len(),
        median(&mut changes.reloads),
        min(&changes.reloads),
        median(&mut changes.compiles),
        min(&changes.compiles),
        changes.compiler.reused(),
        median(&mut fulls),
        min(&fulls),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: apply_bench gen DIR ENDPOINTS POLICIES | measure DIR BACKEND [--check|--no-check] [ROUNDS] | profile DIR [ROUNDS] | reload DIR [ROUNDS] | apply BACKEND FILES...";
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 5 => gen(
            Path::new(&args[2]),
            args[3].parse().expect(usage),
            args[4].parse().expect(usage),
        ),
        Some("gen-chain") if args.len() == 4 => {
            gen_chain(Path::new(&args[2]), args[3].parse().expect(usage))
        }
        Some("profile") if args.len() >= 3 => profile(
            Path::new(&args[2]),
            args.get(3).map_or(20, |n| n.parse().expect(usage)),
        ),
        Some("reload") if args.len() >= 3 => reload(
            Path::new(&args[2]),
            args.get(3).map_or(20, |n| n.parse().expect(usage)),
        ),
        Some("dump") if args.len() == 4 => dump(Path::new(&args[2]), Path::new(&args[3])),
        Some("measure") if args.len() >= 4 => {
            let mut mode = CheckMode::Default;
            let mut rounds = 20;
            for a in &args[4..] {
                match a.as_str() {
                    "--check" => mode = CheckMode::Always,
                    "--no-check" => mode = CheckMode::Never,
                    n => rounds = n.parse().expect(usage),
                }
            }
            measure(
                Path::new(&args[2]),
                args[3].parse().expect(usage),
                mode,
                rounds.max(1),
            )
        }
        Some("apply") if args.len() >= 4 => {
            let backend: Backend = args[2].parse().expect(usage);
            let files: Vec<PathBuf> = args[3..].iter().map(PathBuf::from).collect();
            let bundle = load_paths(&files).unwrap_or_else(|e| panic!("{e}"));
            let ir = compile(&bundle, &CompileOptions::default());
            let r = Applier::new(backend)
                .apply(&ir)
                .unwrap_or_else(|e| panic!("{e}"));
            println!(
                "applied {} rules, {} sets in {:.1} ms",
                r.rules,
                r.sets,
                r.duration.as_secs_f64() * 1000.0
            );
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

/// Writes the full and the one-change transactions for manual timing (`nft -c -f`).
#[allow(dead_code)]
fn dump(dir: &Path, out: &Path) {
    let paths = vec![dir.to_path_buf()];
    let b = load_paths(&paths).unwrap_or_else(|e| panic!("{e}"));
    let a = acl::render::nft::render(&compile(&b, &CompileOptions::default()));
    let (file, text, changed) = pol7_change(dir);
    std::fs::write(&file, &changed).unwrap();
    let b2 = load_paths(&paths).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&file, &text).unwrap();
    let n = acl::render::nft::render(&compile(&b2, &CompileOptions::default()));
    std::fs::write(out.join("full.nft"), acl::render::nft::full_transaction(&a)).unwrap();
    std::fs::write(
        out.join("diff.nft"),
        acl::render::nft::diff_transaction(&a, &n).unwrap(),
    )
    .unwrap();
    std::fs::write(
        out.join("back.nft"),
        acl::render::nft::diff_transaction(&n, &a).unwrap(),
    )
    .unwrap();
}
