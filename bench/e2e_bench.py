#!/usr/bin/env python3
"""End-to-end throughput benchmark: WEV captures (weir-gen) replayed through net_pcap
into `weir run` (1 RX core, 1 worker), compared with dpdk-testpmd --forward-mode=rxonly
on the same capture (the I/O ceiling).

    bench/e2e_bench.py --weir build/weir --gen build/tools/weir-gen --workload all [--events 10000000]
    bench/e2e_bench.py --weir build/weir --gen build/tools/weir-gen --verify [--workload NAME]

Named workloads (--workload NAME, repeatable, or `all`):
  tumbling  keyed tumbling 1 s count + sum(amount), 100 k keys uniform, 1 M events/s of event time
  hopping   hopping 10 s / 1 s sum(amount), 10 k keys uniform, 100 k events/s of event time
            (~100 events per key and window)
  sessions  session windows (gap 200 ms) count + sum(amount), 100 k keys uniform at 1 M events/s:
            a key's events are ~100 ms apart (exponential gaps), so a session ends when its
            key goes quiet for 200 ms (e^-2, 14 % of the gaps): ~7 events per session, and
            sessions close all the time (weir-gen's uniform keys give this as they are)
  fraud     card-fraud rule: count, sum/min/max/avg(amount) per card, hopping 60 s / 10 s,
            1 M cards zipf (s 1.1), 50 k events/s of event time (with 10 M events 200 s: 20 of
            a card's 25 windows fire during the run, the last 5 at end of input)
  ysb       the Yahoo Streaming Benchmark's query: ad events (weir-gen --ysb, 100 campaigns x
            10 ads, random 64-bit ad ids), [source] key_map = the ad -> campaign join table,
            [query] filter = event_type == 0 (views), tumbling 10 s count per campaign
Each run reports events, wall-clock events/s (rx_events / elapsed_s) and events/s per worker
core: worker_events / (worker busy_cycles / TSC Hz), the worker's own cost (with the default
lcores = 0,0,1 the worker has CPU 1 to itself; the firings at end of input are not in
busy_cycles).  --json FILE writes medians and runs for tools/bench-report.

--verify runs every selected workload small (200 k events, parameters scaled so several
windows fire) and compares weir's results with a reference computed in Python from the
capture: tests/e2e/weir_ref.py for tumbling/hopping/sessions/fraud, and map + filter +
tumbling count written here for ysb.

Without --workload and --verify: one custom workload from --window/--aggs/--keys/--dist
(the checkpoint-cost mode, --checkpoint-interval, uses it).
"""
import argparse
import hashlib
import heapq
import json
import os
import platform
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True     # imports from the source tree leave no __pycache__ there
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INF = float("inf")

CONFIG = """[dataplane]
devices = net_pcap0,rx_pcap={pcap}
rx_cores = 1
workers = {workers}
lcores = {lcores}
exit_on_eos = true
idle_sleep = {idle_sleep}
backpressure = block
fused = {fused}

[source {src}]
format = wev
udp_port = 7000
schema_id = 1
fields = {fields}
watermark_delay = {delay}
{source_extra}
[query {query}]
from = {src}
window = {window}
aggregates = {aggs}
sink = file:{out}
{query_extra}"""

TX_FIELDS = "amount:i64, merchant:u64"
YSB_FIELDS = "event_type:u64, user_id:u64, page_id:u64"

