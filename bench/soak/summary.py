#!/usr/bin/env python3
"""Summary of a soak run: bench/soak/summary.py SOAK.CSV [AGENT.LOG]

From the samples (see run.sh): RSS at start / end / max and the peak (VmHWM), open fds
and threads at the baseline (the first sample after the first 5 minutes of churn, or the
first sample in a short run) vs the end of the churn and the end of the quiet phase,
and the growth per hour as the least-squares slope over the second half of the churn
(after warm-up). From the log: WARN / ERROR lines counted, the most frequent shown
(numbers and addresses folded so that repeats group).
"""
import csv
import re
import sys
from collections import Counter


def slope_per_hour(xs, ys):
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 3600


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    rows = [r for r in rows if r["rss_kib"]]
    if not rows:
        print("no samples")
        return 1
    churn = [r for r in rows if r["phase"] == "churn"]
    quiet = [r for r in rows if r["phase"] in ("quiet", "end")]
    t = lambda r: int(r["elapsed_s"])
    num = lambda r, k: float(r[k]) if r[k] else 0.0
    last_churn = churn[-1] if churn else rows[-1]
    warm = 300 if t(last_churn) >= 1200 else 0
    base = next((r for r in churn if t(r) >= warm), rows[0])
    half = [r for r in churn if t(r) >= t(last_churn) / 2]
    mib = lambda k: k / 1024

    print(f"samples: {len(rows)} ({len(churn)} churn, {len(quiet)} quiet), "
          f"churn {t(last_churn)} s, baseline at {t(base)} s")
    rss = [num(r, "rss_kib") for r in rows]
    print(f"RSS MiB: start {mib(rss[0]):.1f}, baseline {mib(num(base, 'rss_kib')):.1f}, "
          f"end of churn {mib(num(last_churn, 'rss_kib')):.1f}, "
          f"end {mib(rss[-1]):.1f}, max {mib(max(rss)):.1f}; "
          f"peak (VmHWM) {mib(max(max(num(r, 'hwm_kib') for r in rows), max(rss))):.1f}")
    if rows[-1].get("rss_anon_kib"):
        print(f"RSS split MiB: anonymous {mib(num(rows[0], 'rss_anon_kib')):.1f} -> "
              f"{mib(num(last_churn, 'rss_anon_kib')):.1f}, file (code) "
              f"{mib(num(rows[0], 'rss_file_kib')):.1f} -> {mib(num(last_churn, 'rss_file_kib')):.1f} "
              f"(start -> end of churn)")
    for key, label in (("fds", "open fds"), ("threads", "threads")):
        v = [num(r, key) for r in rows]
        print(f"{label}: baseline {num(base, key):.0f}, end of churn {num(last_churn, key):.0f}, "
              f"end {v[-1]:.0f}, min {min(v):.0f}, max {max(v):.0f}")
    xs = [t(r) for r in half]
    keys = [("rss_kib", "MiB", 1 / 1024), ("fds", "fds", 1), ("threads", "threads", 1)]
    if rows[-1].get("rss_anon_kib"):
        keys[1:1] = [("rss_anon_kib", "MiB anonymous", 1 / 1024), ("rss_file_kib", "MiB file", 1 / 1024)]
    for key, unit, scale in keys:
        s = slope_per_hour(xs, [num(r, key) * scale for r in half])
        print(f"growth over the second half of the churn ({len(half)} samples): {s:+.2f} {unit}/hour")
    cpu0, cpu1 = num(rows[0], "cpu_s"), num(last_churn, "cpu_s")
    span = max(1, t(last_churn) - t(rows[0]))
    print(f"agent CPU: {cpu1 - cpu0:.1f} s over {span} s of churn ({100 * (cpu1 - cpu0) / span:.1f} % of one core)")
    est = [int(r["established"]) for r in churn if r["established"]]
    kr = [int(r["kernel_routes"]) for r in churn if r["kernel_routes"]]
    if est:
        print(f"sessions Established per sample: min {min(est)}, max {max(est)}; "
              f"after the churn {quiet[-1]['established'] if quiet else '?'}")
    if kr:
        print(f"kernel routes (proto 201) per sample: min {min(kr)}, max {max(kr)}; "
              f"after the churn {quiet[-1]['kernel_routes'] if quiet else '?'}")
    if len(sys.argv) > 2:
        levels = Counter()
        lines = Counter()
        for line in open(sys.argv[2], errors="replace"):
            m = re.search(r"\b(WARN|ERROR)\b", line)
            if not m:
                continue
            levels[m.group(1)] += 1
            text = line[m.end():].strip()
            text = re.sub(r"\d+(\.\d+)*(/\d+)?", "N", text)
            lines[f"{m.group(1)} {text[:150]}"] += 1
        print(f"log: {levels['ERROR']} ERROR, {levels['WARN']} WARN lines")
        for text, n in lines.most_common(8):
            print(f"  {n:6d} x {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
