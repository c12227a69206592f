#!/usr/bin/env python3
"""What SQL queries, re-keying and fan-out cost: events/s of SQL, re-keyed and fanned-out
queries against one INI query, on one cached weir-gen capture replayed through net_pcap into
`weir run` (1 RX core, 1 worker, lcores 0,0,1 as in e2e_bench.py).

    bench/sql_bench.py --weir build/weir --gen build/tools/weir-gen [--runs 5] [--json FILE]
    bench/sql_bench.py --weir build/weir --gen build/tools/weir-gen --verify
    bench/sql_bench.py --weir build/weir --gen build/tools/weir-gen --callgrind [--runs 0]

The capture (cached in --cache, shared by every config): --events records (10 M), fields
amount:i64 (uniform -1000..1000000) and merchant:u64 drawn uniformly from 0..--merchants-1
(weir-gen's `merchant:u64/N`; 100 k, as many merchants as record keys, so the re-keyed query
keeps as many windows as the base one and only the re-keying differs), --keys record keys
(100 k, uniform), 1 M events/s of event time, 1 ms of disorder.  Configs (each its own weir
run, the same source for all; --configs picks some):
  base     one INI query: tumbling 1 s, count + sum(amount), keyed by the record's key
  sql      the same query in SQL (GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND))
  rekeyed  the same query GROUP BY merchant: one key group, partitioned by a field, so the
           RX core copies each record once (rx_fan), re-keyed, to its merchant's worker
  three    three queries on the source: base, rekeyed, and
           SUM(amount * 2) / COUNT(*) ... WHERE amount > 1000 GROUP BY key: two key groups
           (key, merchant), every record staged twice
  over     one OVER query: COUNT(*), SUM(amount) OVER (PARTITION BY key ... 60 SECOND
           PRECEDING ...) HAVING amount > 990000 AND COUNT(*) OVER w >= 2 (~1 % of the events);
           left out with a note when this weir does not take it (`weir check`)
Runs are interleaved (base, sql, rekeyed, three, over, base, ...), --runs of each.  Per
config: the median wall-clock events/s (rx_events / elapsed_s), the median worker events per
busy second as e2e_bench.py computes it (worker_events / worker busy s; worker_events counts
one per staged copy, so `three` counts each record twice), the source events per worker busy
second (rx_events / worker busy s: what one worker core handles of the input), the RX core's
events per busy second (its busy cycles exclude waits on a full ring, not the sink loop that
shares CPU 0 with it), and each as a ratio to base.  Each run also records the CPU other jobs
took meanwhile: on a shared machine these numbers are noisy.

--verify runs each config small (--verify-events, 1000 keys and merchants, 50 k events/s
of event time: several windows) and checks: sql's results are base's (identical apart from
"query"), rekeyed's sum(count) and sum(sum_amount) are base's, three's queries give exactly
what base and rekeyed gave alone and its WHERE query what a Python reference computes from
the capture, and over's alerts are the reference's (per partition in arrival order).

--callgrind runs each config once under `valgrind --tool=callgrind` on a small capture
(--callgrind-events 500 k, --callgrind-keys 10 k keys and merchants at --callgrind-rate
100 k events/s: 10 events per key and window as in the big capture, and 5 windows, so firing
is in the worker's count), hugepages = off and ring_size = 1048576 (the worker runs in turns
with the RX thread under valgrind: a ring that fills makes the RX core spin in rx_flush,
inside rx_fan), and reports instructions per event from callgrind_annotate --inclusive=yes:
the RX side is rx_frame inclusive (decode, stage; it calls rx_fan, shown apart: the copy per
key group), the worker side wk_records inclusive (unpack, expressions, operators, firing at
the watermark; not the firing at end of input); per source event and per worker copy.
Instruction counts are the stable numbers on a noisy VM.  `--runs 0` skips the timed runs.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e_bench as eb  # noqa: E402

HEADER = """[dataplane]
devices = net_pcap0,rx_pcap={pcap}
rx_cores = 1
workers = {workers}
lcores = {lcores}
exit_on_eos = true
idle_sleep = {idle_sleep}
backpressure = block
{dp_extra}
[source tx]
format = wev
udp_port = 7000
schema_id = 1
fields = amount:i64, merchant:u64
watermark_delay = 50ms
"""

SEC = 10**9
OVER_MIN_AMOUNT = 990000      # amount uniform in -1000..1000000: ~1 % above
BIG_MIN_AMOUNT = 1000

# query name -> the section's body (without sink); every query writes to its own file
QUERIES = {
    "spend": """from = tx