# gen: weir-gen arguments (besides --out, --events, --batch, --seed); verify: what the
# small --verify configuration changes.  target: (metric, value, text) from issue 6.
WORKLOADS = {
    "tumbling": dict(
        about="keyed tumbling 1 s count + sum(amount), 100 k keys uniform",
        src="tx", query="spend", fields=TX_FIELDS, window="tumbling 1s", aggs="count, sum(amount)",
        gen={"--keys": "100000", "--dist": "uniform", "--rate": "1000000", "--disorder": "1000000"},
        verify={"--rate": "50000"},
        target=("worker_core_events_per_s", 20e6, ">= 20 M events/s per worker core")),
    "hopping": dict(
        about="hopping 10 s / 1 s sum(amount), 10 k keys uniform",
        src="tx", query="hop", fields=TX_FIELDS, window="hopping 10s 1s", aggs="sum(amount)",
        gen={"--keys": "10000", "--dist": "uniform", "--rate": "100000", "--disorder": "1000000"},
        verify={"--keys": "2000", "--rate": "10000"}),
    "sessions": dict(
        about="session windows, gap 200 ms, count + sum(amount), 100 k keys uniform (~7 events/session)",
        src="tx", query="sess", fields=TX_FIELDS, window="session 200ms", aggs="count, sum(amount)",
        gen={"--keys": "100000", "--dist": "uniform", "--rate": "1000000", "--disorder": "1000000"},
        verify={"--keys": "5000", "--rate": "50000"}),
    "fraud": dict(
        about="card fraud: count, sum/min/max/avg(amount) per card, hopping 60 s / 10 s, 1 M cards zipf",
        src="tx", query="fraud", fields=TX_FIELDS, window="hopping 60s 10s",
        aggs="count, sum(amount), min(amount), max(amount), avg(amount)",
        gen={"--keys": "1000000", "--dist": "zipf", "--rate": "50000", "--disorder": "1000000"},
        verify={"--keys": "20000", "--rate": "1000"}),
    "ysb": dict(
        about="YSB: views (filter event_type == 0) mapped ad -> campaign (key_map), tumbling 10 s count",
        src="ads", query="campaigns", fields=YSB_FIELDS, window="tumbling 10s", aggs="count",
        gen={"--ysb-campaigns": "100", "--ysb-ads-per-campaign": "10", "--dist": "uniform",
             "--rate": "200000", "--disorder": "1000000"},
        verify={"--rate": "5000", "--ysb-unmapped": "0.01"},
        ysb=True,
        target=("events_per_s", 6e6, "> 6 M events/s")),
}
ORDER = ["tumbling", "hopping", "sessions", "fraud", "ysb"]


class Skip(Exception):
    pass


# ---------------------------------------------------------------- machine, commit

def tsc_hz_fallback():
    """The TSC rate when the stats do not carry tsc_hz: /proc/cpuinfo's "cpu MHz"
    (on a VM with a constant TSC that is the TSC rate the guest was given)."""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", f.read(), re.M)
        return float(m.group(1)) * 1e6 if m else None
    except OSError:
        return None


