#!/usr/bin/env python3
"""What a client hammering the admin server costs the dataplane.

    bench/admin_bench.py --weir build/weir --gen build/tools/weir-gen [--runs N] [--events N] [--json OUT]

The tumbling workload of e2e_bench.py (keyed tumbling 1 s count + sum(amount), 100 k keys,
1 RX core and 1 worker on lcores 0,0,1, exit_on_eos) with [admin] listen on a loopback port,
in two modes, interleaved A B A B ...:
  idle      the admin server is up, nobody asks it anything
  hammered  a separate process (this script with --hammer PORT) asks for /metrics and
            /api/stats alternately, as fast as it can, on a keep-alive connection
            (reconnecting when the server closes it), from before weir starts until it exits
Each run's events/s is rx_events / elapsed_s of its --stats-json (the dataplane's own clock,
started just before the admin server), as in e2e_bench.py; also the worker's events per
busy second, the requests the hammer got answered, and the CPU other jobs took meanwhile
(a shared machine skews both modes; interleaving spreads that over both).  Prints the
median of each mode and the ratio hammered/idle; --json OUT writes them with every run.
A benchmark: it asserts nothing about speed.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e_bench as eb  # noqa: E402

WORKLOAD = "tumbling"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------- the hammer (own process)

def hammer(port, out):
    """GET /metrics and /api/stats alternately until SIGTERM; counts to `out` (JSON)."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    n = {"ok": 0, "other_status": 0, "errors": 0, "connects": 0, "refused": 0, "bytes": 0}
    first = last = None
    c = None
    paths = ("/metrics", "/api/stats")
    i = 0
    while not stop:
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                c.connect()
                n["connects"] += 1
            except OSError:
                n["refused"] += 1       # weir not listening yet (or any more)
                c = None
                time.sleep(0.001)
                continue
        try:
            c.request("GET", paths[i & 1])
            r = c.getresponse()
            body = r.read()
            i += 1
            if r.status == 200:
                n["ok"] += 1
                n["bytes"] += len(body)
                last = time.monotonic()
                first = first or last
            else:
                n["other_status"] += 1
            if r.will_close:
                c.close()
                c = None
        except (OSError, http.client.HTTPException):
            n["errors"] += 1
            c.close()
            c = None
    n["answered_s"] = (last - first) if first and last else 0.0
    with open(out, "w") as f:
        json.dump(n, f)


# ---------------------------------------------------------------- runs

def one_run(a, pcap, wd, mode):
    port = free_port()
    cfg = os.path.join(wd, "bench.ini")
    stats = os.path.join(wd, "stats.json")
    out = os.path.join(wd, "out.jsonl")
    eb.write_config(cfg, eb.WORKLOADS[WORKLOAD], pcap, out, a.lcores, a.idle_sleep, workers=1)
    with open(cfg, "a") as f:
        f.write("\n[admin]\nlisten = 127.0.0.1:%d\n" % port)
    hp, hout = None, os.path.join(wd, "hammer.json")
    if mode == "hammered":
        hp = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--hammer", str(port), "--hammer-out", hout],
                              stdin=subprocess.DEVNULL)
    t0, busy0, ours0 = time.monotonic(), eb.cpu_busy_s(), eb.children_cpu_s()
    try:
        st = eb.run_weir_cfg(a.weir, cfg, stats, timeout=600)
    finally:
        if hp:
            hp.send_signal(signal.SIGTERM)
            try:
                hp.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hp.kill()
                hp.wait(timeout=10)
    dt = time.monotonic() - t0
    m = eb.metrics(st, a.tsc_fallback)
    foreign = (eb.cpu_busy_s() - busy0) - (eb.children_cpu_s() - ours0)
    m["foreign_cpu_pct"] = round(max(0.0, 100 * foreign / dt / (os.cpu_count() or 1)), 1)
    m["mode"] = mode
    if hp:
        try:
            with open(hout) as f:
                h = json.load(f)
        except (OSError, ValueError):
            h = {}
        m["hammer"] = h
        m["hammer_requests_per_s"] = h.get("ok", 0) / m["elapsed_s"] if m["elapsed_s"] else None
    try:
        os.unlink(out)
    except OSError:
        pass
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir")
    ap.add_argument("--gen")
    ap.add_argument("--runs", type=int, default=3, help="runs of each mode")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lcores", default="0,0,1")
    ap.add_argument("--idle-sleep", default="20us")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "weir-bench"))
    ap.add_argument("--json")
    ap.add_argument("--hammer", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--hammer-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.hammer:
        return hammer(a.hammer, a.hammer_out)
    if not a.weir or not a.gen:
        ap.error("--weir and --gen are required")
    os.makedirs(a.cache, exist_ok=True)
    a.tsc_fallback = eb.tsc_hz_fallback()
    w = eb.WORKLOADS[WORKLOAD]
    pcap, _ = eb.capture_for(a, WORKLOAD, w, a.events)
    print("admin-bench: %s, %d events (%s), %d runs per mode, lcores %s" %
          (w["about"], a.events, pcap, a.runs, a.lcores), flush=True)
    runs = {"idle": [], "hammered": []}
    with tempfile.TemporaryDirectory(prefix="weir-admin-bench-") as wd:
        for i in range(a.runs):
            for mode in ("idle", "hammered"):
                try:
                    m = one_run(a, pcap, wd, mode)
                except eb.Skip as e:
                    print("SKIP: %s" % e)
                    sys.exit(77)
                runs[mode].append(m)
                extra = ""
                if mode == "hammered":
                    h = m["hammer"]
                    extra = ", hammer: %d answers (%.0f/s), %d errors, %d connects" % (
                        h.get("ok", 0), m["hammer_requests_per_s"] or 0, h.get("errors", 0) + h.get("other_status", 0),
                        h.get("connects", 0))
                print("run %d %-8s: %d events in %.3f s = %.2f M events/s, %s M events/s per worker core%s "
                      "(other jobs' CPU %.0f %%)" %
                      (i + 1, mode, m["events"], m["elapsed_s"], m["events_per_s"] / 1e6,
                       "%.2f" % (m["worker_core_events_per_s"] / 1e6) if m["worker_core_events_per_s"] else "?",
                       extra, m["foreign_cpu_pct"]), flush=True)
    med = {k: eb.median(r["events_per_s"] for r in v) for k, v in runs.items()}
    wmed = {k: eb.median(r["worker_core_events_per_s"] for r in v) for k, v in runs.items()}
    ratio = med["hammered"] / med["idle"] if med["idle"] and med["hammered"] else None
    hreq = eb.median(r.get("hammer_requests_per_s") for r in runs["hammered"])
    print("admin-bench: median %.2f M events/s idle, %.2f M events/s hammered (%.0f answers/s): ratio %s" %
          ((med["idle"] or 0) / 1e6, (med["hammered"] or 0) / 1e6, hreq or 0,
           "%.3f" % ratio if ratio else "?"))
    if a.json:
        doc = {"benchmark": "admin", "workload": WORKLOAD, "about": w["about"], "events": a.events,
               "generator": eb.gen_args(w, a.events, a.batch), "lcores": a.lcores, "idle_sleep": a.idle_sleep,
               "commit": eb.git_commit(), "machine": eb.machine_info(),
               "median_events_per_s": med, "median_worker_core_events_per_s": wmed,
               "ratio_hammered_to_idle": ratio, "median_hammer_answers_per_s": hreq,
               "runs": runs, "order": "interleaved: idle, hammered, idle, hammered, ..."}
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
        print("admin-bench: wrote %s" % a.json)


if __name__ == "__main__":
    main()
