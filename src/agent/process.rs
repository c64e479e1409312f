//! The standard `process_*` families (as the Prometheus client libraries name them and
//! `promtool` expects their types), read from `/proc/self` at each scrape.

use prometheus::{Counter, Gauge, IntGauge, Registry};

use super::metrics::{clamp, gauge, reg};

/// `process_*` families (as the Prometheus client libraries name them), from `/proc/self`.
pub struct ProcessMetrics {
    cpu: Counter,
    rss: IntGauge,
    vsize: IntGauge,
    fds: IntGauge,
    max_fds: IntGauge,
    start: Gauge,
    threads: IntGauge,
    /// Constants of the host, read once: clock ticks per second, page size, boot time.
    ticks: f64,
    page: u64,
    btime: Option<u64>,
}

impl ProcessMetrics {
    /// Creates and registers the families in `r`.
    pub fn new(r: &Registry) -> Self {
        let g = |n: &str, h: &str| reg(r, Gauge::new(n, h).expect("valid metric"));
        ProcessMetrics {
            // A counter, advanced to the kernel's running total at each refresh.
            cpu: reg(
                r,
                Counter::new(
                    "process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                )
                .expect("valid metric"),
            ),
            rss: gauge(
                r,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            vsize: gauge(
                r,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            ),
            fds: gauge(r, "process_open_fds", "Number of open file descriptors."),
            max_fds: gauge(
                r,
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            start: g(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds.",
            ),
            threads: gauge(r, "process_threads", "Number of OS threads in the process."),
            ticks: ticks_per_second(),
            page: page_size(),
            btime: boot_time(),
        }
    }

    /// Reads `/proc/self` and the open-file limit.
    pub fn refresh(&self) {
        if let Some(p) = self
            .btime
            .and_then(|btime| read_proc_self(self.ticks, self.page, btime))
        {
            let seen = self.cpu.get();
            if p.cpu_seconds > seen {
                self.cpu.inc_by(p.cpu_seconds - seen);
            }
            self.rss.set(clamp(p.rss_bytes));
            self.vsize.set(clamp(p.vsize_bytes));
            self.start.set(p.start_time);
            self.threads.set(clamp(p.threads));
        }
        if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(clamp(rd.count() as u64));
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass; no other memory is touched.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            self.max_fds.set(clamp(lim.rlim_cur));
        }
    }
}

struct ProcSelf {
    cpu_seconds: f64,
    rss_bytes: u64,
    vsize_bytes: u64,
    start_time: f64,
    threads: u64,
}

fn read_proc_self(ticks: f64, page: u64, btime: u64) -> Option<ProcSelf> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat, ticks, page, btime)
}

/// Parses `/proc/self/stat` (fields after the parenthesised command name, which may
/// itself contain spaces and parentheses).
fn parse_stat(stat: &str, ticks: f64, page: u64, btime: u64) -> Option<ProcSelf> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); field N is f[N - 3].
    let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    let utime = num(14)?;
    let stime = num(15)?;
    let threads = num(20)?;
    let start = num(22)?;
    let vsize = num(23)?;
    let rss = num(24)?;
    Some(ProcSelf {
        cpu_seconds: (utime + stime) as f64 / ticks,
        rss_bytes: rss * page,
        vsize_bytes: vsize,
        start_time: btime as f64 + start as f64 / ticks,
        threads,
    })
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|p| *p > 0).unwrap_or(4096)
}

fn boot_time() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_handles_odd_command_names() {
        let stat = "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 1000 123456 300 0";
        let p = parse_stat(stat, 100.0, 4096, 1_700_000_000).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.threads, 7);
        assert_eq!(p.vsize_bytes, 123456);
        assert_eq!(p.rss_bytes, 300 * 4096);
        assert_eq!(p.start_time, 1_700_000_010.0);
        assert!(parse_stat("garbage", 100.0, 4096, 0).is_none());
    }
}