def cpu_busy_s():
    """CPU seconds the whole machine has been busy (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1).strip() if m else platform.processor()
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) * 1024
    except (OSError, AttributeError):
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_bytes": mem, "kernel": platform.release(),
            "dpdk": _out(["pkg-config", "--modversion", "libdpdk"]) or "unknown",
            "hostname": platform.node()}


def git_commit(root=ROOT):
    c = _out(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    if not c:
        return "unknown"
    dirty = _out(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
    return c + ("-dirty" if dirty else "")


# ---------------------------------------------------------------- captures

def gen_args(w, events, batch, verify=False):
    g = dict(w["gen"])
    if verify:
        g.update(w.get("verify", {}))
    args = ["--events", str(events), "--batch", str(batch), "--seed", "42"]
    for k, v in g.items():
        args += [k] if v is None else [k, v]
    return args


def make_capture(gen, path, args, ysb_map=None):
    """weir-gen ARGS into PATH (kept: a cached capture is reused when its name, a hash of
    the arguments and of the weir-gen binary, matches)."""
    if os.path.exists(path) and (ysb_map is None or os.path.exists(ysb_map)):
        return
    tmp = path + ".tmp"
    extra = ["--ysb-map", ysb_map + ".tmp"] if ysb_map else []
    p = subprocess.run([gen, "--out", tmp] + args + extra, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, timeout=1800)
    if p.returncode:
        raise RuntimeError("weir-gen %s failed: %s" % (" ".join(args), p.stderr.strip()))
    if ysb_map:
        os.rename(ysb_map + ".tmp", ysb_map)
    os.rename(tmp, path)


def capture_for(a, name, w, events, verify=False, cache=None):
    args = gen_args(w, events, a.batch, verify)
    try:
        st = os.stat(a.gen)
        binid = "%d-%d" % (st.st_size, int(st.st_mtime))
    except OSError:
        binid = ""
    h = hashlib.sha1((" ".join(args) + binid).encode()).hexdigest()[:10]
    pcap = os.path.join(cache or a.cache, "wev-%d-%s.pcap" % (events, h))     # shared by equal arguments
    ysb_map = pcap[:-5] + ".map.csv" if w.get("ysb") else None
    make_capture(a.gen, pcap, args, ysb_map)
    return pcap, ysb_map


def pcap_frames(path):
    """The frames of a classic little-endian pcap, in order (weir-gen's captures)."""
    with open(path, "rb") as f:
        data = f.read()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        yield data[off + 16: off + 16 + incl]
        off += 16 + incl


def pcap_packets(path):
    """Count records in a classic pcap (our own tiny reader: no dependency)."""
    n = 0
    with open(path, "rb") as f:
        f.seek(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return n
            incl = int.from_bytes(h[8:12], "little")
            f.seek(incl, 1)
            n += 1


# ---------------------------------------------------------------- weir

def eal_memory_failure(stderr):
    return "EAL init failed" in stderr and ("memory" in stderr or "hugepage" in stderr)


FUSED = {"on": False}    # --fused: RX core and worker on one lcore (`fused = true`)


def write_config(path, w, pcap, out, lcores, idle_sleep, workers=1, ysb_map=None, ysb_full=True,
                 checkpoint_interval=None, state=None):
    src_extra = qry_extra = ""
    if ysb_map and ysb_full:
        src_extra = "key_map = %s\n" % ysb_map
        qry_extra = "filter = event_type == 0\n"
    with open(path, "w") as f:
        f.write(CONFIG.format(pcap=pcap, workers=workers, lcores=lcores, idle_sleep=idle_sleep,
                              fused="true" if FUSED["on"] else "false", src=w["src"],
                              fields=w["fields"], delay=w.get("delay", "50ms"), source_extra=src_extra,
                              query=w["query"], window=w["window"], aggs=w["aggs"], out=out,
                              query_extra=qry_extra))
        if checkpoint_interval:
            f.write("\n[state]\ndir = %s\ncheckpoint_interval = %s\nretain = 3\n" % (state, checkpoint_interval))


def run_weir_cfg(weir, cfg, stats, timeout=600):
    try:
        p = subprocess.run([weir, "run", cfg, "--stats-json", stats, "--no-progress"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError("weir run %s did not finish within %d s" % (cfg, timeout))
    if p.returncode:
        if eal_memory_failure(p.stderr):
            raise Skip(p.stderr.strip().splitlines()[-1])
        raise RuntimeError("weir run %s exited %d:\n%s" % (cfg, p.returncode, p.stderr[-3000:]))
    with open(stats) as f:
        return json.load(f)


def run_weir(weir, pcap, w, workdir, checkpoint_interval=None, lcores="0,0,1", idle_sleep="20us", workers=1,
             ysb_map=None, ysb_full=True, sink=None):
    cfg = os.path.join(workdir, "bench.ini")
    stats = os.path.join(workdir, "stats.json")
    state = os.path.join(workdir, "state")
    subprocess.run(["rm", "-rf", state], check=True)
    out = sink or os.path.join(workdir, "out.jsonl")
    write_config(cfg, w, pcap, out, lcores, idle_sleep, workers, ysb_map, ysb_full, checkpoint_interval, state)
    return run_weir_cfg(weir, cfg, stats)


_ysb_support = {}


def ysb_supported(weir, workdir):
    """Does this weir take [source] key_map and [query] filter?  (`weir check`)"""
    if weir not in _ysb_support:
        cfg = os.path.join(workdir, "ysb-check.ini")
        m = os.path.join(workdir, "ysb-check.csv")
        with open(m, "w") as f:
            f.write("# ad,campaign\n1,2\n")
        write_config(cfg, WORKLOADS["ysb"], "/dev/null", os.path.join(workdir, "o.jsonl"), "0", "20us",
                     ysb_map=m)
        p = subprocess.run([weir, "check", cfg], capture_output=True, text=True, timeout=60)
        _ysb_support[weir] = p.returncode == 0
        if p.returncode:
            print("NOTE: this weir does not take key_map/filter yet (%s): ysb runs WITHOUT them "
                  "(counts per ad over every event type)" % (p.stderr.strip().splitlines() or ["?"])[-1])
    return _ysb_support[weir]


def metrics(st, tsc_fallback):
    """One run's numbers from its --stats-json."""
    tot = st["total"]
    wk = [c for c in st.get("cores", []) if c.get("role") == "worker"]
    hz, src = st.get("tsc_hz"), "stats"
    if not hz:
        hz, src = tsc_fallback, "/proc/cpuinfo cpu MHz (fallback: the stats have no tsc_hz)"
    wev = sum(c.get("worker_events", 0) for c in wk)
    busy = sum(c.get("busy_cycles", 0) for c in wk)
    r = {"events": tot["rx_events"], "elapsed_s": st["elapsed_s"],
         "events_per_s": tot["rx_events"] / st["elapsed_s"] if st["elapsed_s"] > 0 else 0,
         "worker_events": wev, "worker_busy_s": busy / hz if hz else None,
         "worker_core_events_per_s": wev / (busy / hz) if hz and busy else None,
         "results": tot.get("results_emitted", 0), "late_dropped": tot.get("late_dropped", 0),
         "ring_full": tot.get("ring_full", 0), "tsc_hz": hz, "tsc_hz_source": src}
    if "key_map_missed" in tot:
        r["key_map_missed"] = tot["key_map_missed"]
    filt = sum(q.get("filtered", 0) for q in st.get("queries", {}).values())
    if any("filtered" in q for q in st.get("queries", {}).values()):
        r["filtered"] = filt
    return r


# ---------------------------------------------------------------- testpmd

def run_testpmd(testpmd, pcap, total):
    """rxonly over the same capture: time until every packet has been received."""
    huge = "--in-memory"
    meminfo = open("/proc/meminfo").read()
    if int(re.search(r"HugePages_Free:\s+(\d+)", meminfo).group(1)) == 0:
        huge = "--no-huge"
    args = [testpmd, "-l", "0-1", "--no-pci", huge, "--file-prefix", "weirbench%d" % os.getpid(),
            "--log-level=*:warning", "--vdev", "net_pcap0,rx_pcap=%s" % pcap, "--",
            "-i", "--forward-mode=rxonly", "--total-num-mbufs=16384"]
    if huge == "--no-huge":
        args[5:5] = ["-m", "512"]
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, bufsize=1)
    counts = []
    lock = threading.Lock()

    def reader():
        for line in p.stdout:
            m = re.search(r"RX-packets:\s+(\d+)", line)
            if m:
                with lock:
                    counts.append((time.monotonic(), int(m.group(1))))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    time.sleep(1.0)
    done = None
    try:
        p.stdin.write("start\n")
        t0 = time.monotonic()
        deadline = t0 + 120
        while time.monotonic() < deadline and p.poll() is None:
            p.stdin.write("show port stats 0\n")
            time.sleep(0.005)
            with lock:
                if counts and counts[-1][1] >= total:
                    done = next(t for t, c in counts if c >= total)
                    break
        p.stdin.write("stop\nquit\n")
        p.stdin.close()
    except BrokenPipeError:
        pass
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
    if done is None:
        return None
    return total / (done - t0)


# ---------------------------------------------------------------- workloads

def custom_workload(a):
    return dict(about="%s %s, %d keys %s" % (a.window, a.aggs, a.keys, a.dist), src="tx", query="spend",
                fields=TX_FIELDS, window=a.window, aggs=a.aggs,
                gen={"--keys": str(a.keys), "--dist": a.dist, "--rate": "1000000", "--disorder": "1000000"})


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def bench_workload(a, name, w, events):
    pcap, ysb_map = capture_for(a, name, w, events)
    packets = pcap_packets(pcap)
    ysb_full = True
    runs = []
    with tempfile.TemporaryDirectory(prefix="weir-bench-") as wd:
        if w.get("ysb"):
            ysb_full = ysb_supported(a.weir, wd)
        for i in range(a.runs):
            t0, busy0, ours0 = time.monotonic(), cpu_busy_s(), children_cpu_s()
            st = run_weir(a.weir, pcap, w, wd, lcores=a.lcores, idle_sleep=a.idle_sleep, workers=a.workers,
                          ysb_map=ysb_map, ysb_full=ysb_full, sink=a.sink)
            dt = time.monotonic() - t0
            m = metrics(st, a.tsc_fallback)
            # CPU the rest of the machine used meanwhile (other jobs skew a shared machine's numbers)
            foreign = (cpu_busy_s() - busy0) - (children_cpu_s() - ours0)
            m["foreign_cpu_pct"] = round(max(0.0, 100 * foreign / dt / (os.cpu_count() or 1)), 1)
            if not a.sink:
                try:
                    os.unlink(os.path.join(wd, "out.jsonl"))
                except OSError:
                    pass
            runs.append(m)
            print("%s: weir run %d: %d events in %.3f s = %.2f M events/s wall, %s M events/s per worker core "
                  "(%d results; other jobs' CPU %.0f %%)" %
                  (name, i + 1, m["events"], m["elapsed_s"], m["events_per_s"] / 1e6,
                   "%.2f" % (m["worker_core_events_per_s"] / 1e6) if m["worker_core_events_per_s"] else "?",
                   m["results"], m["foreign_cpu_pct"]), flush=True)
    pmd = []
    if a.testpmd and os.path.exists(a.testpmd):
        for i in range(a.runs):
            t0, busy0, ours0 = time.monotonic(), cpu_busy_s(), children_cpu_s()
            r = run_testpmd(a.testpmd, pcap, packets)
            foreign = (cpu_busy_s() - busy0) - (children_cpu_s() - ours0)
            fpct = max(0.0, 100 * foreign / (time.monotonic() - t0) / (os.cpu_count() or 1))
            if r:
                pmd.append(r * events / packets)
                print("%s: testpmd rxonly run %d: %.3f M packets/s = %.2f M events/s (other jobs' CPU %.0f %%)" %
                      (name, i + 1, r / 1e6, r * events / packets / 1e6, fpct), flush=True)
            else:
                print("%s: testpmd rxonly run %d: did not receive all %d packets" % (name, i + 1, packets))
    else:
        print("%s: no testpmd (%s): no I/O ceiling" % (name, a.testpmd or "--testpmd ''"))
    res = {"name": name, "about": w["about"], "window": w["window"], "aggregates": w["aggs"],
           "generator": gen_args(w, events, a.batch), "events": events, "packets": packets,
           "record_size": 16 + 8 * len(w["fields"].split(",")),
           "events_per_s": median(r["events_per_s"] for r in runs),
           "worker_core_events_per_s": median(r["worker_core_events_per_s"] for r in runs),
           "testpmd_events_per_s": median(pmd), "testpmd_runs": pmd,
           "results": statistics.median_low([r["results"] for r in runs]) if runs else None, "runs": runs,
           "tsc_hz_source": runs[0]["tsc_hz_source"] if runs else None}
    res["ratio_to_testpmd"] = (res["events_per_s"] / res["testpmd_events_per_s"]
                               if res["events_per_s"] and res["testpmd_events_per_s"] else None)
    if w.get("ysb"):
        res["key_map_and_filter"] = ysb_full
        if not ysb_full:
            res["note"] = "weir without key_map/filter: counts per ad over every event type"
    if w.get("target"):
        metric, value, text = w["target"]
        got = res.get(metric)
        res["target"] = {"metric": metric, "value": value, "text": text,
                         "met": None if got is None else (got >= value if text.startswith(">=") else got > value)}
    line = "%s: median %.2f M events/s wall, %s M events/s per worker core, %s results" % (
        name, (res["events_per_s"] or 0) / 1e6,
        "%.2f" % (res["worker_core_events_per_s"] / 1e6) if res["worker_core_events_per_s"] else "?",
        res["results"])
    if res["ratio_to_testpmd"]:
        line += "; testpmd rxonly %.2f M events/s, ratio %.2f" % (res["testpmd_events_per_s"] / 1e6,
                                                                   res["ratio_to_testpmd"])
    print(line, flush=True)
    return res


def checkpoint_cost(a, pcap):
    """Throughput with checkpoints every INTERVAL against without, runs interleaved
    (so drift of a shared machine hits both alike); the state dir is on the disk
    next to the capture cache."""
    w = custom_workload(a)
    modes = [None] + a.checkpoint_interval
    rates = {m: [] for m in modes}
    ckpts = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(dir=a.cache) as wd:
        for i in range(a.runs):
            for m in modes:
                st = run_weir(a.weir, pcap, w, wd, m, a.lcores, a.idle_sleep, a.workers)
                rate = st["total"]["rx_events"] / st["elapsed_s"]
                rates[m].append(rate)
                c = st.get("checkpoints", {})
                ckpts[m].append(c.get("completed", 0))
                print("run %d, checkpoints %-6s: %.2f M events/s in %.2f s (%s checkpoints, last %.1f ms, "
                      "longest worker pause %.1f us)" %
                      (i + 1, m or "off", rate / 1e6, st["elapsed_s"], c.get("completed", "no"),
                       c.get("last_duration_ms", 0), st["total"].get("checkpoint_pause_max_us", 0)))
    base = statistics.median(rates[None])
    res = {"events": a.events, "keys": a.keys, "off_events_per_s": base, "with": {}}
    for m in a.checkpoint_interval:
        med = statistics.median(rates[m])
        res["with"][m] = {"events_per_s": med, "loss": 1 - med / base, "checkpoints": ckpts[m]}
        print("median: checkpoints every %s: %.2f M events/s vs %.2f M without: %.1f%% lost" %
              (m, med / 1e6, base / 1e6, 100 * (1 - med / base)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


# ---------------------------------------------------------------- --verify

def fast_ref_class():
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import weir_ref

    class FastRef(weir_ref.Ref):
        """weir_ref's reference, unchanged in what it computes, made quick enough for
        200 k events when allowed_lateness is 0 (the workloads' case):
        - tumbling/hopping: a window can only become complete when the watermark
          reaches a slide boundary, so the reference's scan for complete windows runs
          only when the watermark has passed the first boundary after every record
          applied since the last scan;
        - sessions: every session a record touched goes on a heap by its end; firing
          pops those whose end the watermark has reached (weir_ref's condition: dirty,
          watermark >= end) instead of scanning them all; sessions no record can reach
          any more (fired, watermark >= end + GAP) are forgotten now and then."""

        def apply(self, q, t, key, vals):
            super().apply(q, t, key, vals)
            if q.lateness:
                return
            if q.kind != "session":
                q.nxt = min(getattr(q, "nxt", INF), (t // q.slide + 1) * q.slide)
                return
            for w in q.windows.get(key, ()):
                if w.dirty and w.start <= t < w.end:
                    heapq.heappush(q.__dict__.setdefault("heap", []), (w.end, id(w), key, w))

        def fire_complete(self, q):
            if q.lateness:
                return super().fire_complete(q)
            if q.kind != "session":
                if q.wm < getattr(q, "nxt", INF):
                    return
                super().fire_complete(q)
                q.nxt = INF
                return
            heap = q.__dict__.setdefault("heap", [])
            while heap and heap[0][0] <= q.wm:
                end, _, key, w = heapq.heappop(heap)
                if w.dirty and w.end == end and any(x is w for x in q.windows.get(key, ())):
                    weir_ref.fire(q, key, w)
            q.scans = getattr(q, "scans", 0) + 1
            if q.scans % 256 == 0 or q.wm == INF:
                for key in list(q.windows):
                    keep = [w for w in q.windows[key] if w.dirty or q.wm < w.end + q.size]
                    if keep:
                        q.windows[key] = keep
                    else:
                        del q.windows[key]

    return weir_ref, FastRef


def compare(got, exp):
    """weir's results against the reference's: the same set of (query, key, window_start,
    revision), the same fields, the same values (f64 to 1e-9 relative)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    import e2e
    return e2e.compare_results(got, exp)


def ysb_reference(pcap, ysb_map, w, full):
    """YSB from the capture alone: map ad -> campaign (unmapped: dropped, counted), keep
    views (event_type == 0; the others counted as filtered), count per campaign and
    tumbling 10 s window.  Watermarks as the semantics say (moved by every record, per
    batch); a record behind the watermark for its window would be late."""
    size = 10 * 10**9
    delay = 50 * 10**6
    amap = {}
    with open(ysb_map) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                ad, camp = line.split(",")
                amap[int(ad)] = int(camp)
    counts, missed, filtered, late, events = {}, 0, 0, 0, 0
    maxt = None
    for fr in pcap_frames(pcap):
        # weir-gen's plain frames: Ethernet, IPv4 (20 bytes), UDP, WEV
        if struct.unpack_from(">H", fr, 12)[0] != 0x0800 or struct.unpack_from(">H", fr, 36)[0] != 7000:
            raise RuntimeError("unexpected frame in the ysb capture")
        p = fr[42:]
        magic, _, flags, count, rs = struct.unpack_from("<IBBHH", p, 0)
        assert magic == 0x31564557 and rs == 40
        wm = -INF if maxt is None else maxt - delay
        for i in range(count):
            t, ad, etype = struct.unpack_from("<qQQ", p, 24 + i * rs)
            events += 1
            maxt = t if maxt is None else max(maxt, t)
            key = ad
            if full:
                if ad not in amap:
                    missed += 1
                    continue
                key = amap[ad]
                if etype != 0:
                    filtered += 1
                    continue
            start = t - t % size
            if wm >= start + size:
                late += 1
                continue
            counts[(key, start)] = counts.get((key, start), 0) + 1
    results = [{"query": w["query"], "key": k, "window_start": s, "window_end": s + size, "revision": 0,
                "count": n} for (k, s), n in counts.items()]
    return results, {"events": events, "key_map_missed": missed, "filtered": filtered, "late_dropped": late}


def verify_workload(a, name, w):
    events = a.verify_events
    with tempfile.TemporaryDirectory(prefix="weir-verify-") as wd:
        pcap, ysb_map = capture_for(a, name, w, events, verify=True, cache=wd)
        out = os.path.join(wd, "out.jsonl")
        cfg = os.path.join(wd, "verify.ini")
        full = ysb_supported(a.weir, wd) if w.get("ysb") else True
        write_config(cfg, w, pcap, out, a.lcores, a.idle_sleep, a.verify_workers, ysb_map, full)
        t0 = time.monotonic()
        st = run_weir_cfg(a.weir, cfg, os.path.join(wd, "stats.json"), timeout=120)
        t1 = time.monotonic()
        with open(out) as f:
            got = [json.loads(x) for x in f if x.strip()]
        errors = []
        if w.get("ysb"):
            exp, c = ysb_reference(pcap, ysb_map, w, full)
            if c["late_dropped"]:
                errors.append("the ysb capture has %d late records (the check assumes none)" % c["late_dropped"])
            checks = [("rx_events", st["total"]["rx_events"], c["events"]),
                      ("late_dropped", st["total"]["late_dropped"], c["late_dropped"])]
            if full:
                checks += [("key_map_missed", st["total"].get("key_map_missed"), c["key_map_missed"]),
                           ("filtered", st["queries"][w["query"]].get("filtered"), c["filtered"])]
        else:
            weir_ref, FastRef = fast_ref_class()
            ref = FastRef(cfg).run()
            exp = ref.results()
            rs = ref.stats()
            checks = [(k, st["total"][k], rs["total"][k]) for k in ("rx_events", "late_dropped")]
        t2 = time.monotonic()
        checks.append(("results_emitted", st["total"]["results_emitted"], len(exp)))
        checks.append(("result lines", len(got), len(exp)))
        for what, g, e in checks:
            if g != e:
                errors.append("%s is %s in weir, %s in the reference" % (what, g, e))
        err = compare(got, exp)
        if err:
            errors.append(err)
        fired = ("%d sessions" % len(exp) if w["window"].startswith("session") else
                 "%d windows" % len({r["window_start"] for r in exp}))
        note = "" if full else " (WITHOUT key_map/filter: this weir does not take them yet)"
        if errors:
            print("FAIL verify %s%s: %s" % (name, note, "; ".join(errors)), flush=True)
            return False
        print("ok   verify %s%s: %d events, %d workers, %d results in %s = reference (%s; weir %.1f s, "
              "reference %.1f s)" % (name, note, st["total"]["rx_events"], a.verify_workers, len(exp), fired,
                           ", ".join("%s %s" % (k, g) for k, g, _ in checks[:-2]), t1 - t0, t2 - t1), flush=True)
        return True


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--testpmd", default="/usr/bin/dpdk-testpmd", help="'' for none")
    ap.add_argument("--workload", action="append", default=[],
                    help="named workload (repeatable) or 'all': " + ", ".join(ORDER))
    ap.add_argument("--verify", action="store_true",
                    help="run the workloads small and compare with the Python reference (all without --workload)")
    ap.add_argument("--verify-events", type=int, default=200_000)
    ap.add_argument("--verify-workers", type=int, default=2,
                    help="workers in the --verify runs (2: keys, and ysb's campaigns after key_map, are sharded)")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--keys", type=int, default=100_000, help="custom workload")
    ap.add_argument("--batch", type=int, default=32, help="records per datagram")
    ap.add_argument("--dist", default="uniform", help="custom workload")
    ap.add_argument("--window", default="tumbling 1s", help="custom workload")
    ap.add_argument("--aggs", default="count, sum(amount)", help="custom workload")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--sink", help="results file for the throughput runs (default: a temporary file)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "weir-bench"))
    ap.add_argument("--json")
    ap.add_argument("--lcores", default="0,0,1",
                    help="the [dataplane] lcores list: main, RX, worker (default 0,0,1: main and RX share "
                         "CPU 0, the worker has CPU 1 alone, so its busy cycles measure it alone)")
    ap.add_argument("--idle-sleep", default="20us",
                    help="[dataplane] idle_sleep (lcores sharing a CPU need one to hand it over)")
    ap.add_argument("--fused", action="store_true",
                    help="`fused = true`: the RX core runs the worker on its lcore (lcores default 0,1 then: "
                         "main on CPU 0, the fused lcore alone on CPU 1); needs --workers 1")
    ap.add_argument("--checkpoint-interval", action="append", default=[],
                    help="also run with [state] checkpoints at this interval (repeatable): "
                         "throughput with checkpoints against without, runs interleaved")
    a = ap.parse_args()
    a.tsc_fallback = tsc_hz_fallback()
    if a.fused:
        FUSED["on"] = True
        if a.lcores == ap.get_default("lcores"):
            a.lcores = "0,1"
        a.verify_workers = a.workers
    names = []
    for n in a.workload:
        for x in n.split(","):
            if x == "all":
                names += ORDER
            elif x in WORKLOADS:
                names.append(x)
            else:
                ap.error("unknown workload %s (%s, all)" % (x, ", ".join(ORDER)))
    names = list(dict.fromkeys(names))
    os.makedirs(a.cache, exist_ok=True)

    try:
        if a.verify:
            ok = True
            for n in names or ORDER:
                ok &= verify_workload(a, n, WORKLOADS[n])
            print("%s: verify %s" % ("PASS" if ok else "FAIL", ", ".join(names or ORDER)))
            return 0 if ok else 1

        if a.checkpoint_interval or not names:
            w = custom_workload(a)
            if a.checkpoint_interval:
                pcap, _ = capture_for(a, "custom", w, a.events)
                return checkpoint_cost(a, pcap)
            todo = [("custom", w)]
        else:
            todo = [(n, WORKLOADS[n]) for n in names]
        res = {"machine": machine_info(), "commit": git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "config": {"lcores": a.lcores, "idle_sleep": a.idle_sleep, "workers": a.workers, "rx_cores": 1,
                          "fused": a.fused,
                          "runs": a.runs, "batch": a.batch, "device": "net_pcap"},
               "workloads": []}
        for n, w in todo:
            res["workloads"].append(bench_workload(a, n, w, a.events))
        res["machine"]["tsc_hz"] = next((r["tsc_hz"] for wl in res["workloads"] for r in wl["runs"]), None)
        res["machine"]["tsc_hz_source"] = next((wl["tsc_hz_source"] for wl in res["workloads"]), None)
        if res["machine"]["tsc_hz_source"] and res["machine"]["tsc_hz_source"] != "stats":
            print("NOTE: TSC rate from /proc/cpuinfo (the stats JSON has no tsc_hz)")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    except Skip as e:
        print("SKIP: " + str(e))
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
