#!/usr/bin/env python3
"""The admin server's /metrics as a real Prometheus sees it, against the stats file.

    admin_prom.py --weir build/weir --gen build/tools/weir-gen

weir runs on a finite capture (two sources on two ports, malformed frames, late events,
duplicates and gaps) WITHOUT exit_on_eos, so it stays up, idle, once the capture is
consumed; [admin] listen = 127.0.0.1:0 (the port is read from weir's stderr line
`weir: admin: listening on http://HOST:PORT/`).  Debian's Prometheus scrapes /metrics every
second.  Once the ports have received every frame of the capture and every counter is the
same in two consecutive scrapes, weir gets SIGTERM and its --stats-json exit file (written
by other code, at exit) must equal what Prometheus holds from the last scrape: rx_packets,
rx_events, results_emitted, late_dropped, worker_events, seq_duplicates, seq_gaps,
ring_full, ring_dropped and bad_packets by reason, summed per core (`sum by (core)`,
against cores[]) and in all (`sum()`, against total), per query, per port; up{job="weir"}
is 1; the core/role/index labels name the cores of the stats file.  The exposition itself
must pass `promtool check metrics`.  Exit 77 when prometheus or promtool is missing.

The helpers here (Weir, http_request, free_port) are shared by admin_hostile.py and
bench/admin_bench.py.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True     # imports from the source tree leave no __pycache__ there
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (SOURCE, QUERY, AGGS, fail)

LISTENING = re.compile(r"weir: admin: listening on http://(\[[^\]]*\]|[^/\s:]+):(\d+)/")
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Leak|UndefinedBehavior|Thread)Sanitizer|WARNING: ThreadSanitizer")


def fail(msg):
    e2e.fail(msg)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pcap_records(path):
    """Frames in a classic pcap (what a port receives from it)."""
    n = 0
    with open(path, "rb") as f:
        f.seek(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return n
            f.seek(struct.unpack("<I", h[8:12])[0], 1)
            n += 1


def http_request(port, path, token=None, method="GET", timeout=10.0, headers=None, host="127.0.0.1", body=None):
    """One request on a fresh connection: (status, headers dict lower-cased, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        h = {"Connection": "close"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


class Weir:
    """`weir run CFG --stats-json D/NAME-stats.json --no-progress`, stderr to a file
    (a pipe nobody reads could fill and stall weir)."""

    def __init__(self, weir, cfg, d, name="weir", env=None):
        self.stats = os.path.join(d, name + "-stats.json")
        self.errpath = os.path.join(d, name + ".stderr")
        self.name = name
        self.port = None
        with open(self.errpath, "w") as err:
            self.p = subprocess.Popen([weir, "run", cfg, "--stats-json", self.stats, "--no-progress"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                      env=env)

    def stderr(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.p.poll() is None

    def wait_listening(self, timeout=90.0):
        """The admin port from weir's stderr line; fails (or skips on an EAL memory
        failure) when weir exits first or prints nothing in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            err = self.stderr()
            m = LISTENING.search(err)
            if m:
                if len(LISTENING.findall(err)) != 1:
                    fail("%s: more than one 'admin: listening' line:\n%s" % (self.name, err))
                self.port = int(m.group(2))
                return self.port
            if not self.alive():
                if "EAL init failed" in err and ("memory" in err or "hugepage" in err):
                    skip(err.strip().splitlines()[-1])
                fail("%s exited %d before its admin server listened:\n%s" % (self.name, self.p.returncode, err))
            time.sleep(0.05)
        fail("%s printed no 'weir: admin: listening on http://HOST:PORT/' line in %.0f s:\n%s" %
             (self.name, timeout, self.stderr()))

    def stop(self, timeout=60.0):
        """SIGTERM; weir must exit 0 in time, with no sanitizer report.  Returns the stats file."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail("%s did not exit within %.0f s of SIGTERM:\n%s" % (self.name, timeout, self.stderr()[-4000:]))
        err = self.stderr()
        if SANITIZER.search(err):
            fail("%s: sanitizer report on stderr:\n%s" % (self.name, err[-8000:]))
        if rc != 0:
            fail("%s exited %d after SIGTERM:\n%s" % (self.name, rc, err[-4000:]))
        try:
            with open(self.stats) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            fail("%s: no readable stats file after SIGTERM (%s)" % (self.name, e))

    def kill(self):
        if self.alive():
            self.p.kill()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


# ---------------------------------------------------------------- Prometheus

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback only, whatever the env says

PROM_CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: weir
    metrics_path: /metrics
    scheme: http
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""


class Prometheus:
    def __init__(self, binary, d, target_port):
        self.dir = os.path.join(d, "prometheus")
        os.makedirs(os.path.join(self.dir, "tsdb"))
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(PROM_CONFIG.format(port=target_port))
        self.port = free_port()
        self.logpath = os.path.join(self.dir, "prometheus.log")
        with open(self.logpath, "w") as log:
            self.p = subprocess.Popen([binary, "--config.file=" + cfg,
                                       "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
                                       "--web.listen-address=127.0.0.1:%d" % self.port,
                                       "--storage.tsdb.retention.time=1d", "--log.level=warn"],
                                      cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def get(self, path, params=None, timeout=10):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with NO_PROXY.open(url, timeout=timeout) as r:
            return r.status, r.read()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                fail("prometheus exited %d:\n%s" % (self.p.returncode, self.log()))
            try:
                if self.get("/-/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        fail("prometheus not ready within %d s:\n%s" % (timeout, self.log()))

    def query(self, q, t=None):
        """Instant query (at time t when given): [(labels without __name__/job/instance, float value)]."""
        params = {"query": q}
        if t is not None:
            params["time"] = "%.3f" % t
        try:
            _, body = self.get("/api/v1/query", params)
        except OSError as e:
            fail("prometheus query %r: %s" % (q, e))
        doc = json.loads(body)
        if doc.get("status") != "success":
            fail("prometheus query %r: %s" % (q, doc))
        out = []
        for r in doc["data"]["result"]:
            lab = {k: v for k, v in r["metric"].items() if k not in ("job", "instance")}
            out.append((lab, float(r["value"][1])))
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)


# ---------------------------------------------------------------- the test

GEN = [
    ("tx", 7000, "amount:i64, merchant:u64",
     ["--events", "60000", "--keys", "400", "--rate", "20000", "--disorder", "100000000", "--late-fraction", "0.02",
      "--late-by", "2000000000", "--malformed", "0.05", "--producers", "2", "--dup-fraction", "0.01",
      "--gap-fraction", "0.01", "--seed", "31"],
     [("spend", "tumbling 500ms", "0", e2e.AGGS), ("spend_hop", "hopping 1s 250ms", "100ms", "count, max(amount)")]),
    ("iot", 7001, "temp:f64",
     ["--events", "30000", "--keys", "50", "--rate", "10000", "--fields", "temp:f64", "--udp-port", "7001",
      "--disorder", "50000000", "--late-fraction", "0.03", "--late-by", "1000000000", "--malformed", "0.08",
      "--seed", "32"],
     [("temps", "tumbling 1s", "0", "count, min(temp), max(temp), avg(temp)")]),
]

# per-core counters: stats key -> metric (the spec: weir_X_total, summed over cores = total.X)
COUNTERS = ["rx_packets", "rx_events", "results_emitted", "late_dropped", "worker_events", "seq_duplicates",
            "seq_gaps", "ring_full", "ring_dropped"]
QUERY_COUNTERS = [("results_emitted", "weir_query_results_emitted_total"),
                  ("late_dropped", "weir_query_late_dropped_total"),
                  ("filtered", "weir_query_filtered_total")]
PORT_COUNTERS = [("ipackets", "weir_port_rx_packets_total"), ("ibytes", "weir_port_rx_bytes_total"),
                 ("imissed", "weir_port_imissed_total"), ("ierrors", "weir_port_ierrors_total"),
                 ("rx_nombuf", "weir_port_rx_nombuf_total")]
VOLATILE = {"weir_core_cycles_total"}     # counters that move while weir idles


def write_config(a, d):
    devices, text, packets = [], "", 0
    for i, (sname, port, fields, gargs, queries) in enumerate(GEN):
        pcap = os.path.join(d, sname + ".pcap")
        subprocess.run([a.gen, "--out", pcap] + gargs, check=True, stderr=subprocess.DEVNULL, timeout=120)
        packets += pcap_records(pcap)
        devices.append("net_pcap%d,rx_pcap=%s" % (i, pcap))
        text += e2e.SOURCE.format(name=sname, port=port, fields=fields, delay="50ms")
        for qname, window, lateness, aggs in queries:
            text += e2e.QUERY.format(name=qname, src=sname, window=window, lateness=lateness, aggs=aggs, dir=d)
    # no exit_on_eos: weir stays up, idle (idle_sleep), once the capture is consumed
    head = ("[dataplane]\ndevices = %s\nrx_cores = 2\nworkers = 2\nlcores = auto\nhugepages = auto\n"
            "backpressure = block\nidle_sleep = 100us\nring_size = 64\neal_args = --log-level=*:error\n" %
            ";".join(devices))
    cfg = os.path.join(d, "weir.ini")
    with open(cfg, "w") as f:
        f.write(head + text + "\n[admin]\nlisten = 127.0.0.1:0\n")
    return cfg, packets


def promtool_check(promtool, text, allowed=()):
    """`promtool check metrics` on the exposition (stdin).  Exit 1 is a parse error; exit 3
    lists lint problems, each of which must be in `allowed` (with the reason there)."""
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode(errors="replace").strip()
    if p.returncode == 0:
        return []
    if p.returncode != 3:
        fail("promtool check metrics exited %d:\n%s" % (p.returncode, out))
    lints = [ln for ln in out.splitlines() if ln.strip()]
    bad = [ln for ln in lints if not any(re.search(rx, ln) for rx, _ in allowed)]
    if bad:
        fail("promtool check metrics: lint problems:\n" + "\n".join(bad))
    return lints


# Lint problems that are accepted, each with why (none so far).
ALLOWED_LINTS = ()


def counters_at(prom, t):
    """Every weir counter of the scrape at time t: {(name, labels): value}, VOLATILE left out."""
    snap = {}
    for lab, v in prom.query('{job="weir", __name__=~"weir_.+_total"}', t):
        name = lab.pop("__name__")
        if name not in VOLATILE:
            snap[(name, tuple(sorted(lab.items())))] = v
    return snap


def wait_consumed(prom, packets, timeout):
    """Scrapes until the ports have received every frame of the capture and two consecutive
    scrapes carry the same counters.  Returns the time of the last scrape."""
    deadline = time.monotonic() + timeout
    last_t, last_snap, seen = None, None, "nothing"
    while time.monotonic() < deadline:
        ts = prom.query('timestamp(up{job="weir"})')
        t = ts[0][1] if ts else None
        if t is None or t == last_t:
            time.sleep(0.25)
            continue
        snap = counters_at(prom, t)
        got = sum(v for (n, _), v in snap.items() if n == "weir_port_rx_packets_total")
        seen = "%d of %d frames at the ports, %d counter series" % (got, packets, len(snap))
        if got == packets and snap == last_snap:
            return t
        last_t, last_snap = t, snap
    fail("the capture was not seen consumed and stable in %d s (last scrape: %s)" % (timeout, seen))


def check_equal(errors, what, got, exp):
    if got != exp:
        errors.append("%s: got %s, stats file %s" % (what, got, exp))


def by(prom, t, expr, labels):
    """sum by (labels) (expr) at t: {"v1/v2...": value} (the label values joined by /)"""
    res = {}
    for lab, v in prom.query("sum by (%s) (%s)" % (", ".join(labels), expr), t):
        res["/".join(lab.get(x, "") for x in labels)] = v
    return res


def total(prom, t, expr):
    r = prom.query("sum(%s)" % expr, t)
    return r[0][1] if r else None


def compare(prom, t, st, errors):
    """Every comparison of the scrape at t with the stats file st."""
    tot, cores = st["total"], st["cores"]
    lcores = {str(c["lcore"]): c for c in cores}
    # the core labels: each (core, role, index) names a core of the stats file
    for lab, _ in prom.query('group by (core, role, index) ({job="weir", core!=""})', t):
        c = lcores.get(lab.get("core"))
        if c is None:
            errors.append("series with core=%r: no such lcore in the stats file's cores %s" %
                          (lab.get("core"), sorted(lcores)))
        elif (lab.get("role"), lab.get("index")) != (c["role"], str(c["index"])):
            errors.append("core=%s is labelled role=%r index=%r, the stats file says %s %d" %
                          (lab["core"], lab.get("role"), lab.get("index"), c["role"], c["index"]))
    for x in COUNTERS:
        m = 'weir_%s_total{job="weir"}' % x
        check_equal(errors, "sum(%s)" % m, total(prom, t, m), float(tot[x]))
        per = by(prom, t, m, ["core"])
        exp = {str(c["lcore"]): float(c[x]) for c in cores if x in c}
        for k in set(per) - set(exp):     # a core without that counter may show 0, nothing else
            if per[k] == 0:
                del per[k]
        check_equal(errors, "sum by (core) (%s)" % m, per, exp)
    # bad packets by reason, per core and in all
    m = 'weir_bad_packets_total{job="weir"}'
    per = by(prom, t, m, ["reason"])
    exp = {r: float(n) for r, n in tot["bad_packets"].items()}
    for r, n in exp.items():
        if per.get(r, 0.0 if n == 0 else None) != n:
            errors.append("sum by (reason) (%s){reason=%s}: Prometheus %s, stats file %s" %
                          (m, r, per.get(r), n))
    for r in set(per) - set(exp):
        errors.append("reason %s in Prometheus (%s) is not in the stats file" % (r, per[r]))
    check_equal(errors, "sum(%s)" % m, total(prom, t, m), float(tot["bad_packets_total"]))
    per = by(prom, t, m, ["core", "reason"])
    for c in cores:
        for r, n in c.get("bad_packets", {}).items():
            got = per.get("%s/%s" % (c["lcore"], r), 0.0 if n == 0 else None)
            if got != n:
                errors.append("bad_packets{core=%s,reason=%s}: Prometheus %s, stats file %s" %
                              (c["lcore"], r, got, n))
    # per query
    for key, metric in QUERY_COUNTERS:
        per = by(prom, t, metric + '{job="weir"}', ["query"])
        exp = {q: float(v[key]) for q, v in st["queries"].items() if key in v}
        check_equal(errors, "sum by (query) (%s)" % metric, per, exp)
    # per port, and the device label
    for key, metric in PORT_COUNTERS:
        per = by(prom, t, metric + '{job="weir"}', ["port"])
        exp = {str(p["port"]): float(p[key]) for p in st["ports"]}
        check_equal(errors, "sum by (port) (%s)" % metric, per, exp)
    dev = {lab.get("port"): lab.get("device") for lab, _ in
           prom.query('group by (port, device) (weir_port_rx_packets_total{job="weir"})', t)}
    check_equal(errors, "weir_port_rx_packets_total's device labels", dev,
                {str(p["port"]): p["device"] for p in st["ports"]})
    # rings, when the exit file has them
    if st.get("rings"):
        per = by(prom, t, 'weir_ring_capacity{job="weir"}', ["rx", "worker"])
        check_equal(errors, "weir_ring_capacity by (rx, worker)", per,
                    {"%s/%s" % (r["rx"], r["worker"]): float(r["capacity"]) for r in st["rings"]})
    # the scrape itself
    up = prom.query('up{job="weir"}', t)
    check_equal(errors, 'up{job="weir"}', [v for _, v in up], [1.0])
    for metric in ("weir_build_info", "weir_uptime_seconds"):
        if not prom.query('%s{job="weir"}' % metric, t):
            errors.append("no %s series" % metric)


def weir_status(weir, cfg, port, d):
    """`weir status CFG --json` and without --json, with the config's admin port made
    the one weir took (listen = 127.0.0.1:0)."""
    scfg = os.path.join(d, "status.ini")
    with open(cfg) as f, open(scfg, "w") as g:
        g.write(f.read().replace("listen = 127.0.0.1:0", "listen = 127.0.0.1:%d" % port))
    out = []
    for extra in (["--json"], []):
        r = subprocess.run([weir, "status", scfg] + extra, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail("weir status %s exited %d:\n%s%s" % (" ".join(extra), r.returncode, r.stdout, r.stderr))
        out.append(r.stdout)
    try:
        return json.loads(out[0]), out[1]
    except ValueError as e:
        fail("weir status --json printed no JSON (%s):\n%s" % (e, out[0][:2000]))


def telemetry(w, status_doc):
    """dpdk-telemetry.py against weir's own EAL prefix (printed at start): /weir/stats
    and /weir/query,NAME for every query."""
    tool = shutil.which("dpdk-telemetry.py") or "/usr/bin/dpdk-telemetry.py"
    if not os.path.isfile(tool):
        fail("%s is missing (Debian package dpdk)" % tool)
    m = re.search(r"weir: telemetry: dpdk-telemetry.py -f (\S+)", w.stderr())
    if not m:
        fail("weir printed no 'weir: telemetry: dpdk-telemetry.py -f PREFIX' line:\n%s" % w.stderr())
    cmds = ["/weir/stats"] + ["/weir/query,%s" % q for q in status_doc["queries"]] + ["/weir/cores"]
    r = subprocess.run([sys.executable, tool, "-f", m.group(1)], input="\n".join(cmds) + "\n",
                       capture_output=True, text=True, timeout=60)
    answers = []                    # one JSON object per command, in order
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("--> "):
            line = line[4:]
        if line.startswith("{"):
            try:
                answers.append(json.loads(line))
            except ValueError:
                pass
    got = {}
    for cmd, ans in zip(cmds, answers[-len(cmds):]):
        got[cmd] = ans.get(cmd.split(",")[0])
    if not got.get("/weir/stats"):
        fail("dpdk-telemetry.py -f %s answered no /weir/stats:\n%s%s" % (m.group(1), r.stdout[-2000:], r.stderr[-2000:]))
    return got


def compare_status(doc, text, tel, st, errors):
    """weir status (JSON and text) and telemetry, read after the input was consumed,
    against the exit stats file."""
    tot, dt, ts = st["total"], doc.get("total", {}), tel.get("/weir/stats") or {}
    for k in ("rx_packets", "rx_events", "results_emitted", "late_dropped", "bad_packets_total", "ring_full",
              "seq_duplicates", "seq_gaps"):
        check_equal(errors, "weir status --json total.%s" % k, dt.get(k), tot[k])
        check_equal(errors, "telemetry /weir/stats %s" % k, ts.get(k), tot[k])
    for reason, n in tot["bad_packets"].items():
        check_equal(errors, "telemetry /weir/stats bad_packets/%s" % reason, ts.get("bad_packets/" + reason), n)
    for q, v in st["queries"].items():
        check_equal(errors, "weir status --json queries.%s.results_emitted" % q,
                    doc.get("queries", {}).get(q, {}).get("results_emitted"), v["results_emitted"])
        tq = tel.get("/weir/query,%s" % q) or {}
        check_equal(errors, "telemetry /weir/query,%s results_emitted" % q, tq.get("results_emitted"),
                    v["results_emitted"])
        check_equal(errors, "telemetry /weir/query,%s late_dropped" % q, tq.get("late_dropped"), v["late_dropped"])
        if not re.search(r"^query +%s \(from " % re.escape(q), text, re.M):
            errors.append("weir status text has no line for query %s" % q)
    check_equal(errors, "telemetry /weir/cores", tel.get("/weir/cores"),
                ["%s%d" % (c["role"], c["index"]) for c in st["cores"]])
    check_equal(errors, "weir status cores", len(doc.get("cores", [])), len(st["cores"]))
    rates = doc.get("rates", {})
    check_equal(errors, "weir status rates.events_per_s (input consumed)", rates.get("events_per_s"), 0)
    if not re.search(r"^totals +%d events, %d results" % (tot["rx_events"], tot["results_emitted"]), text, re.M):
        errors.append("weir status text: no 'totals %d events, %d results' line:\n%s" %
                      (tot["rx_events"], tot["results_emitted"], text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    ap.add_argument("--timeout", type=float, default=180, help="bound of each wait (s)")
    a = ap.parse_args()
    for tool in (a.prometheus, a.promtool):
        if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
            skip("%s is not installed (Debian: apt-get install prometheus)" % tool)
    w = prom = None
    with tempfile.TemporaryDirectory(prefix="weir-admin-prom-") as d:
        try:
            cfg, packets = write_config(a, d)
            w = Weir(a.weir, cfg, d)
            port = w.wait_listening()
            # the exposition, read directly: content type, and promtool's parse and lint
            status, hdr, body = http_request(port, "/metrics", timeout=10)
            if status != 200:
                fail("GET /metrics: status %d: %r" % (status, body[:300]))
            ctype = hdr.get("content-type", "")
            if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
                fail("GET /metrics: Content-Type %r, want text/plain; version=0.0.4" % ctype)
            lints = promtool_check(a.promtool, body, ALLOWED_LINTS)
            prom = Prometheus(a.prometheus, d, port)
            prom.wait_ready(a.timeout)
            deadline = time.monotonic() + a.timeout
            while not prom.query('weir_rx_events_total{job="weir"}'):
                if time.monotonic() > deadline:
                    targets = prom.get("/api/v1/targets")[1].decode(errors="replace")[:3000]
                    fail("Prometheus has no weir_rx_events_total after %d s; targets: %s" % (a.timeout, targets))
                if not w.alive():
                    fail("weir exited %d:\n%s" % (w.p.returncode, w.stderr()))
                time.sleep(0.5)
            t = wait_consumed(prom, packets, a.timeout)
            # the final exposition (after the input), checked again
            status, _, body = http_request(port, "/metrics", timeout=10)
            if status != 200:
                fail("GET /metrics after the input: status %d" % status)
            lints += promtool_check(a.promtool, body, ALLOWED_LINTS)
            # weir status and DPDK telemetry, read while weir idles, compared after its exit
            status_doc, status_text = weir_status(a.weir, cfg, port, d)
            tel = telemetry(w, status_doc)
            # the stats file: SIGTERM; Prometheus's samples at t stay queryable at t
            st = w.stop()
            errors = []
            compare(prom, t, st, errors)
            compare_status(status_doc, status_text, tel, st, errors)
            tot = st["total"]
            if errors:
                fail("Prometheus and the stats file disagree (%d):\n  %s" % (len(errors), "\n  ".join(errors)))
            for k in ("late_dropped", "bad_packets_total", "results_emitted", "seq_duplicates", "seq_gaps"):
                if not tot[k]:
                    fail("the capture was meant to give non-zero %s, the stats file has 0" % k)
            print("admin-prom: %d frames, %d events, %d results, %d late, %d bad packets (%d reasons), "
                  "%d ring_full over %d cores: Prometheus == weir status == telemetry == stats file%s: 1 passed, 0 failed" %
                  (tot["rx_packets"], tot["rx_events"], tot["results_emitted"], tot["late_dropped"],
                   tot["bad_packets_total"], sum(1 for v in tot["bad_packets"].values() if v), tot["ring_full"],
                   len(st["cores"]), "; promtool lints allowed: %s" % sorted(set(lints)) if lints else ""))
        finally:
            if prom:
                prom.stop()
            if w:
                w.kill()


if __name__ == "__main__":
    main()
