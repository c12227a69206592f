#!/usr/bin/env python3
"""Latency benchmark: weir-load sends WEV/1 over net_memif at a fixed rate into `weir run`
(1 RX core, 1 worker, keyed tumbling 1 ms count+sum, watermark_delay 0, file sink), and
weir's `latency = on` histograms give arrival->sink and watermark->sink percentiles.

    bench/latency_bench.py --weir build/weir --load build/tools/weir-load \\
        [--rates 1e6,5e6,max] [--seconds 5] [--runs 3] [--json FILE]

Each rate runs --runs times; the table shows medians over the runs.  `max` searches for the
highest sustainable rate between --max-lo and --max-hi in at most --max-probes single runs
(sustainable: weir lost nothing -- port imissed 0, generator tx drops 0, every sent event in
weir's rx_events -- and the generator kept >= 98 % of its schedule; with --max-p99-us also
watermark->sink p99 within that bound), then measures it --runs times.  Lossless is not
the same as keeping up: with backpressure = block a sink that falls behind fills the
result rings first (RES_RING results per worker), so just above the knee a run loses
nothing but its latencies are the rings' depth.  The memif server is weir-load (it must
exist before weir's client port starts); weir-load runs pinned to --load-cpu, weir on
--lcores.  Each run also records how much CPU other jobs took meanwhile.

    bench/latency_bench.py --stats STATS.json [--load-json LOAD.json]

prints the table for one existing `weir run --stats-json` file (no runs).

    bench/latency_bench.py --query over --weir build/weir --load build/tools/weir-load --rates 1e6

replaces the tumbling query by the OVER fraud rule in SQL (docs/sql.md), per card (--keys,
default 100000 for it), an alert as soon as the event's batch is processed:
    SELECT key, amount, COUNT(*) OVER w AS n, SUM(amount) OVER w AS total FROM tx
    HAVING amount > 99000 AND COUNT(*) OVER w >= 2
    WINDOW w AS (PARTITION BY key ORDER BY event_time
                 RANGE BETWEEN INTERVAL '60' SECOND PRECEDING AND CURRENT ROW)
(weir-load's amount is uniform in 1..100000: about 1 % of the events alert once their card has
history).  An OVER result carries its own event's arrival stamp, so arrival->sink is packet
to alert; no watermark fires an OVER result, so the watermark->sink histogram means nothing
for it and the table says so instead of printing it (the max search's --max-p99-us then
bounds packet->alert p99).
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CONFIG = """[dataplane]
devices = net_memif0,role=client,socket={sock}{memif_args}
rx_cores = 1
workers = 1
lcores = {lcores}
hugepages = {hugepages}
exit_on_eos = true
idle_sleep = {idle_sleep}
{extra_lines}
[source tx]
format = wev
udp_port = 7000
schema_id = 1
fields = amount:i64, sent:u64
watermark_delay = 0

[query q]
{query_body}sink = file:{out}
"""

# the [query q] section's body (without sink) for each --query
QUERY_BODY = {
    "tumbling": """from = tx
window = tumbling 1ms
aggregates = count, sum(amount)
""",
    "over": """sql = SELECT key, amount, COUNT(*) OVER w AS n, SUM(amount) OVER w AS total FROM tx
      HAVING amount > 99000 AND COUNT(*) OVER w >= 2
      WINDOW w AS (PARTITION BY key ORDER BY event_time
                   RANGE BETWEEN INTERVAL '60' SECOND PRECEDING AND CURRENT ROW)
