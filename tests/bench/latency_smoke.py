#!/usr/bin/env python3
"""Smoke test of the latency harness (bench/latency_bench.py, tools/weir-load): one 1 s run
at 200 k events/s over net_memif into `weir run`, checked against references that do not
come from weir:

  - every event weir-load sent is in weir's rx_events;
  - the results are exactly one per distinct (key, 1 ms window) pair weir-load sent (its own
    count), and the output file agrees: one line per result, distinct (key, window_start),
    revision 0, 1 ms windows inside the sent event-time span, counts summing to the events;
  - with `latency = on` (when this weir accepts it): both histograms count every result and
    0 < p50 <= p99 <= max.

Exit 77 (skip) when memif cannot work here (no memfd, no port, the link never comes up).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import types

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import latency_bench as lb  # noqa: E402

RATE = 200000
SECONDS = 1
WORKDIR = None


def fail(msg):
    print("latency-smoke: FAIL: %s\n(the run's files are kept in %s)" % (msg, WORKDIR), flush=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--keep", help="keep the run's files here")
    a = ap.parse_args()

    ncpu = os.cpu_count() or 1
    args = types.SimpleNamespace(
        weir=a.weir, load=a.load, seconds=SECONDS, batch=16, keys=1000,
        lcores="0,0,0", load_cpu=1 if ncpu > 1 else 0, idle_sleep="20us",
        hugepages="auto", load_hugepages="auto")
    try:
        lb.check_environment()
    except lb.Skip as e:
        print("latency-smoke: SKIP: %s" % e)
        return 77
    global WORKDIR
    workdir = WORKDIR = a.keep or tempfile.mkdtemp(prefix="weir-lat-smoke-")
    os.makedirs(workdir, exist_ok=True)
    latency, why = lb.latency_supported(a.weir, workdir)
    if not latency:
        print("latency-smoke: this weir does not accept `latency = on` yet (%s): latency checks skipped"
              % " ".join(why))
    try:
        r = lb.run_once(args, RATE, workdir, latency, "smoke")
    except lb.Skip as e:
        print("latency-smoke: SKIP: %s" % e)
        shutil.rmtree(workdir, ignore_errors=True)
        return 77
    except lb.RunError as e:
        fail(str(e))
    with open(os.path.join(workdir, "smoke", "load.json")) as f:
        ld = json.load(f)

    sent = ld["sent_events"]
    print("latency-smoke: weir-load sent %d events (%d tx drops), %d (key, window) pairs; weir: rx_events %s, "
          "results %s" % (sent, ld["tx_drop_events"], ld["key_windows"], r["rx_events"], r["results"]))
    if sent == 0:
        fail("weir-load sent nothing")
    if r["rx_events"] != sent:
        fail("weir received %s events, weir-load sent %d" % (r["rx_events"], sent))
    if r["results"] != ld["key_windows"]:
        fail("weir emitted %s results, weir-load sent %d distinct (key, 1 ms window) pairs"
             % (r["results"], ld["key_windows"]))

    # the output file, recomputed independently of weir's counters
    seen, total = set(), 0
    lo = ld["first_event_time"] // lb.WINDOW_NS * lb.WINDOW_NS
    hi = ld["last_event_time"]
    with open(r["out"]) as f:
        for n, line in enumerate(f, 1):
            o = json.loads(line)
            ws, we = o["window_start"], o["window_end"]
            if o["revision"] != 0 or we - ws != lb.WINDOW_NS or ws % lb.WINDOW_NS or not lo <= ws <= hi:
                fail("line %d: unexpected result %s (sent event times %d..%d)" % (n, line.strip(), lo, hi))
            if not 1 <= o["key"] <= args.keys:
                fail("line %d: key %s outside 1..%d" % (n, o["key"], args.keys))
            if (o["key"], ws) in seen:
                fail("line %d: (key %s, window %d) emitted twice" % (n, o["key"], ws))
            seen.add((o["key"], ws))
            total += o["count"]
    if len(seen) != ld["key_windows"]:
        fail("the output file has %d results, weir-load sent %d (key, window) pairs" % (len(seen), ld["key_windows"]))
    if total != sent:
        fail("the results count %d events, weir-load sent %d" % (total, sent))

    if latency:
        if not r["latency"]:
            fail("`latency = on` but the stats have no \"latency\" object")
        for k in ("arrival_to_sink", "watermark_to_sink", "arrival_to_ring"):
            d = r["latency"].get(k)
            if not d:
                fail("stats latency has no %s" % k)
            if d["count"] != r["results"]:
                fail("%s counts %s results, weir emitted %s" % (k, d["count"], r["results"]))
            if not 0 < d["p50_ns"] <= d["p99_ns"] <= d["max_ns"]:
                fail("%s: not 0 < p50 <= p99 <= max: %s" % (k, d))
            print("latency-smoke: %s p50 %.1f us, p99 %.1f us, max %.1f us"
                  % (k, d["p50_ns"] / 1e3, d["p99_ns"] / 1e3, d["max_ns"] / 1e3))
        a2s, a2r = r["latency"]["arrival_to_sink"], r["latency"]["arrival_to_ring"]
        for p in ("p50_ns", "p99_ns", "max_ns"):   # the ring comes before the sink, result by result
            if a2r[p] > a2s[p]:
                fail("arrival_to_ring %s %s ns > arrival_to_sink's %s ns" % (p, a2r[p], a2s[p]))
    print("latency-smoke: ok")
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