window = tumbling 1s
aggregates = count, sum(amount)
""",
    "spend_sql": """sql = SELECT key, COUNT(*) AS count, SUM(amount) AS sum_amount FROM tx
      GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND)
""",
    "by_merchant": """sql = SELECT merchant, COUNT(*) AS count, SUM(amount) AS sum_amount FROM tx
      GROUP BY merchant, TUMBLE(event_time, INTERVAL '1' SECOND)
""",
    "big": """sql = SELECT key, SUM(amount * 2) / COUNT(*) AS avg2, COUNT(*) AS n FROM tx
      WHERE amount > %d
      GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND)
""" % BIG_MIN_AMOUNT,
    "alert": """sql = SELECT key, amount, COUNT(*) OVER w AS n, SUM(amount) OVER w AS total FROM tx
      HAVING amount > %d AND COUNT(*) OVER w >= 2
      WINDOW w AS (PARTITION BY key ORDER BY event_time
                   RANGE BETWEEN INTERVAL '60' SECOND PRECEDING AND CURRENT ROW)
""" % OVER_MIN_AMOUNT,
}

CONFIGS = {
    "base": ["spend"],
    "sql": ["spend_sql"],
    "rekeyed": ["by_merchant"],
    "three": ["spend", "by_merchant", "big"],
    "over": ["alert"],
}
ORDER = ["base", "sql", "rekeyed", "three", "over"]
ABOUT = {
    "base": "INI tumbling 1 s count + sum(amount) by key",
    "sql": "the same in SQL (GROUP BY key, TUMBLE)",
    "rekeyed": "the same GROUP BY merchant (re-keyed: 1 key group, fanned out by a field)",
    "three": "base + rekeyed + SUM(amount*2)/COUNT(*) WHERE amount > 1000 by key (2 key groups)",
    "over": "COUNT(*), SUM(amount) OVER 60 s by key, HAVING amount > 990000 AND n >= 2 (~1 %)",
}


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- capture, configs

def gen_supports_ranges(gen):
    """Does this weir-gen take `name:u64/N` (values 0..N-1)?  An older one reads the
    spec's type and ignores the rest, so ask its usage text."""
    p = subprocess.run([gen, "--help"], capture_output=True, text=True, timeout=30)
    return "name:u64/N" in (p.stdout + p.stderr)


def workload(a, events, keys, merchants, rate):
    """An e2e_bench-style workload (its capture_for caches by the weir-gen arguments)."""
    spec = "amount:i64,merchant:u64/%d" % merchants if a.ranges else "amount:i64,merchant:u64"
    return {"gen": {"--keys": str(keys), "--dist": "uniform", "--rate": "%d" % rate, "--disorder": "1000000",
                    "--fields": spec}}


def write_config(path, cfg, pcap, outdir, a, dp_extra=""):
    with open(path, "w") as f:
        f.write(HEADER.format(pcap=pcap, workers=a.workers, lcores=a.lcores, idle_sleep=a.idle_sleep,
                              dp_extra=dp_extra))
        for q in CONFIGS[cfg]:
            f.write("\n[query %s]\n%ssink = file:%s\n" % (q, QUERIES[q], os.path.join(outdir, q + ".jsonl")))


def check_configs(a, names, wd):
    """`weir check` every config; a config this weir refuses is an error, except over
    (left out with a note: OVER may not be in this weir yet)."""
    keep = []
    for n in names:
        cfg = os.path.join(wd, "check-%s.ini" % n)
        write_config(cfg, n, "/dev/null", wd, a)
        p = subprocess.run([a.weir, "check", cfg], capture_output=True, text=True, timeout=60)
        if p.returncode == 0:
            keep.append(n)
            continue
        err = (p.stderr.strip() or p.stdout.strip()).splitlines()
        msg = "this weir does not take the %s config: %s" % (n, " / ".join(err[-3:]) if err else "?")
        if n == "over":
            log("NOTE: %s -- over left out" % msg)
            continue
        raise RuntimeError(msg)
    return keep