""",
}
QUERY_ABOUT = {"tumbling": "tumbling 1ms",
               "over": "OVER: per card, 60 s RANGE, HAVING amount > 99000 AND COUNT(*) >= 2"}
DEFAULT_KEYS = {"tumbling": 16, "over": 100000}

WINDOW_NS = 1000000           # the query's window: weir-load counts (key, window) pairs for it
PCTS = ("p50_ns", "p99_ns", "p999_ns", "max_ns")
LAT_KEYS = ("count", "min_ns", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns")
LAT_HISTS = ("arrival_to_sink", "watermark_to_sink", "arrival_to_ring")
ACHIEVED_MIN = 0.98           # of the target rate, for a run to count as sustainable


class Skip(Exception):
    """The machine cannot run memif (exit 77 in the smoke test)."""


class RunError(Exception):
    pass


def log(msg):
    print("latency-bench: " + msg, file=sys.stderr, flush=True)


def parse_rate(s):
    s = s.strip().lower()
    if s == "max":
        return "max"
    mult = 1
    for suf, m in (("k", 1e3), ("m", 1e6), ("g", 1e9)):
        if s.endswith(suf):
            s, mult = s[:-1], m
    return float(s) * mult


def hugepages_free():
    free, mounted = 0, False
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("HugePages_Free:"):
                    free = int(line.split()[1])
        with open("/proc/mounts") as f:
            mounted = any(" hugetlbfs " in line for line in f)
    except OSError:
        pass
    return free if mounted else 0


def socket_listening(path):
    """memif's listener: an abstract socket (@path) by default, a file with socket-abstract=no."""
    try:
        with open("/proc/net/unix") as f:
            for line in f:
                name = line.split()[-1] if len(line.split()) >= 8 else ""
                if name in (path, "@" + path):
                    return True
    except OSError:
        pass
    return os.path.exists(path)


def check_environment():
    """Raise Skip when memif cannot work here."""
    if not hasattr(os, "memfd_create"):
        return
    try:
        fd = os.memfd_create("weir-lat-probe")
        os.close(fd)
    except OSError as e:
        raise Skip("memfd_create failed (%s): memif shares its rings through memfd" % e)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.close()
    except OSError as e:
        raise Skip("no AF_UNIX SOCK_SEQPACKET sockets (%s): memif's control channel needs them" % e)


