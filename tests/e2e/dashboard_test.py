#!/usr/bin/python3
"""The admin server's dashboard (/) in headless Chromium, driven over the DevTools protocol.

    dashboard_test.py --weir build/weir --gen build/tools/weir-gen --out DIR

weir runs with `[admin] listen = 127.0.0.1:0` (the port is read from its stderr line
`weir: admin: listening on http://HOST:PORT/`) on input that keeps flowing: a line-protocol
capture without timestamps (event time = arrival, so watermarks and results move with the
wall clock) replayed forever by net_pcap's infinite_rx=1, beside a weir-gen WEV capture
read once (a replayed WEV capture would be all sequence duplicates after its first pass;
its source keeps the watermark of its last record).  Chromium loads the page; once
#status says "live" after at least 3 polls the page must show events/s > 0 (within a
factor of 10 of what two GET /api/stats a few seconds apart give), results/s, a row per
query whose watermark (text and data-value) is within 5 s of event time of the
watermark /api/stats gives for it at about the same time, one row per core of
/api/stats and one bar per ring.  Saved in DIR: dashboard.png (a screenshot),
dashboard.txt (the page's text), the stats document compared with, weir's stderr.

Negative check: the same page served by a small Python server whose /api/stats first
answers 401 (the page must ask for a token, which the test types in; the server must
then get `Authorization: Bearer <token>`) and then 500: #status must say "error: ...",
never "live".

Needs Debian's chromium and python3-websocket (hence /usr/bin/python3); exit 77 without.
"""
import argparse
import base64
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True     # imports from the source tree leave no __pycache__ there
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (SOURCE, QUERY, udp_frame, write_pcap, ini_line, fail)

import admin_prom  # noqa: E402  (Weir: weir with its admin port, stopped cleanly)

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback only, whatever the env says
CHROMIUM = "/usr/bin/chromium"
TOKEN = "dash-test-token-1"

LINE_SOURCE = {"format": "line", "udp_port": "8089", "measurement": "cpu", "tags": "host, region",
               "fields": "usage:f64, n:i64", "watermark_delay": "200ms", "idle_timeout": "1s"}
LINE_QUERIES = [("cpu_1s", {"window": "tumbling 1s", "aggregates": "count, avg(usage), max(n)"}),
                ("cpu_hop", {"window": "hopping 2s 500ms", "aggregates": "count, max(usage)"})]
WEV_QUERY = ("spend", "tumbling 1s", "0", "count, sum(amount), max(amount)")
HAVING_QUERY = "busy_keys"


def fail(msg):
    e2e.fail(msg)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def deadline_loop(seconds, step=0.2):
    """Yields until `seconds` have passed, sleeping `step` between turns."""
    end = time.monotonic() + seconds
    while True:
        yield
        if time.monotonic() >= end:
            return
        time.sleep(step)


def get_json(url, timeout=5.0):
    with NO_PROXY.open(url, timeout=timeout) as r:
        return json.loads(r.read())


# ------------------------------------------------------------------ the workload