def run_metrics(st, tsc_fallback):
    """e2e_bench's numbers of a run, and the RX core's and the per-source-event ones."""
    m = eb.metrics(st, tsc_fallback)
    hz = m["tsc_hz"]
    rx = [c for c in st.get("cores", []) if c.get("role") == "rx"]
    rx_busy = sum(c.get("busy_cycles", 0) for c in rx)
    m["rx_busy_s"] = rx_busy / hz if hz else None
    m["rx_blocked_s"] = sum(c.get("blocked_cycles", 0) for c in rx) / hz if hz else None
    m["rx_core_events_per_s"] = m["events"] / m["rx_busy_s"] if m["rx_busy_s"] else None
    m["worker_core_src_events_per_s"] = (m["events"] / m["worker_busy_s"] if m["worker_busy_s"] else None)
    m["copies_per_event"] = m["worker_events"] / m["events"] if m["events"] else None
    return m


def drop_outputs(outdir):
    for f in os.listdir(outdir):
        if f.endswith(".jsonl"):
            os.unlink(os.path.join(outdir, f))


def fmt_m(v):
    return "%.2f" % (v / 1e6) if v else "?"


def fmt_r(v):
    return "%.3f" % v if v else "-"


# ---------------------------------------------------------------- timed runs

METRICS = ("events_per_s", "worker_core_events_per_s", "worker_core_src_events_per_s", "rx_core_events_per_s")


def bench(a, names):
    w = workload(a, a.events, a.keys, a.merchants, a.rate)
    t0 = time.monotonic()
    pcap, _ = eb.capture_for(a, "sql", w, a.events)
    log("capture %s (%d events; %.1f s to make or find)" % (pcap, a.events, time.monotonic() - t0))
    runs = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="weir-sqlbench-") as wd:
        outdir = a.sink_dir or wd
        names = check_configs(a, names, wd)
        for i in range(a.runs):
            for n in names:
                cfg = os.path.join(wd, "%s.ini" % n)
                write_config(cfg, n, pcap, outdir, a)
                t1, busy0, ours0 = time.monotonic(), eb.cpu_busy_s(), eb.children_cpu_s()
                st = eb.run_weir_cfg(a.weir, cfg, os.path.join(wd, "stats.json"))
                dt = time.monotonic() - t1
                m = run_metrics(st, a.tsc_fallback)
                foreign = (eb.cpu_busy_s() - busy0) - (eb.children_cpu_s() - ours0)
                m["foreign_cpu_pct"] = round(max(0.0, 100 * foreign / dt / (os.cpu_count() or 1)), 1)
                drop_outputs(outdir)
                runs[n].append(m)
                log("%-8s run %d: %d events in %.3f s = %s M events/s wall; worker %s M events (%.1f copies)/busy s "
                    "= %s M source events/busy s; RX %s M events/busy s; %d results; ring full %d; "
                    "other jobs' CPU %.0f %%" %
                    (n, i + 1, m["events"], m["elapsed_s"], fmt_m(m["events_per_s"]),
                     fmt_m(m["worker_core_events_per_s"]), m["copies_per_event"] or 0,
                     fmt_m(m["worker_core_src_events_per_s"]), fmt_m(m["rx_core_events_per_s"]), m["results"],
                     m["ring_full"], m["foreign_cpu_pct"]))
    res = {}
    for n in names:
        r = {"about": ABOUT[n], "queries": CONFIGS[n], "runs": runs[n],
             "results": statistics.median_low([x["results"] for x in runs[n]]) if runs[n] else None,
             "copies_per_event": eb.median([x["copies_per_event"] for x in runs[n]]),
             "foreign_cpu_pct": eb.median([x["foreign_cpu_pct"] for x in runs[n]])}
        for k in METRICS:
            r[k] = eb.median([x[k] for x in runs[n]])
        res[n] = r
    base = res.get("base")
    for n, r in res.items():
        r["ratio_to_base"] = {k: (r[k] / base[k] if base and r[k] and base[k] else None) for k in METRICS}
    return pcap, w, res


