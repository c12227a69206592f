#!/usr/bin/env python3
"""End-to-end throughput benchmark: a WEV capture replayed through net_pcap into
`weir run` (1 RX core, 1 worker, keyed tumbling count+sum), compared with
dpdk-testpmd --forward-mode=rxonly on the same capture (the I/O ceiling).

    bench/e2e_bench.py --weir build/weir --gen build/tools/weir-gen [--events 10000000]

Prints one line per run and the medians; --json FILE writes them for tools/bench-report.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CONFIG = """[dataplane]
devices = net_pcap0,rx_pcap={pcap}
rx_cores = 1
workers = 1
lcores = {lcores}
exit_on_eos = true
idle_sleep = {idle_sleep}
backpressure = block

[source tx]
format = wev
udp_port = 7000
schema_id = 1
fields = amount:i64, merchant:u64
watermark_delay = 50ms

[query spend]
from = tx
window = {window}
aggregates = {aggs}
sink = file:{out}
"""


def make_capture(gen, path, events, keys, batch, dist):
    if os.path.exists(path):
        return
    tmp = path + ".tmp"
    subprocess.run([gen, "--out", tmp, "--events", str(events), "--keys", str(keys),
                    "--batch", str(batch), "--dist", dist, "--rate", "1000000",
                    "--disorder", "1000000", "--seed", "42"], check=True)
    os.rename(tmp, path)


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


def run_weir(weir, pcap, window, aggs, workdir, checkpoint_interval=None, lcores="auto", idle_sleep="off"):
    cfg = os.path.join(workdir, "bench.ini")
    stats = os.path.join(workdir, "stats.json")
    state = os.path.join(workdir, "state")
    subprocess.run(["rm", "-rf", state], check=True)
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pcap=pcap, window=window, aggs=aggs, out=os.path.join(workdir, "out.jsonl"),
                              lcores=lcores, idle_sleep=idle_sleep))
        if checkpoint_interval:
            f.write("\n[state]\ndir = %s\ncheckpoint_interval = %s\nretain = 3\n" % (state, checkpoint_interval))
    subprocess.run([weir, "run", cfg, "--stats-json", stats, "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    with open(stats) as f:
        return json.load(f)


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
    p.stdin.write("start\n")
    t0 = time.monotonic()
    deadline = t0 + 120
    done = None
    while time.monotonic() < deadline:
        p.stdin.write("show port stats 0\n")
        time.sleep(0.02)
        with lock:
            if counts and counts[-1][1] >= total:
                done = next(t for t, c in counts if c >= total)
                break
    try:
        p.stdin.write("stop\nquit\n")
        p.stdin.close()
    except BrokenPipeError:
        pass
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
    if done is None:
        return None
    return total / (done - t0)


def checkpoint_cost(a, pcap):
    """Throughput with checkpoints every INTERVAL against without, runs interleaved
    (so drift of a shared machine hits both alike); the state dir is on the disk
    next to the capture cache."""
    modes = [None] + a.checkpoint_interval
    rates = {m: [] for m in modes}
    ckpts = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(dir=a.cache) as wd:
        for i in range(a.runs):
            for m in modes:
                st = run_weir(a.weir, pcap, a.window, a.aggs, wd, m, a.lcores, a.idle_sleep)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--testpmd", default="/usr/bin/dpdk-testpmd")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--dist", default="uniform")
    ap.add_argument("--window", default="tumbling 1s")
    ap.add_argument("--aggs", default="count, sum(amount)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "weir-bench"))
    ap.add_argument("--json")
    ap.add_argument("--lcores", default="auto",
                    help="the [dataplane] lcores list: main, RX, worker (e.g. 0,1,1 keeps CPU 0 for the "
                         "main lcore and the threads it starts, such as the state plane)")
    ap.add_argument("--idle-sleep", default="off",
                    help="[dataplane] idle_sleep (lcores sharing a CPU need one to hand it over)")
    ap.add_argument("--checkpoint-interval", action="append", default=[],
                    help="also run with [state] checkpoints at this interval (repeatable): "
                         "throughput with checkpoints against without, runs interleaved")
    a = ap.parse_args()

    os.makedirs(a.cache, exist_ok=True)
    pcap = os.path.join(a.cache, "wev-%d-%d-%d-%s.pcap" % (a.events, a.keys, a.batch, a.dist))
    make_capture(a.gen, pcap, a.events, a.keys, a.batch, a.dist)
    packets = pcap_packets(pcap)

    if a.checkpoint_interval:
        return checkpoint_cost(a, pcap)
    rates = []
    with tempfile.TemporaryDirectory() as wd:
        for i in range(a.runs):
            st = run_weir(a.weir, pcap, a.window, a.aggs, wd, lcores=a.lcores, idle_sleep=a.idle_sleep)
            ev = st["total"]["rx_events"]
            rate = ev / st["elapsed_s"]
            rates.append(rate)
            print("weir run %d: %d events in %.3f s = %.2f M events/s (%d results)" %
                  (i + 1, ev, st["elapsed_s"], rate / 1e6, st["total"]["results_emitted"]))
    pmd = []
    if os.path.exists(a.testpmd):
        for i in range(a.runs):
            r = run_testpmd(a.testpmd, pcap, packets)
            if r:
                pmd.append(r)
                print("testpmd rxonly run %d: %.3f M packets/s = %.2f M events/s" %
                      (i + 1, r / 1e6, r * a.events / packets / 1e6))
    med = statistics.median(rates)
    res = {"workload": "%s %s" % (a.window, a.aggs), "events": a.events, "keys": a.keys, "batch": a.batch,
           "dist": a.dist, "weir_events_per_s": med, "runs": rates}
    line = "median: weir %.2f M events/s through 1 worker" % (med / 1e6)
    if pmd:
        ceiling = statistics.median(pmd) * a.events / packets
        res["testpmd_events_per_s"] = ceiling
        res["ratio_to_testpmd"] = med / ceiling
        line += "; testpmd rxonly ceiling %.2f M events/s; ratio %.2f" % (ceiling / 1e6, med / ceiling)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