def write_inputs(d, gen):
    """A WEV capture from weir-gen (event times ending about now, no EOS, a few malformed
    frames) and a line-protocol capture without timestamps (bad lines among them)."""
    now = time.time_ns()
    wev = os.path.join(d, "tx.pcap")
    subprocess.run([gen, "--out", wev, "--events", "20000", "--keys", "300", "--rate", "4000",
                    "--start-ns", str(now - 5 * 10**9), "--no-eos", "--malformed", "0.02", "--seed", "21"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    frames = []
    for j in range(64):
        lines = [b"cpu,host=h%d,region=%s usage=%d.5,n=%di" % (i % 7, (b"eu", b"us")[i % 2], i, j) for i in range(8)]
        if j % 16 == 0:
            lines.append(b"mem,host=h1 used=3i")                 # lp_other_measurement
        if j % 32 == 0:
            lines.append(b"cpu,host=h1,region=eu usage=")        # lp_syntax
        frames.append(e2e.udp_frame(b"\n".join(lines), 8089, sport=5000 + j % 4, src="10.1.0.%d" % (1 + j % 2)))
    lp = os.path.join(d, "lines.pcap")
    e2e.write_pcap(lp, frames)
    return wev, lp


def write_config(d, wev, lp):
    # every lcore on one CPU, the first we may use (they share it; idle_sleep lets an idle
    # worker yield): the endless replay keeps the RX core busy, the other CPUs stay for
    # Chromium and the rest of the machine
    text = ("[dataplane]\ndevices = net_pcap0,rx_pcap=%s;net_pcap1,rx_pcap=%s,infinite_rx=1\n"
            "rx_cores = 1\nworkers = 2\nlcores = %d\nhugepages = auto\nbackpressure = block\n"
            "idle_sleep = 100us\neal_args = --log-level=*:error\n\n[admin]\nlisten = 127.0.0.1:0\n" %
            (wev, lp, min(os.sched_getaffinity(0))))
    text += e2e.SOURCE.format(name="tx", port=7000, fields="amount:i64, merchant:u64", delay="50ms")
    q, window, lateness, aggs = WEV_QUERY
    text += e2e.QUERY.format(name=q, src="tx", window=window, lateness=lateness, aggs=aggs, dir=d)
    # about 13 records per key and second: HAVING leaves every window out (the page's
    # "HAVING rejected" column must show them)
    text += ("\n[query %s]\nsql = SELECT key, COUNT(*) AS n FROM tx\n"
             "  GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND) HAVING COUNT(*) > 100000\n"
             "sink = file:%s/%s.jsonl\n" % (HAVING_QUERY, d, HAVING_QUERY))
    text += "\n[source sensors]\n" + "".join(e2e.ini_line(*kv) for kv in LINE_SOURCE.items())
    for qname, keys in LINE_QUERIES:
        text += "\n[query %s]\nfrom = sensors\n" % qname + "".join(e2e.ini_line(*kv) for kv in keys.items()) + \
            "sink = file:%s/%s.jsonl\n" % (d, qname)
    path = os.path.join(d, "weir.ini")
    with open(path, "w") as f:
        f.write(text)
    return path, [WEV_QUERY[0], HAVING_QUERY] + [q for q, _ in LINE_QUERIES]


# ------------------------------------------------------------------ Chromium over CDP

class Chromium:
    def __init__(self, d):
        self.ud = os.path.join(d, "chromium-profile")
        os.makedirs(self.ud)
        self.logpath = os.path.join(d, "chromium.log")
        with open(self.logpath, "w") as log:
            self.p = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                                       "--remote-debugging-port=0", "--user-data-dir=" + self.ud,
                                       "--remote-allow-origins=*", "--no-proxy-server", "--no-first-run",
                                       "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                                       "--disable-background-networking", "--disable-component-update",
                                       "--mute-audio", "--window-size=1400,1000", "about:blank"],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.port = None
        for _ in deadline_loop(30.0, 0.1):
            try:
                with open(os.path.join(self.ud, "DevToolsActivePort")) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    self.port = int(first)
                    break
            except OSError:
                pass
            if self.p.poll() is not None:
                break
        if self.port is None:
            self.close()
            fail("chromium wrote no DevToolsActivePort in 30 s (exit %s):\n%s" % (self.p.returncode, self.log()))

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def open(self, url):
        """A new tab on url: a Page to drive."""
        req = urllib.request.Request("http://127.0.0.1:%d/json/new?%s" % (self.port, url), method="PUT")
        with NO_PROXY.open(req, timeout=10) as r:
            target = json.loads(r.read())
        return Page(target["webSocketDebuggerUrl"])

    def close(self):
        """Browser.close over DevTools, then SIGKILL to its process group (it runs in a
        session of its own: the renderers and helpers too).  Never raises."""
        if self.p.poll() is None and self.port:
            try:
                with open(os.path.join(self.ud, "DevToolsActivePort")) as f:
                    path = f.read().split()[1]
                ws = websocket.create_connection("ws://127.0.0.1:%d%s" % (self.port, path), timeout=5,
                                                 suppress_origin=True, http_no_proxy=["127.0.0.1", "localhost"])
                ws.send(json.dumps({"id": 1, "method": "Browser.close"}))
                ws.close()
            except Exception:
                pass
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)   # whatever is left of the group
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print("warning: chromium (pid %d) still there 15 s after SIGKILL" % self.p.pid)


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=15, suppress_origin=True,
                                              http_no_proxy=["127.0.0.1", "localhost"])
        self.next_id = 0

    def call(self, method, timeout=15.0, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.ws.settimeout(max(0.1, end - time.monotonic()))
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if msg.get("id") == mid:
                if "error" in msg:
                    fail("DevTools %s: %s" % (method, msg["error"]))
                return msg.get("result", {})
        fail("DevTools %s: no answer in %.0f s" % (method, timeout))

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            fail("page script failed: %s" % json.dumps(r["exceptionDetails"])[:2000])
        return r.get("result", {}).get("value")

    def screenshot(self, path, width=1400):
        h = self.eval("Math.ceil(document.documentElement.scrollHeight)") or 1000
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=min(int(h), 6000),
                  deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)                         # a frame at the new size (the charts redraw on resize)
        r = self.call("Page.captureScreenshot", timeout=30.0, format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


# What the test reads from the page, in one evaluation.
SNAPSHOT = r"""(() => {
  const q = s => document.querySelector(s), all = s => Array.from(document.querySelectorAll(s));
  const val = e => e ? e.getAttribute("data-value") : null, txt = e => e ? e.textContent.trim() : null;
  const st = q("#status");
  return {
    status: txt(st), polls: st ? Number(st.getAttribute("data-polls") || 0) : 0,
    events: val(q("#events-rate")), events_text: txt(q("#events-rate")),
    results: val(q("#results-rate")), results_text: txt(q("#results-rate")),
    queries: all("#queries tr.query").map(tr => ({
      name: tr.getAttribute("data-query"), wm_text: txt(tr.querySelector(".wm")), wm: val(tr.querySelector(".wm")),
      lag_text: txt(tr.querySelector(".lag")), lag: val(tr.querySelector(".lag")),
      rejected: val(tr.querySelector(".rejected")) })),
    cores: all("#cores tbody tr").map(tr => [tr.getAttribute("data-role"), tr.getAttribute("data-index")]),
    bars: all("#rings .bar").length,
    sections: ["#sources", "#bad", "#checkpoints", "#rings"].filter(s => !q(s)),
    auth_shown: q("#auth") ? getComputedStyle(q("#auth")).display !== "none" : false,
  };
})()"""


def wait_page(page, cond, what, timeout):
    """Snapshots until cond(snapshot) holds; the last snapshot (fails after timeout)."""
    snap = None
    for _ in deadline_loop(timeout, 0.25):
        snap = page.eval(SNAPSHOT)
        if snap and cond(snap):
            return snap
    fail("the dashboard did not %s in %.0f s; last state: %s" % (what, timeout, json.dumps(snap)[:3000]))


# ------------------------------------------------------------------ the negative check's server

class BadServer:
    """Serves `page` at /; /api/stats answers 401 without `Authorization: Bearer TOKEN`
    and 500 with it.  Notes the Authorization headers it saw."""

    def __init__(self, page):
        seen = self.seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                if code == 401:
                    self.send_header("WWW-Authenticate", 'Bearer realm="weir"')
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path in ("/", "/index.html"):
                    return self.answer(200, "text/html; charset=utf-8", page)
                if self.path != "/api/stats":
                    return self.answer(404, "text/plain", b"not found\n")
                auth = self.headers.get("Authorization")
                seen.append(auth)
                if auth != "Bearer " + TOKEN:
                    return self.answer(401, "text/plain", b"a bearer token is required\n")
                self.answer(500, "text/plain", b"stats are broken here on purpose\n")

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ------------------------------------------------------------------ the test

def plausible_ns(v):
    return 1.5e18 < v < 4.1e18          # 2017 .. 2099


def iso_ns(text):
    """ns of the page's ISO text (toISOString: ms precision, Z)."""
    import datetime
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() * 1e9


def check_live(br, port, names, out):
    base = "http://127.0.0.1:%d/" % port
    with NO_PROXY.open(base, timeout=10) as r:
        ctype, page_bytes = r.headers.get("Content-Type", ""), r.read()
    if not ctype.startswith("text/html") or b'id="events-rate"' not in page_bytes:
        fail("GET / is not the dashboard (%s, %d bytes): %r" % (ctype, len(page_bytes), page_bytes[:200]))
    page = br.open(base)
    try:
        snap = wait_page(page, lambda s: s["status"] == "live" and s["polls"] >= 3 and s["events"] not in ("", None),
                         "say 'live' after 3 polls", 30.0)
        # the reference: /api/stats fetched from here, just after the page's snapshot
        st = get_json(base + "api/stats")
        with open(os.path.join(out, "stats.json"), "w") as f:
            json.dump(st, f, indent=1)
        if snap["sections"]:
            fail("the dashboard has no %s" % snap["sections"])
        ev = float(snap["events"])
        if not ev > 0:
            fail("the dashboard shows %r events/s (%r): the input flows" % (ev, snap["events_text"]))
        if snap["results"] in ("", None) or float(snap["results"]) < 0:
            fail("the dashboard shows no results/s: %r" % snap["results_text"])
        # every query of the config, its watermark as /api/stats gives it
        rows = {q["name"]: q for q in snap["queries"]}
        for name in names:
            q = rows.get(name)
            if q is None:
                fail("no row for query %s in #queries (rows: %s)" % (name, sorted(rows)))
            if not q["wm_text"] or q["wm"] in ("", None):
                fail("query %s: an empty watermark cell (%r, data-value %r)" % (name, q["wm_text"], q["wm"]))
            wm = float(q["wm"])
            ref = (st.get("queries", {}).get(name) or {}).get("watermark_ns")
            if not plausible_ns(wm):
                fail("query %s: watermark data-value %r is no plausible ns timestamp" % (name, q["wm"]))
            if ref is None or abs(wm - ref) > 5e9:
                fail("query %s: the dashboard's watermark %d (%s) is not within 5 s of /api/stats' %r" %
                     (name, wm, q["wm_text"], ref))
            if abs(iso_ns(q["wm_text"]) - wm) > 1e6:
                fail("query %s: the watermark text %r is not its data-value %d" % (name, q["wm_text"], wm))
            if not q["lag_text"] or q["lag"] in ("", None):
                fail("query %s: no watermark lag shown (%r)" % (name, q["lag_text"]))
            # HAVING rejected: a count, at most what /api/stats said just after
            ref_rej = (st.get("queries", {}).get(name) or {}).get("rejected")
            if q["rejected"] in ("", None) or ref_rej is None or not 0 <= float(q["rejected"]) <= ref_rej:
                fail("query %s: HAVING rejected %r on the page, %r in /api/stats just after" %
                     (name, q["rejected"], ref_rej))
        extra = set(rows) - set(names)
        if extra:
            fail("rows for queries not in the config: %s" % sorted(extra))
        # HAVING leaves out every window of busy_keys: once windows have fired the page
        # shows a count, and in any one stats document it is the number of windows the
        # twin query `spend` (same key and window, no HAVING) emitted
        def having_shown(s):
            r = [q["rejected"] for q in s["queries"] if q["name"] == HAVING_QUERY]
            return bool(r) and r[0] not in ("", None) and float(r[0]) > 0
        hs = wait_page(page, having_shown, "show HAVING rejections for %s" % HAVING_QUERY, 30.0)
        sh = get_json(base + "api/stats")
        page_rej = [float(q["rejected"]) for q in hs["queries"] if q["name"] == HAVING_QUERY][0]
        rej, twin = sh["queries"][HAVING_QUERY]["rejected"], sh["queries"][WEV_QUERY[0]]["results_emitted"]
        if rej != twin or sh["queries"][HAVING_QUERY]["results_emitted"] != 0:
            fail("/api/stats: %s rejected %r and emitted %r; its twin %s emitted %r windows" %
                 (HAVING_QUERY, rej, sh["queries"][HAVING_QUERY]["results_emitted"], WEV_QUERY[0], twin))
        if not 0 < page_rej <= rej:
            fail("the page shows %r HAVING rejections for %s, /api/stats just after %r" % (page_rej, HAVING_QUERY, rej))
        want = [[c["role"], str(c["index"])] for c in st["cores"]]
        if sorted(snap["cores"]) != sorted(want):
            fail("#cores has rows %s, /api/stats cores %s" % (snap["cores"], want))
        if not st.get("rings") or snap["bars"] != len(st["rings"]):
            fail("#rings has %d bars, /api/stats %d rings" % (snap["bars"], len(st.get("rings") or [])))
        # the rate is the server's: two samples taken here, a few seconds apart
        t1 = get_json(base + "api/stats")
        time.sleep(3)
        t2 = get_json(base + "api/stats")
        ref_ev = (t2["total"]["rx_events"] - t1["total"]["rx_events"]) / (t2["uptime_s"] - t1["uptime_s"])
        if not ref_ev / 10 <= ev <= ref_ev * 10:
            fail("the dashboard shows %.0f events/s, /api/stats gives %.0f" % (ev, ref_ev))
        # the artifacts: a screenshot once the charts have a few points, the page's text
        page.screenshot(os.path.join(out, "dashboard.png"))
        text = page.eval("document.body.innerText")
        with open(os.path.join(out, "dashboard.txt"), "w") as f:
            f.write(text)
        return ev, snap
    finally:
        page.close()


def check_error(br, page_bytes, out):
    bad = BadServer(page_bytes)
    page = None
    try:
        page = br.open("http://127.0.0.1:%d/" % bad.port)
        snap = wait_page(page, lambda s: s["status"] is not None and s["status"].startswith("error") and s["auth_shown"],
                         "ask for a token on a 401", 15.0)
        page.eval("document.getElementById('token').value = %s; "
                  "document.getElementById('auth').requestSubmit(); 0" % json.dumps(TOKEN))
        snap = wait_page(page, lambda s: "Bearer " + TOKEN in bad.seen and s["status"].startswith("error") and
                         "500" in s["status"], "show the error of a 500 after the token was given", 15.0)
        seen_after = bad.seen[bad.seen.index("Bearer " + TOKEN):]
        if any(h != "Bearer " + TOKEN for h in seen_after):
            fail("after the token was given the page sent %s" % seen_after)
        time.sleep(2.5)                 # it keeps retrying, and stays in error
        snap = page.eval(SNAPSHOT)
        if snap["status"] == "live" or not snap["status"].startswith("error") or snap["polls"]:
            fail("against a failing /api/stats #status says %r (%d polls)" % (snap["status"], snap["polls"]))
        if len(bad.seen) < 3:
            fail("the page stopped polling a failing /api/stats (%d requests)" % len(bad.seen))
        page.screenshot(os.path.join(out, "dashboard-error.png"))
        return snap["status"], len(bad.seen)
    finally:
        if page:
            page.close()
        bad.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--out", required=True, help="where to save dashboard.png, dashboard.txt and logs")
    a = ap.parse_args()
    global websocket
    try:
        import websocket
    except ImportError:
        skip("no websocket module for %s (Debian: python3-websocket)" % sys.executable)
    if not os.access(CHROMIUM, os.X_OK):
        skip("no %s (Debian: chromium)" % CHROMIUM)
    os.makedirs(a.out, exist_ok=True)
    d = tempfile.mkdtemp(prefix="weir-dash-")
    w = br = None
    try:
        wev, lp = write_inputs(d, a.gen)
        cfg, names = write_config(d, wev, lp)
        shutil.copy(cfg, os.path.join(a.out, "weir.ini"))
        w = admin_prom.Weir(a.weir, cfg, d)
        port = w.wait_listening()
        br = Chromium(d)
        ev, snap = check_live(br, port, names, a.out)
        with NO_PROXY.open("http://127.0.0.1:%d/" % port, timeout=10) as r:
            page_bytes = r.read()
        status, n = check_error(br, page_bytes, a.out)
        w.stop()                        # exit 0, no sanitizer report, a stats file
        print("dashboard: live after %d polls, %.0f events/s, %s results/s, %d queries with watermarks, %d cores; "
              "a failing server: token asked and sent, %r after %d requests; artifacts in %s: 1 passed, 0 failed" %
              (snap["polls"], ev, snap["results_text"], len(names), len(snap["cores"]), status, n, a.out))
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError, websocket.WebSocketException) as e:
        import traceback
        traceback.print_exc()
        fail("%s: %s" % (type(e).__name__, e))
    finally:
        if br:
            br.close()
        if w:
            w.kill()
        for name in ("weir.stderr", "chromium.log"):
            if os.path.exists(os.path.join(d, name)):
                shutil.copy(os.path.join(d, name), os.path.join(a.out, name))
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