def print_table(res, runs):
    log("")
    log("medians of %d runs (M events/s; ratio to base):" % runs)
    hdr = "%-8s %13s %19s %19s %15s %9s %6s" % ("config", "wall", "worker ev/busy-s", "worker src/busy-s",
                                               "RX ev/busy-s", "results", "other")
    log(hdr)
    log("-" * len(hdr))
    for n, r in res.items():
        q = r["ratio_to_base"]
        cols = ["%6s %6s" % (fmt_m(r[k]), fmt_r(q[k])) for k in METRICS]
        log("%-8s %13s %19s %19s %15s %9s %5s%%" % (n, cols[0], cols[1], cols[2], cols[3], r["results"],
                                                   "?" if r["foreign_cpu_pct"] is None else
                                                   "%.0f" % r["foreign_cpu_pct"]))
    log("(worker ev: worker_events, one per staged copy, as e2e_bench; worker src: rx_events per worker busy "
        "second; RX: rx_events per RX busy second; other: CPU other jobs took, median)")


# ---------------------------------------------------------------- --callgrind

CG_FUNCS = ("rx_frame", "rx_fan", "rx_flush", "wk_records")


def annotate_inclusive(path):
    """{function: inclusive Ir} from callgrind_annotate (a compiler-cloned function,
    name.constprop.0 and the like, counts as name; .cold parts are inside their caller)."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                       capture_output=True, text=True, timeout=300)
    if p.returncode:
        raise RuntimeError("callgrind_annotate %s: %s" % (path, p.stderr.strip()[-500:]))
    tot, fn = None, {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$", line)
        if not m:
            continue
        n, rest = int(m.group(1).replace(",", "")), m.group(2)
        if rest.startswith("PROGRAM TOTALS"):
            tot = n
            continue
        f = re.match(r"\S*?:([A-Za-z_]\w*)((?:\.\w+)*)\s+\[", rest)
        if f and "cold" not in f.group(2):
            fn[f.group(1)] = fn.get(f.group(1), 0) + n
    return tot, fn


def callgrind(a, names):
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        log("NOTE: no valgrind/callgrind_annotate here: --callgrind skipped (apt-get install valgrind)")
        return None
    ev, k = a.callgrind_events, a.callgrind_keys
    w = workload(a, ev, k, k, a.callgrind_rate)
    pcap, _ = eb.capture_for(a, "sql-cg", w, ev)
    res = {"events": ev, "keys": k, "merchants": k, "rate": a.callgrind_rate, "generator": eb.gen_args(w, ev, a.batch),
           "configs": {}}
    log("")
    log("callgrind: %d events, %d keys and merchants, %d events/s of event time (%s)" %
        (ev, k, a.callgrind_rate, pcap))
    with tempfile.TemporaryDirectory(prefix="weir-sqlbench-cg-") as wd:
        names = check_configs(a, names, wd)
        for n in names:
            cfg = os.path.join(wd, "%s.ini" % n)
            out = os.path.join(a.callgrind_dir or wd, "callgrind.%s.out" % n)
            write_config(cfg, n, pcap, wd, a, dp_extra="hugepages = off\nring_size = 1048576\n")
            stats = os.path.join(wd, "stats-%s.json" % n)
            t0 = time.monotonic()
            p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, a.weir, "run", cfg,
                                "--stats-json", stats, "--no-progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600)
            if p.returncode:
                raise RuntimeError("weir run %s under callgrind exited %d:\n%s" % (cfg, p.returncode, p.stderr[-3000:]))
            with open(stats) as f:
                st = json.load(f)
            tot, fn = annotate_inclusive(out)
            events = st["total"]["rx_events"]
            wev = st["total"].get("worker_events", 0)
            c = {"events": events, "worker_events": wev, "results": st["total"].get("results_emitted"),
                 "ring_full": st["total"].get("ring_full", 0), "program_total_ir": tot,
                 "inclusive_ir": {f: fn.get(f, 0) for f in CG_FUNCS},
                 "seconds": round(time.monotonic() - t0, 1)}
            c["rx_per_event"] = fn.get("rx_frame", 0) / events
            c["rx_fan_per_event"] = fn.get("rx_fan", 0) / events
            c["worker_per_event"] = fn.get("wk_records", 0) / events
            c["worker_per_copy"] = fn.get("wk_records", 0) / wev if wev else None
            c["program_per_event"] = tot / events if tot else None
            if not fn.get("rx_frame") or not fn.get("wk_records"):
                log("NOTE: %s: callgrind_annotate lists no rx_frame or wk_records (inlined or renamed?): %s" %
                    (n, ", ".join(sorted(f for f in fn if f.startswith(("rx_", "wk_"))))))
            if c["ring_full"]:
                log("NOTE: %s: the RX core found a ring full %d times under callgrind: its count includes "
                    "spinning in rx_flush" % (n, c["ring_full"]))
            if a.callgrind_dir is None:
                os.unlink(out)
            drop_outputs(wd)
            res["configs"][n] = c
            log("%-8s callgrind: RX %.0f instr/event (rx_fan %.0f), worker %.0f instr/event (%s per copy), "
                "whole program %.0f; %d results (%.0f s)" %
                (n, c["rx_per_event"], c["rx_fan_per_event"], c["worker_per_event"],
                 "%.0f" % c["worker_per_copy"] if c["worker_per_copy"] else "?", c["program_per_event"] or 0,
                 c["results"] or 0, c["seconds"]))
    base = res["configs"].get("base")
    log("")
    log("instructions per source event (callgrind, inclusive; ratio to base):")
    hdr = "%-8s %14s %10s %16s %10s %10s" % ("config", "RX rx_frame", "rx_fan", "worker wk_rec.", "per copy",
                                            "program")
    log(hdr)
    log("-" * len(hdr))
    for n, c in res["configs"].items():
        def col(k):
            v = c[k]
            if v is None:
                return "?"
            r = v / base[k] if base and base.get(k) else None
            return "%.0f" % v + (" (%.2f)" % r if r else "")
        c["ratio_to_base"] = {k: (c[k] / base[k] if base and base.get(k) and c[k] else None)
                              for k in ("rx_per_event", "worker_per_event", "program_per_event")}
        log("%-8s %14s %10s %16s %10s %10s" % (n, col("rx_per_event"), "%.0f" % c["rx_fan_per_event"],
                                              col("worker_per_event"),
                                              "%.0f" % c["worker_per_copy"] if c["worker_per_copy"] else "?",
                                              "%.0f" % c["program_per_event"] if c["program_per_event"] else "?"))
    log("(RX: rx_frame inclusive, rx_fan is part of it; worker: wk_records inclusive; program: everything "
        "valgrind saw, start-up and idle polling included)")
    return res


# ---------------------------------------------------------------- --verify

def read_capture(pcap):
    """(t, key, amount, merchant) of every record, in arrival order (weir-gen's plain
    frames: Ethernet, IPv4 without options, UDP, WEV with 32-byte records)."""
    recs = []
    for fr in eb.pcap_frames(pcap):
        if struct.unpack_from(">H", fr, 12)[0] != 0x0800 or struct.unpack_from(">H", fr, 36)[0] != 7000:
            raise RuntimeError("unexpected frame in the capture")
        p = fr[42:]
        magic, _, _, count, rs = struct.unpack_from("<IBBHH", p, 0)
        if magic != 0x31564557 or rs != 32:
            raise RuntimeError("unexpected WEV header in the capture")
        for i in range(count):
            recs.append(struct.unpack_from("<qQqQ", p, 24 + i * rs))
    return recs


def big_reference(recs):
    agg = {}
    for t, key, amount, _ in recs:
        if amount > BIG_MIN_AMOUNT:
            s = t - t % SEC
            x = agg.setdefault((key, s), [0, 0])
            x[0] += amount * 2
            x[1] += 1
    return {(k, s): (sm // n, n) for (k, s), (sm, n) in agg.items()}     # positive: // truncates


def over_reference(recs):
    """Alerts: e passes HAVING (amount > 990000, n >= 2) where n, total cover the events of
    e's key that arrived before it with t in [e.t - 60 s, e.t], and e.  No late records
    (checked against weir's late_dropped)."""
    hist, out = {}, []
    for t, key, amount, _ in recs:
        h = hist.setdefault(key, [])
        h.append((t, amount))
        if amount <= OVER_MIN_AMOUNT:
            continue
        inr = [v for u, v in h if t - 60 * SEC <= u <= t]
        if len(inr) >= 2:
            out.append((key, t, amount, len(inr), sum(inr)))
    return sorted(out)


def load_results(path):
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def canon(rows, drop=("query",)):
    return sorted(json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in rows)


def verify(a, names):
    ok = True
    ev, k = a.verify_events, 1000
    w = workload(a, ev, k, k, 50000)
    with tempfile.TemporaryDirectory(prefix="weir-sqlbench-verify-") as wd:
        pcap, _ = eb.capture_for(a, "sql-verify", w, ev, cache=wd)
        names = check_configs(a, names, wd)
        got, stats = {}, {}
        for n in names:
            od = os.path.join(wd, "out-" + n)
            os.makedirs(od)
            cfg = os.path.join(wd, "%s.ini" % n)
            write_config(cfg, n, pcap, od, a)
            stats[n] = eb.run_weir_cfg(a.weir, cfg, os.path.join(wd, "stats-%s.json" % n), timeout=300)
            got[n] = {q: load_results(os.path.join(od, q + ".jsonl")) for q in CONFIGS[n]}
            tot = stats[n]["total"]
            log("%-8s %d events, %d late, %d results (%s)" % (n, tot["rx_events"], tot["late_dropped"],
                                                             tot["results_emitted"],
                                                             ", ".join("%s %d" % (q, len(r)) for q, r in
                                                                       got[n].items())))

        def check(what, cond, detail=""):
            nonlocal ok
            log("%s %s%s" % ("ok  " if cond else "FAIL", what, "" if cond else ": " + detail))
            ok &= bool(cond)

        for n in names:
            check("%s: every event received, none late" % n,
                  stats[n]["total"]["rx_events"] == ev and stats[n]["total"]["late_dropped"] == 0,
                  "rx_events %d, late_dropped %d" % (stats[n]["total"]["rx_events"], stats[n]["total"]["late_dropped"]))
        recs = read_capture(pcap) if {"three", "over"} & set(names) else None
        base = got.get("base", {}).get("spend")
        if base is not None:
            bsum = (sum(r["count"] for r in base), sum(r["sum_amount"] for r in base))
            check("base: sum(count) = events (%d)" % bsum[0], bsum[0] == ev, "%d" % bsum[0])
            if "sql" in got:
                s = got["sql"]["spend_sql"]
                check("sql = base apart from \"query\" (%d results)" % len(s), canon(s) == canon(base),
                      "%d results against %d, %d differ" % (len(s), len(base),
                                                            len(set(canon(s)) ^ set(canon(base)))))
            if "rekeyed" in got:
                r = got["rekeyed"]["by_merchant"]
                rsum = (sum(x["count"] for x in r), sum(x["sum_amount"] for x in r))
                check("rekeyed: sum(count), sum(sum_amount) = base's (%d, %d; %d merchant windows)" %
                      (rsum[0], rsum[1], len(r)), rsum == bsum, "%s against %s" % (rsum, bsum))
                check("rekeyed: each result's merchant is its key", all(x.get("merchant") == x["key"] for x in r))
        if "three" in got:
            t = got["three"]
            if base is not None:
                check("three: its INI query = base", canon(t["spend"]) == canon(base))
            if "rekeyed" in got:
                check("three: its re-keyed query = rekeyed alone", canon(t["by_merchant"]) ==
                      canon(got["rekeyed"]["by_merchant"]))
            ref = big_reference(recs)
            mine = {(x["key"], x["window_start"]): (x["avg2"], x["n"]) for x in t["big"] if x["revision"] == 0}
            bad = [kk for kk in set(ref) | set(mine) if ref.get(kk) != mine.get(kk)]
            check("three: SUM(amount * 2) / COUNT(*) WHERE amount > %d = the reference (%d windows)" %
                  (BIG_MIN_AMOUNT, len(ref)), not bad and len(mine) == len(t["big"]),
                  "%d of %d windows differ, e.g. %s: weir %s, reference %s" %
                  (len(bad), len(ref), bad[:1], mine.get(bad[0]) if bad else None, ref.get(bad[0]) if bad else None))
            filt = stats["three"]["queries"]["big"].get("filtered")
            nf = sum(1 for r in recs if r[2] <= BIG_MIN_AMOUNT)
            check("three: filtered = the reference's (%d)" % nf, filt == nf, "weir %s" % filt)
        if "over" in got:
            ref = over_reference(recs)
            mine = sorted((x["key"], x["event_time"], x["amount"], x["n"], x["total"]) for x in got["over"]["alert"])
            diff = sorted(set(ref) ^ set(mine))
            check("over: alerts = the reference's (%d of %d events, %.2f %%)" % (len(ref), ev, 100 * len(ref) / ev),
                  mine == ref, "weir %d, reference %d; e.g. %s" % (len(mine), len(ref), diff[:2]))
    log("%s: verify %s" % ("PASS" if ok else "FAIL", ", ".join(names)))
    return ok


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--configs", default=",".join(ORDER), help="comma-separated, of " + ", ".join(ORDER))
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each config (0: none)")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--keys", type=int, default=100_000, help="record keys, uniform")
    ap.add_argument("--merchants", type=int, default=100_000, help="merchant values 0..N-1, uniform")
    ap.add_argument("--rate", type=int, default=1_000_000, help="events per second of event time")
    ap.add_argument("--batch", type=int, default=32, help="records per datagram")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--lcores", default="0,0,1",
                    help="main, RX, worker (default 0,0,1: main and RX share CPU 0, the worker has CPU 1)")
    ap.add_argument("--idle-sleep", default="20us")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "weir-bench"),
                    help="captures (shared with e2e_bench.py)")
    ap.add_argument("--sink-dir", help="where the timed runs' results go (deleted after each run; default a "
                    "temporary directory)")
    ap.add_argument("--json")
    ap.add_argument("--verify", action="store_true", help="small runs, results checked (see above)")
    ap.add_argument("--verify-events", type=int, default=200_000)
    ap.add_argument("--callgrind", action="store_true", help="instructions per event under callgrind")
    ap.add_argument("--callgrind-events", type=int, default=500_000)
    ap.add_argument("--callgrind-keys", type=int, default=10_000, help="record keys and merchants")
    ap.add_argument("--callgrind-rate", type=int, default=100_000)
    ap.add_argument("--callgrind-dir", help="keep the callgrind.CONFIG.out files here")
    a = ap.parse_args()
    names = [n for n in a.configs.split(",") if n]
    for n in names:
        if n not in CONFIGS:
            ap.error("unknown config %s (%s)" % (n, ", ".join(ORDER)))
    a.tsc_fallback = eb.tsc_hz_fallback()
    os.makedirs(a.cache, exist_ok=True)
    if a.callgrind_dir:
        os.makedirs(a.callgrind_dir, exist_ok=True)
    a.ranges = gen_supports_ranges(a.gen)
    if not a.ranges:
        log("NOTE: this weir-gen has no name:u64/N: merchant is uniform in 0..2^20-1 (1 M merchants, "
            "not --merchants %d)" % a.merchants)
    try:
        if a.verify:
            return 0 if verify(a, names) else 1
        doc = {"machine": eb.machine_info(), "commit": eb.git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "config": {"lcores": a.lcores, "idle_sleep": a.idle_sleep, "workers": a.workers, "rx_cores": 1,
                          "runs": a.runs, "batch": a.batch, "device": "net_pcap", "events": a.events,
                          "keys": a.keys, "merchants": a.merchants if a.ranges else 1 << 20, "rate": a.rate},
               "queries": {q: QUERIES[q] for q in sorted({q for n in names for q in CONFIGS[n]})},
               "configs": None, "callgrind": None}
        if a.runs > 0:
            pcap, w, res = bench(a, names)
            doc["config"]["generator"] = eb.gen_args(w, a.events, a.batch)
            doc["configs"] = res
            print_table(res, a.runs)
            doc["machine"]["tsc_hz"] = next((r["tsc_hz"] for c in res.values() for r in c["runs"]), None)
        if a.callgrind:
            doc["callgrind"] = callgrind(a, names)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(doc, f, indent=1)
    except eb.Skip as e:
        log("SKIP: " + str(e))
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