def config_accepted(weir, workdir, query="tumbling", latency=True):
    """(True, []) when this weir accepts the config of --query (with `[dataplane] latency = on`),
    else (False, the last line of `weir check`'s complaint)."""
    cfg = os.path.join(workdir, "probe.ini")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock="/tmp/weir-lat-probe.sock", memif_args="", lcores="0,0,0", hugepages="auto",
                              idle_sleep="20us", extra_lines="latency = on\n" if latency else "",
                              query_body=QUERY_BODY[query], out=os.path.join(workdir, "probe.jsonl")))
    r = subprocess.run([weir, "check", cfg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    return r.returncode == 0, r.stdout.strip().splitlines()[-1:] if r.returncode else []


def latency_supported(weir, workdir, query="tumbling"):
    """True when this weir accepts `[dataplane] latency = on` (weir check)."""
    return config_accepted(weir, workdir, query, latency=True)


def stop_process(p, name, grace=5.0):
    """SIGINT, then SIGKILL after grace seconds; returns the exit code."""
    if p.poll() is not None:
        return p.returncode
    log("%s (pid %d) still running: stopping it" % (name, p.pid))
    p.send_signal(signal.SIGINT)
    try:
        return p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(timeout=10)


def tail(path, n=6):
    """The last lines of a log; a sanitizer's report lines first when there is one."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip() for l in f if l.strip() and "mp action callback" not in l
                     and "legacy socket" not in l]
    except OSError:
        return ""
    san = [l for l in lines if "ERROR: AddressSanitizer" in l or "runtime error:" in l or l.startswith("SUMMARY:")
           or l.lstrip().startswith(("#0 ", "#1 ", "#2 "))]
    return "\n    ".join(san[:8] if san else lines[-n:])


def cpu_busy_s():
    """Busy CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wait_quiet(limit_s, threshold_pct=10.0):
    """Wait (at most limit_s) until the rest of the machine uses < threshold_pct of its CPUs."""
    t_end = time.monotonic() + limit_s
    while time.monotonic() < t_end:
        b0 = cpu_busy_s()
        time.sleep(1.0)
        if 100 * (cpu_busy_s() - b0) / (os.cpu_count() or 1) < threshold_pct:
            return


def run_once(args, rate, workdir, latency, tag):
    """One weir run against one weir-load run.  Returns a dict (see summarize_run)."""
    rdir = os.path.join(workdir, tag)
    os.makedirs(rdir, exist_ok=True)
    sock = "/tmp/weir-lat-%d.sock" % os.getpid()
    cfg = os.path.join(rdir, "weir.ini")
    stats = os.path.join(rdir, "stats.json")
    out = os.path.join(getattr(args, "sink_dir", None) or rdir, "out-%d-%s.jsonl" % (os.getpid(), tag))
    load_json = os.path.join(rdir, "load.json")
    extra = ("latency = on\n" if latency else "") + ("fused = true\n" if getattr(args, "fused", False) else "")
    if getattr(args, "sink_rt_priority", 0):
        extra += "sink_rt_priority = %d\n" % args.sink_rt_priority
    memif_args = "," + args.memif_args if getattr(args, "memif_args", "") else ""
    with open(cfg, "w") as f:
        f.write(CONFIG.format(sock=sock, memif_args=memif_args, lcores=args.lcores, hugepages=args.hugepages,
                              idle_sleep=args.idle_sleep, extra_lines=extra,
                              query_body=QUERY_BODY[getattr(args, "query", "tumbling")], out=out))
    if os.path.exists(sock):      # a stale listener file (socket-abstract=no)
        os.unlink(sock)

    eal = ["-l", str(args.load_cpu), "--no-pci", "--log-level=*:error",
           "--vdev", "net_memif0,role=server,socket=%s%s" % (sock, memif_args)]
    prefix = None
    if hugepages_free() >= 64 and args.load_hugepages != "off":
        eal += ["--in-memory"]
    else:   # --no-huge is refused with --in-memory: a private prefix instead
        prefix = "weir-load-%d" % os.getpid()
        eal += ["--no-huge", "-m", "512", "--file-prefix=" + prefix, "--no-shconf"]
    load_cmd = [args.load] + eal + ["--", "--rate", "%.0f" % rate, "--seconds", str(args.seconds),
                                    "--batch", str(args.batch), "--keys", str(args.keys),
                                    "--window-hint", str(WINDOW_NS if getattr(args, "query", "tumbling") ==
                                                         "tumbling" else 0), "--link-timeout", "10",
                                    "--linger", "5", "--json", load_json]
    weir_cmd = [args.weir, "run", cfg, "--stats-json", stats, "--no-progress"]
    lo = open(os.path.join(rdir, "load.log"), "w")
    wo = open(os.path.join(rdir, "weir.log"), "w")
    load = weir = None
    wait_quiet(getattr(args, "quiet_wait", 0))
    t0 = time.monotonic()
    busy0, ours0 = cpu_busy_s(), children_cpu_s()
    try:
        load = subprocess.Popen(load_cmd, stdout=lo, stderr=subprocess.STDOUT)
        while not socket_listening(sock):
            if load.poll() is not None:
                msg = tail(lo.name)
                if "EAL" in msg or "no port" in msg or "memif" in msg.lower():
                    raise Skip("weir-load could not open its memif port (exit %d):\n    %s" % (load.returncode, msg))
                raise RunError("weir-load exited (%d) before its memif socket appeared:\n    %s"
                               % (load.returncode, msg))
            if time.monotonic() - t0 > 15:
                raise Skip("weir-load's memif socket %s did not appear within 15 s" % sock)
            time.sleep(0.02)
        weir = subprocess.Popen(weir_cmd, stdout=wo, stderr=subprocess.STDOUT)
        t_weir = time.monotonic()
        # bounded: link wait 10 s + the run + EOS linger 5 s + slack
        deadline = time.monotonic() + 10 + args.seconds + 5 + 30
        while load.poll() is None:
            if weir.poll() is not None and weir.returncode != 0:
                stop_process(load, "weir-load")
                raise RunError("weir exited %d during the run:\n    %s" % (weir.returncode, tail(wo.name)))
            if time.monotonic() > deadline:
                state = "still running" if weir.poll() is None else "exited %d" % weir.returncode
                stop_process(load, "weir-load")
                raise RunError("weir-load did not finish within %.0f s of weir's start (weir %s):\n    %s"
                               % (deadline - t_weir, state, tail(lo.name)))
            time.sleep(0.05)
        if load.returncode != 0:
            msg = tail(lo.name)
            if "link not up" in msg and weir.poll() is None:
                raise Skip("the memif link never came up:\n    %s" % msg)
            raise RunError("weir-load exited %d:\n    %s" % (load.returncode, msg))
        try:
            weir.wait(timeout=30)     # exit_on_eos: it finishes once the results are written
        except subprocess.TimeoutExpired:
            stop_process(weir, "weir")
            raise RunError("weir did not exit within 30 s of the generator's EOS")
        if weir.returncode != 0:
            raise RunError("weir exited %d:\n    %s" % (weir.returncode, tail(wo.name)))
    finally:
        for p, name in ((load, "weir-load"), (weir, "weir")):
            if p is not None:
                stop_process(p, name)
        lo.close()
        wo.close()
        if prefix:
            shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
        if weir is not None:      # weir's own private prefix when it ran without hugepages
            shutil.rmtree("/var/run/dpdk/weir%d" % weir.pid, ignore_errors=True)
        if os.path.exists(sock) and not socket_listening(sock):
            try:
                os.unlink(sock)
            except OSError:
                pass
    with open(stats) as f:
        st = json.load(f)
    with open(load_json) as f:
        ld = json.load(f)
    r = summarize_run(st, ld)
    r["out"] = out
    r["elapsed_s"] = time.monotonic() - t0
    # CPU the rest of the machine used meanwhile (other people's jobs skew latency)
    foreign = (cpu_busy_s() - busy0) - (children_cpu_s() - ours0)
    r["foreign_cpu_pct"] = round(max(0.0, 100 * foreign / r["elapsed_s"] / (os.cpu_count() or 1)), 1)
    return r


def lat_summary(d):
    if not isinstance(d, dict):
        return None
    return {k: d.get(k) for k in LAT_KEYS}


def platform_floor(cpu, seconds=5):
    """What this machine lets any thread do: cyclictest (rt-tests), SCHED_FIFO 90, memory
    locked, a timer every 200 us on weir's CPU, its wake-up latency percentiles (us) --
    the floor under a latency that has a thread wake up in its path; also the share of
    time a thread spinning there does not run (gaps over 5 us between two TSC reads:
    host preemption, interrupts).  None when cyclictest is not installed."""
    exe = shutil.which("cyclictest")
    if not exe:
        return None
    p = subprocess.run([exe, "-m", "-p", "90", "-i", "200", "-a", str(cpu), "-t", "1", "-D", str(seconds),
                        "-q", "-h", "5000"], capture_output=True, text=True, timeout=seconds + 30)
    hist, over = [], 0
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].isdigit():
            hist.append((int(f[0]), int(f[1])))
        elif line.startswith("# Histogram Overflows:"):
            over = int(line.split(":")[1].split()[0])
    tot = sum(n for _, n in hist) + over
    if p.returncode or not tot:
        return None
    out, c = {"samples": tot, "tool": "cyclictest -m -p 90 -i 200 -a %d -D %d" % (cpu, seconds)}, 0
    for us, n in hist:
        c += n
        for q, k in ((0.5, "p50_us"), (0.99, "p99_us"), (0.999, "p999_us")):
            if k not in out and c >= tot * q:
                out[k] = us
    for k in ("p50_us", "p99_us", "p999_us"):
        out.setdefault(k, 5000)         # in the overflow bucket
    return out


def summarize_run(st, ld=None):
    """One run from weir's stats JSON (and weir-load's JSON report, when there is one)."""
    tot = st.get("total", {})
    ports = st.get("ports", [])
    lat = st.get("latency")
    r = {
        "rx_events": tot.get("rx_events"),
        "results": tot.get("results_emitted"),
        "imissed": sum(p.get("imissed", 0) for p in ports),
        "seq_gaps": tot.get("seq_gaps"),
        "late_dropped": tot.get("late_dropped"),
        "ring_full": tot.get("ring_full"),
        "weir_events_per_s": st.get("events_per_s"),
        "latency": None,
    }
    if isinstance(lat, dict):
        r["latency"] = {k: lat_summary(lat.get(k)) for k in LAT_HISTS}
    if ld:
        r.update({
            "rate_target": ld.get("rate_target"),
            "rate_achieved": ld.get("rate_achieved"),
            "sent_events": ld.get("sent_events"),
            "tx_drops": ld.get("tx_drop_events"),
            "first_drop_at_s": ld.get("first_drop_at_s"),
            "late_max_ns": ld.get("late_max_ns"),
            "key_windows": ld.get("key_windows"),
        })
        r["sustainable"] = bool(
            r["imissed"] == 0 and r["tx_drops"] == 0 and r["rx_events"] == r["sent_events"]
            and r["rate_target"] and r["rate_achieved"] >= ACHIEVED_MIN * r["rate_target"])
    else:
        r.update({"rate_target": None, "rate_achieved": st.get("events_per_s"), "sent_events": None,
                  "tx_drops": None, "late_max_ns": None, "key_windows": None, "sustainable": None})
    return r


def median_of(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def combine(rate, runs, query="tumbling"):
    """Medians over the runs of one rate (each percentile separately).  OVER results are
    not fired by a watermark: no watermark->sink for them."""
    c = {
        "rate_target": rate,
        "rate_achieved": median_of([r["rate_achieved"] for r in runs]),
        "results": median_of([r["results"] for r in runs]),
        "runs": len(runs),
        "sustainable_runs": sum(1 for r in runs if r.get("sustainable")),
        "gen_late_max_ns": median_of([r.get("late_max_ns") for r in runs]),
        "foreign_cpu_pct": median_of([r.get("foreign_cpu_pct") for r in runs]),
    }
    for k in LAT_HISTS:
        per = [r["latency"][k] for r in runs if r.get("latency") and r["latency"].get(k)]
        c[k] = {kk: median_of([p.get(kk) for p in per]) for kk in LAT_KEYS} if per else None
    if query == "over":
        c["watermark_to_sink"] = None
        c["note"] = "OVER: arrival_to_sink is packet-to-alert; no watermark fires an OVER result"
    return c


def fmt_rate(v):
    if v is None:
        return "-"
    return "%.2fM" % (v / 1e6) if v >= 1e5 else "%.0fk" % (v / 1e3)


def fmt_us(v):
    return "-" if v is None else ("%.1f" % (v / 1e3) if v < 1e7 else "%.0f" % (v / 1e3))


def print_table(rows, file=sys.stdout, query="tumbling"):
    w = 8
    over = query == "over"
    lat_hdr = "".join("%*s" % (w, h) for h in ("p50", "p99", "p99.9", "max"))
    print("%-9s %-9s %9s %5s | %-*s | %-*s | %-*s" % ("", "", "", "", 4 * w,
                                                    "packet->alert (us)" if over else "arrival->sink (us)", 4 * w,
                                                    "watermark->sink (us)", 4 * w,
                                                    "packet->ring (us)" if over else "arrival->ring (us)"), file=file)
    hdr = "%-9s %-9s %9s %5s | %s | %s | %s" % ("target", "achieved", "results", "ok", lat_hdr, lat_hdr, lat_hdr)
    print(hdr, file=file)
    print("-" * len(hdr), file=file)
    for c in rows:
        cols = []
        for k in LAT_HISTS:
            d = c.get(k)
            if over and k == "watermark_to_sink":
                cols.append("%-*s" % (4 * w, "   n/a: no watermark fires OVER"))
                continue
            cols.append("".join("%*s" % (w, fmt_us(d.get(p))) for p in PCTS) if d else
                        "%-*s" % (4 * w, "   (no latency data)"))
        ok = "%d/%d" % (c["sustainable_runs"], c["runs"]) if c.get("rate_target") else "-"
        res = "-" if c.get("results") is None else "%d" % c["results"]
        print("%-9s %-9s %9s %5s | %s | %s | %s" % (fmt_rate(c.get("rate_target")), fmt_rate(c.get("rate_achieved")),
                                                   res, ok, cols[0], cols[1], cols[2]), file=file)
    print("(ok: runs that lost nothing and kept >= %d %% of the target rate)" % round(100 * ACHIEVED_MIN),
          file=file)
    print("(->ring: until the worker hands the result to the sink loop's ring -- weir's own path, without the "
          "sink thread's wake-up on its CPU and the write)", file=file)
    if over:
        print("(OVER: results are alerts; an alert carries its own event's arrival stamp, so arrival->sink is "
              "packet-to-alert latency; watermark->sink means nothing for OVER results and is not shown)", file=file)


def machine_info():
    m = {"hostname": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            m["clocksource"] = f.read().strip()
    except OSError:
        pass
    m["hugepages_free"] = hugepages_free()
    m["loadavg"] = os.getloadavg()[0]
    return m


def drop_output(args, r):
    """A run's results file is hundreds of MB at these rates: gone unless --keep."""
    if not args.keep and r.get("out"):
        try:
            os.unlink(r["out"])
        except OSError:
            pass


def search_max(args, workdir, latency, raw):
    """Highest sustainable rate in [max_lo, max_hi], geometric bisection, <= max_probes runs."""
    lo, hi = args.max_lo, args.max_hi
    probes = 0

    def probe(rate):
        nonlocal probes
        probes += 1
        try:
            r = run_once(args, rate, workdir, latency, "max-probe%d" % probes)
        except RunError as e:
            log("max search: %s: RUN FAILED (counted as not sustainable): %s" % (fmt_rate(rate), e))
            raw.append({"phase": "max-search", "rate_target": rate, "error": str(e), "sustainable": False})
            return False
        r["phase"] = "max-search"
        drop_output(args, r)
        raw.append(r)
        ok = r["sustainable"]
        over = getattr(args, "query", "tumbling") == "over"
        bound, bname = ("arrival_to_sink", "packet->alert") if over else ("watermark_to_sink", "watermark->sink")
        w2s = (r.get("latency") or {}).get(bound) or {}
        why = ""
        if ok and args.max_p99_us and w2s.get("p99_ns") is not None and w2s["p99_ns"] > args.max_p99_us * 1e3:
            ok, why = False, " (%s p99 %.0f us > %.0f us)" % (bname, w2s["p99_ns"] / 1e3, args.max_p99_us)
        log("max search: %s -> achieved %s, tx drops %s, imissed %s, rx %s of %s, %s p99 %s us: %s%s" %
            (fmt_rate(rate), fmt_rate(r["rate_achieved"]), r["tx_drops"], r["imissed"], r["rx_events"],
             r["sent_events"], bname, fmt_us(w2s.get("p99_ns")), "sustainable" if ok else "NOT sustainable", why))
        return ok

    if not probe(lo):
        return None
    if probes < args.max_probes and probe(hi):
        return hi
    while probes < args.max_probes and hi / lo > 1.02:
        mid = round((lo * hi) ** 0.5, -4)
        if probe(mid):
            lo = mid
        else:
            hi = mid
    return lo


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weir", help="the weir binary")
    ap.add_argument("--load", help="the weir-load binary")
    ap.add_argument("--rates", default="1e6,5e6,max", help="events/s, comma separated; `max` searches")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    ap.add_argument("--runs", type=int, default=3, help="runs per rate (medians reported)")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="seconds of an unmeasured run before each rate's runs (0: none)")
    ap.add_argument("--batch", type=int, default=16, help="records per datagram")
    ap.add_argument("--query", default="tumbling", choices=("tumbling", "over"),
                    help="tumbling: keyed tumbling 1 ms count + sum (the default); over: the OVER fraud rule "
                         "in SQL, an alert per event that passes its HAVING (see above)")
    ap.add_argument("--keys", type=int, default=None,
                    help="keys (default 16 for tumbling: a per-symbol feed, every key has records near every "
                         "window end, so arrival->sink measures weir, not how long a key's last record waited "
                         "for the window to end; with 1000 keys at 1 M/s a key sees one record per ms; "
                         "default 100000 cards for over)")
    ap.add_argument("--lcores", default="0,0",
                    help="weir's lcores: main, then RX and worker (or, --fused, the one fused lcore)")
    ap.add_argument("--load-cpu", type=int, default=1, help="the CPU weir-load polls on")
    ap.add_argument("--idle-sleep", default="off",
                    help="weir's idle_sleep (off: the RX lcore polls; the sink loop sleeps until "
                         "a worker rings it either way)")
    ap.add_argument("--hugepages", default="auto", help="weir's hugepages (auto|on|off)")
    ap.add_argument("--split", dest="fused", action="store_false",
                    help="RX and worker on lcores of their own (give --lcores MAIN,RX,WORKER); the default "
                         "is `fused = true`: on 2 CPUs with weir-load on one, weir's main lcore and one "
                         "fused RX+worker lcore share the other")
    ap.add_argument("--fused", dest="fused", action="store_true", help="(the default)")
    ap.add_argument("--sink-rt-priority", type=int, default=0,
                    help="weir's sink_rt_priority (1-9: the sink loop runs SCHED_FIFO and preempts the "
                         "poller it shares a CPU with as soon as a worker rings; 0: normal scheduling)")
    ap.add_argument("--sink-dir", help="where weir's file sink writes (default: the run's temp dir; "
                    "/dev/shm keeps disk writeback out of the figures)")
    ap.add_argument("--memif-args", default="",
                    help="extra net_memif devargs for both ends, e.g. rsize=12 (log2 ring size; default 10)")
    ap.add_argument("--quiet-wait", type=float, default=0,
                    help="before each run wait up to this many seconds for other jobs to leave the CPUs")
    ap.add_argument("--load-hugepages", default="auto", choices=("auto", "off"),
                    help="weir-load: hugepages when >= 64 are free (auto) or --no-huge")
    ap.add_argument("--latency", default="auto", choices=("auto", "on", "off"),
                    help="`latency = on` in weir's config (auto: when `weir check` accepts it)")
    ap.add_argument("--max-lo", type=parse_rate, default=1e6)
    ap.add_argument("--max-hi", type=parse_rate, default=40e6)
    ap.add_argument("--max-probes", type=int, default=8)
    ap.add_argument("--max-p99-us", type=float, default=0,
                    help="max search: also require watermark->sink p99 (with --query over: packet->alert "
                         "p99) <= this (0: loss and schedule only)")
    ap.add_argument("--json", help="write the medians (and every run) here")
    ap.add_argument("--keep", help="keep every run's files under this directory")
    ap.add_argument("--stats", help="only print the table for this weir stats JSON")
    ap.add_argument("--load-json", help="with --stats: weir-load's --json report of the same run")
    args = ap.parse_args()
    if args.keys is None:
        args.keys = DEFAULT_KEYS[args.query]

    if args.stats:
        with open(args.stats) as f:
            st = json.load(f)
        ld = None
        if args.load_json:
            with open(args.load_json) as f:
                ld = json.load(f)
        r = summarize_run(st, ld)
        if r["latency"] is None:
            log("%s has no \"latency\" object: the run was made without `latency = on` "
                "(or by a weir that does not have it)" % args.stats)
        print_table([combine(r["rate_target"], [r], args.query)], query=args.query)
        return 0
    if not args.weir or not args.load:
        ap.error("--weir and --load are required (or --stats FILE)")
    rates = [parse_rate(x) for x in args.rates.split(",") if x.strip()]

    try:
        check_environment()
    except Skip as e:
        log("skipped: %s" % e)
        return 77
    workdir = args.keep or tempfile.mkdtemp(prefix="weir-lat-")
    os.makedirs(workdir, exist_ok=True)
    try:
        if args.query != "tumbling":
            ok, why = config_accepted(args.weir, workdir, args.query, latency=False)
            if not ok:
                log("this weir does not take the %s query (%s)" % (args.query, " ".join(why)))
                return 1
        if args.latency == "off":
            latency = False
        else:
            latency, why = latency_supported(args.weir, workdir, args.query)
            if not latency:
                msg = "this weir does not accept `latency = on` (%s)" % " ".join(why)
                if args.latency == "on":
                    log(msg)
                    return 1
                log(msg + ": running without it; the latency columns stay empty")
        machine = machine_info()
        log("machine: %s, %s CPUs, load average %.2f; weir lcores %s, weir-load on CPU %d; latency %s; "
            "query %s, %d keys" %
            (machine.get("cpu", "?"), machine["cpus"], machine["loadavg"], args.lcores, args.load_cpu,
             "on" if latency else "OFF", QUERY_ABOUT[args.query], args.keys))
        raw, rows, max_sust = [], [], None
        try:
            for rate in rates:
                if rate == "max":
                    max_sust = search_max(args, workdir, latency, raw)
                    if max_sust is None:
                        log("max search: not even %s is sustainable" % fmt_rate(args.max_lo))
                        continue
                    log("max sustainable rate: %s (measuring it %d times)" % (fmt_rate(max_sust), args.runs))
                    rate = max_sust
                runs = []
                if args.warmup > 0:    # the first run after an idle spell stalls early: not measured
                    wa = argparse.Namespace(**vars(args))
                    wa.seconds, wa.quiet_wait = args.warmup, 0
                    w = run_once(wa, rate, workdir, latency, "rate%.0f-warmup" % rate)
                    drop_output(args, w)
                    log("%s warm-up (%.1f s, not counted): tx drops %s" % (fmt_rate(rate), args.warmup, w["tx_drops"]))
                for i in range(args.runs):
                    r = run_once(args, rate, workdir, latency, "rate%.0f-run%d" % (rate, i))
                    r["phase"] = "measure"
                    drop_output(args, r)
                    drops = "%s" % r["tx_drops"]
                    if r["tx_drops"] and (r.get("first_drop_at_s") or -1) >= 0:
                        drops += " (first at %.3f s)" % r["first_drop_at_s"]
                    log("%s run %d: achieved %s, results %s, tx drops %s, imissed %s, other jobs' CPU %s %%%s" %
                        (fmt_rate(rate), i + 1, fmt_rate(r["rate_achieved"]), r["results"], drops,
                         r["imissed"], r["foreign_cpu_pct"], "" if r["sustainable"] else "  (NOT sustainable)"))
                    runs.append(r)
                    raw.append(r)
                rows.append(combine(rate, runs, args.query))
        except Skip as e:
            log("skipped: %s" % e)
            return 77
        except RunError as e:
            log("run failed: %s" % e)
            return 1
        print_table(rows, query=args.query)
        floor = platform_floor(int(args.lcores.split(",")[-1]))
        if floor:
            print("platform floor (%s): thread wake-up p50 %d / p99 %d / p99.9 %d us" %
                  (floor["tool"], floor["p50_us"], floor["p99_us"], floor["p999_us"]))
        if not latency:
            print("(no latency data: weir ran without `latency = on`)")
        if "max" in rates:
            print("max sustainable rate: %s" % (fmt_rate(max_sust) if max_sust else "below %s" % fmt_rate(args.max_lo)))
        if args.json:
            for r in raw:
                r.pop("out", None)
            doc = {"machine": machine, "latency_on": latency,
                   "config": {"seconds": args.seconds, "runs": args.runs, "warmup": args.warmup,
                              "batch": args.batch, "keys": args.keys,
                              "lcores": args.lcores, "fused": args.fused, "load_cpu": args.load_cpu,
                              "idle_sleep": args.idle_sleep, "memif_args": args.memif_args,
                              "sink_dir": args.sink_dir or "(temp dir)",
                              "query": args.query, "window": QUERY_ABOUT[args.query],
                              "query_section": QUERY_BODY[args.query],
                              "watermark_delay": 0, "max_p99_us": args.max_p99_us},
                   "runs": rows, "max_sustainable": max_sust, "raw_runs": raw, "platform_floor": floor}
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            if args.sink_dir:
                pre = "out-%d-" % os.getpid()
                for name in os.listdir(args.sink_dir):
                    if name.startswith(pre):
                        os.unlink(os.path.join(args.sink_dir, name))


if __name__ == "__main__":
    sys.exit(main())
