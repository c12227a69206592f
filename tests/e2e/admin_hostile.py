#!/usr/bin/env python3
"""The admin server against hostile and clumsy clients, while the dataplane works.

    admin_hostile.py --weir build/weir --gen build/tools/weir-gen

Run 1: [admin] with a token_file; the input never ends: net_pcap reads a FIFO that a
feeder thread fills with weir-gen chunks of consecutive sequence numbers and event times
(net_pcap's infinite_rx=1 replays one capture: after the first pass every batch repeats a
sequence number already seen, so weir counts seq_duplicates and rx_events stands still).
Then, each answer checked:
  - /, /index.html: 200 without a token (static page, no external resources); /api/stats,
    /api/config, /metrics: 200 with the token, 401 with none, a wrong one, a prefix or an
    extension of it, another scheme; HEAD is GET without a body
  - POST, PUT, DELETE, PATCH, OPTIONS, TRACE: 405 (also with a body, and a 100 kB one: 405,
    413 or a close); unknown paths: 404 (never 200), "/api/stats%00" included
  - a request line, one header, many headers, an Authorization header each > 64 KiB:
    a 4xx (400/413/414/431) or a closed connection, never a hang
  - garbage bytes, a bare CRLFCRLF, HTTP/0.9 requests (the stats must not leak without a
    token), a truncated request then silence, NULs in a header, a bad Content-Length,
    pipelined requests without token: an HTTP error or a close, within the idle timeout
  - slowloris: 200 sockets each holding half a header; meanwhile a fresh
    GET /api/stats with the token answers 200 within 5 s (three times); the half requests
    are closed by the server's idle timeout (default 10 s) within 30 s
  - 50 concurrent clients, each GET /metrics on a fresh connection in a loop for 5 s:
    every answer 200 or 503; no timeouts; closes/resets without a reply in at most 1 % of
    the requests (50 clients are inside the server's limits, max_clients 256 and 64 per
    address in dccbfac, and inside its listen backlog of 64, so a correct server
    never has to refuse one; 1 % leaves room for a client reconnecting before the server
    has reaped its previous connection)
  - weir is still up and counting: rx_events grew during the attacks; once the feeder
    stops, weir counts exactly the events fed (no gaps, duplicates or bad packets); it
    exits 0 on SIGTERM with no sanitizer report on stderr
Run 2: no token_file: the data endpoints answer without (and despite) an Authorization
header; 405 and 404 as before; clean exit.
Run 3: a token file with a 4-byte token: weir must not serve the data without it (it
refuses to start, or answers 401).

Every socket operation has a timeout.  Exit 1 with every failed check listed.
"""
import argparse
import http.client
import json
import os
import random
import re
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (SOURCE, QUERY)
import admin_prom  # noqa: E402  (Weir, http_request, SANITIZER)
from admin_prom import Weir, http_request  # noqa: E402

FAILED = []
PASSED = [0]


def check(ok, what):
    if ok:
        PASSED[0] += 1
    else:
        FAILED.append(what)
        print("  FAIL: " + what, flush=True)
    return ok


def req(port, path, token=None, method="GET", headers=None, timeout=10.0, body=None):
    """(status, headers, body) or (None, error text): an exception is an answer too."""
    try:
        return http_request(port, path, token, method, timeout, headers, body=body)
    except (OSError, http.client.HTTPException) as e:
        return None, {}, ("%s: %s" % (type(e).__name__, e)).encode()


def expect(port, path, want, token=None, method="GET", headers=None, what=None, body=None):
    st, hdr, body = req(port, path, token, method, headers, body=body)
    wants = want if isinstance(want, tuple) else (want,)
    check(st in wants, "%s %s%s: %s, want %s%s" % (
        method, path, " (%s)" % what if what else "", st, "/".join(map(str, wants)),
        "" if st in wants else " (%r)" % body[:200]))
    return st, hdr, body


# ---------------------------------------------------------------- input that never ends

class Feeder(threading.Thread):
    """Fills the FIFO that net_pcap reads: a pcap header, then chunks of weir-gen frames
    (one producer, consecutive sequence numbers and event times, no EOS) at about `rate`
    events/s.  `events` counts the events of the chunks written whole."""

    def __init__(self, gen, fifo, d, chunk=2000, rate=20000):
        super().__init__(daemon=True)
        self.gen, self.fifo, self.d, self.chunk, self.rate = gen, fifo, d, chunk, rate
        self.events = 0
        self.error = None
        self.stopping = threading.Event()
        self.fd = None

    def write_all(self, data, deadline):
        while data:
            if time.monotonic() > deadline:
                raise TimeoutError("weir stopped reading its input FIFO")
            _, w, _ = select.select([], [self.fd], [], 0.5)
            if w:
                data = data[os.write(self.fd, data):]

    def run(self):
        try:
            deadline = time.monotonic() + 120
            while self.fd is None:              # ENXIO until weir opens the FIFO to read
                try:
                    self.fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    if self.stopping.is_set() or time.monotonic() > deadline:
                        return
                    time.sleep(0.05)
            k, t0 = 0, time.monotonic()
            path = os.path.join(self.d, "chunk.pcap")
            per_ns = 1000000000 // self.rate
            while not self.stopping.is_set():
                subprocess.run([self.gen, "--out", path, "--events", str(self.chunk), "--keys", "200",
                                "--rate", str(self.rate), "--no-eos", "--seq-start", str(k * self.chunk),
                                "--start-ns", str(1700000000000000000 + k * self.chunk * per_ns),
                                "--seed", str(k + 1)],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
                with open(path, "rb") as f:
                    data = f.read()
                self.write_all(data if k == 0 else data[24:], time.monotonic() + 30)
                k += 1
                self.events += self.chunk
                pause = t0 + k * self.chunk / self.rate - time.monotonic()
                if pause > 0:
                    self.stopping.wait(pause)
        except Exception as e:          # noqa: BLE001 (reported by the main thread)
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            if self.fd is not None:
                os.close(self.fd)

    def stop(self):
        self.stopping.set()
        self.join(timeout=60)


# ---------------------------------------------------------------- raw sockets

def raw_exchange(port, data, shut_wr=False, timeout=20.0, chunk_pause=0.0):
    """Send raw bytes, read until EOF.  Returns (reply bytes, end, seconds, send error):
    end is 'eof', 'reset' or 'timeout' (nothing closed the connection within timeout)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    send_err = None
    try:
        try:
            if chunk_pause:
                for i in range(0, len(data), 4096):
                    s.sendall(data[i:i + 4096])
                    time.sleep(chunk_pause)
            else:
                s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:
            send_err = type(e).__name__
        got, end = b"", "timeout"
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                end = "reset"
                break
            if not b:
                end = "eof"
                break
            got += b
        return got, end, time.monotonic() - t0, send_err
    finally:
        s.close()


STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")


def probe(port, name, data, ok_codes, shut_wr=False, bound=20.0, forbid=None, results=None):
    """One raw probe: a reply whose first status is in ok_codes, or a close without reply,
    within bound seconds; forbid: bytes that must not be in the reply."""
    try:
        reply, end, secs, serr = raw_exchange(port, data, shut_wr, timeout=bound)
    except OSError as e:
        results.append((name, False, "connect: %s" % e))
        return
    m = STATUS.match(reply)
    if end == "timeout" and not reply:
        results.append((name, False, "no reply and no close within %.0f s (a hang)" % bound))
    elif reply and not m:
        results.append((name, False, "reply is not HTTP/1.x: %r" % reply[:120]))
    elif m and int(m.group(1)) not in ok_codes:
        results.append((name, False, "status %s, want one of %s" % (m.group(1).decode(), sorted(ok_codes))))
    elif forbid and forbid in reply:
        results.append((name, False, "the reply holds %r: %r" % (forbid, reply[:200])))
    else:
        how = "status %s" % m.group(1).decode() if m else "closed (%s) without reply" % end
        results.append((name, True, "%s in %.1f s%s" % (how, secs, ", send: " + serr if serr else "")))


ERR4 = set(range(400, 500))


def hostile_probes(port, token):
    rnd = random.Random(7)
    big = 70 * 1024
    host = b"Host: 127.0.0.1\r\n"
    tok = token.encode()
    P = [
        # oversized: 4xx or closed
        ("request line of 70 KiB", b"GET /" + b"a" * big + b" HTTP/1.1\r\n" + host + b"\r\n", {400, 413, 414, 431}),
        ("one 70 KiB header", b"GET /metrics HTTP/1.1\r\n" + host + b"X-Big: " + b"b" * big + b"\r\n\r\n",
         {400, 413, 431}),
        ("2000 headers (100 KiB)", b"GET /metrics HTTP/1.1\r\n" + host +
         b"".join(b"X-H%d: %s\r\n" % (i, b"h" * 40) for i in range(2000)) + b"\r\n", {400, 413, 431}),
        ("70 KiB Authorization", b"GET /api/stats HTTP/1.1\r\n" + host + b"Authorization: Bearer " +
         b"t" * big + b"\r\n\r\n", {400, 401, 413, 431}),
        ("70 KiB request line, slowly", b"GET /" + b"c" * big + b" HTTP/1.1\r\n" + host + b"\r\n",
         {400, 413, 414, 431}, False, 0.002),
        # garbage
        ("4 KiB of random bytes then CRLFCRLF", bytes(rnd.getrandbits(8) for _ in range(4096)) + b"\r\n\r\n", ERR4),
        ("printable garbage line", b"\x16\x03\x01 hello there !!!\r\n\r\n", ERR4),
        ("TLS ClientHello on the HTTP port", bytes.fromhex("16030100a5010000a10303") + b"\x00" * 160 + b"\r\n\r\n",
         ERR4),
        ("bare CRLFCRLF then half-close", b"\r\n\r\n", ERR4, True),
        ("bare CRLFCRLF then silence", b"\r\n\r\n", ERR4),
        ("HTTP/0.9 GET /api/stats then silence", b"GET /api/stats\r\n", ERR4 | {505}),
        ("HTTP/0.9 GET /api/stats then half-close", b"GET /api/stats\r\n", ERR4 | {505}, True),
        ("HTTP/0.9 GET / then half-close", b"GET /\r\n", ERR4 | {505}, True),
        ("version HTTP/0.9 on /api/stats", b"GET /api/stats HTTP/0.9\r\n\r\n", ERR4 | {505}),
        ("version HTTP/3.7", b"GET /api/stats HTTP/3.7\r\n" + host + b"\r\n", ERR4 | {505}),
        ("truncated request then silence", b"GET /api/stats HTTP/1.1\r\n" + host + b"Authoriz", {408}),
        ("truncated request then half-close", b"GET /api/stats HTTP/1.1\r\n" + host + b"Authoriz", ERR4, True),
        ("NUL bytes in a header", b"GET /metrics HTTP/1.1\r\n" + host + b"X-A: a\x00b\r\n\r\n", ERR4),
        ("NUL in the path", b"GET /met\x00rics HTTP/1.1\r\n" + host + b"\r\n", ERR4),
        ("Content-Length: -1 on GET", b"GET /metrics HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n", ERR4),
        ("huge Content-Length on POST", b"POST /api/stats HTTP/1.1\r\n" + host +
         b"Content-Length: 99999999999999999999\r\n\r\n", ERR4),
        ("PUT of a 100 kB body", b"PUT /metrics HTTP/1.1\r\n" + host + b"Authorization: Bearer " + tok +
         b"\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000, {405, 413}),
        ("bad chunked POST then half-close", b"POST /api/stats HTTP/1.1\r\n" + host +
         b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", ERR4, True),
        ("pipelined without token", b"GET /metrics HTTP/1.1\r\n" + host + b"\r\nGET /api/stats HTTP/1.1\r\n" +
         host + b"Connection: close\r\n\r\n", {401}, True),
        ("token in the query string", b"GET /api/stats?token=" + tok + b"&access_token=" + tok + b" HTTP/1.1\r\n" +
         host + b"Connection: close\r\n\r\n", {401}),
    ]
    results, threads = [], []
    for p in P:
        name, data, ok = p[0], p[1], p[2]
        shut = p[3] if len(p) > 3 else False
        pause = p[4] if len(p) > 4 else 0.0

        def run(name=name, data=data, ok=ok, shut=shut, pause=pause):
            if pause:       # the slow one: chunks of 4 KiB 2 ms apart
                try:
                    reply, end, secs, serr = raw_exchange(port, data, False, 20.0, pause)
                except OSError as e:
                    results.append((name, False, "connect: %s" % e))
                    return
                m = STATUS.match(reply)
                good = (m and int(m.group(1)) in ok) or (not reply and end != "timeout")
                results.append((name, bool(good), "%s, %s, %.1f s" % (reply[:40], end, secs)))
                return
            probe(port, name, data, ok, shut, 20.0, forbid=b"rx_events", results=results)
        th = threading.Thread(target=run, daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join(timeout=40)
    check(len(results) == len(P), "raw probes: %d of %d finished" % (len(results), len(P)))
    for name, ok, text in sorted(results):
        print("  %-40s %s" % (name + ":", text))
        check(ok, "raw probe %r: %s" % (name, text))


# ---------------------------------------------------------------- slowloris, concurrency

def slowloris(port, token, n=200):
    socks, refused = [], 0
    half = b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    t0 = time.monotonic()
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.settimeout(5)
            s.sendall(half)
            socks.append(s)
        except OSError:
            refused += 1
    print("  slowloris: %d sockets open with half a header (%d refused at connect) in %.1f s" %
          (len(socks), refused, time.monotonic() - t0))
    try:
        time.sleep(1.0)
        # which of them has the server already closed (over a connection limit)?
        closed = sum(1 for s in socks if select.select([s], [], [], 0)[0])
        print("  slowloris: %d of them already closed by the server (connection limits)" % closed)
        for i in range(3):
            t = time.monotonic()
            st, _, body = req(port, "/api/stats", token, timeout=5)
            dt = time.monotonic() - t
            check(st == 200 and dt < 5, "fresh GET /api/stats #%d while %d half requests are held: %s in %.2f s%s" %
                  (i + 1, len(socks) - closed, st, dt, "" if st == 200 else " (%r)" % body[:120]))
            if st == 200:
                print("  fresh GET /api/stats #%d during slowloris: 200 in %.2f s" % (i + 1, dt))
            time.sleep(0.5)
        # the idle timeout closes the rest
        deadline = time.monotonic() + 30
        left = list(socks)
        while left and time.monotonic() < deadline:
            r, _, _ = select.select(left, [], [], 0.5)
            left = [s for s in left if s not in r]
        check(not left, "slowloris: %d half requests still open %.0f s after they were sent (no idle timeout?)" %
              (len(left), time.monotonic() - t0))
        if not left:
            print("  slowloris: all %d closed by the server %.1f s after they were opened" %
                  (len(socks), time.monotonic() - t0))
    finally:
        for s in socks:
            s.close()


def hammer(port, token, clients=50, seconds=5.0):
    counts = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    bad_bodies = []

    def client():
        while time.monotonic() < stop_at:
            try:
                st, _, body = http_request(port, "/metrics", token, timeout=5)
                k = st
                if st == 200 and b"weir_rx_events_total" not in body:
                    bad_bodies.append(body[:200])
            except socket.timeout:
                k = "timeout"
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected,
                    http.client.IncompleteRead, http.client.BadStatusLine):
                k = "closed without reply"
            except OSError as e:
                k = "error %s" % type(e).__name__
            with lock:
                counts[k] = counts.get(k, 0) + 1

    ths = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout=seconds + 30)
    alive = sum(th.is_alive() for th in ths)
    total = sum(counts.values())
    print("  %d clients x %.0f s of GET /metrics: %d requests, %s" % (clients, seconds, total, counts))
    check(not alive, "hammer: %d clients still blocked after %.0f s" % (alive, seconds + 30))
    check(total >= clients, "hammer: only %d requests in all" % total)
    check(counts.get(200, 0) > 0, "hammer: no 200 at all")
    other = {k: v for k, v in counts.items() if k not in (200, 503, "closed without reply")}
    check(not other, "hammer: answers other than 200/503 or a close: %s" % other)
    resets = counts.get("closed without reply", 0)
    check(resets <= 0.01 * total, "hammer: %d of %d requests closed without a reply (bound 1 %%)" % (resets, total))
    check(not bad_bodies, "hammer: 200 without weir_rx_events_total: %r" % bad_bodies[:1])


# ---------------------------------------------------------------- runs

def write_cfg(d, name, device, admin):
    path = os.path.join(d, name + ".ini")
    with open(path, "w") as f:
        f.write("[dataplane]\ndevices = net_pcap0,rx_pcap=%s\nworkers = 2\nlcores = auto\nhugepages = auto\n"
                "idle_sleep = 100us\neal_args = --log-level=*:error\n" % device)
        f.write(e2e.SOURCE.format(name="tx", port=7000, fields="amount:i64, merchant:u64", delay="50ms"))
        f.write(e2e.QUERY.format(name="spend", src="tx", window="tumbling 1s", lateness="0",
                                 aggs="count, sum(amount)", dir=d))
        f.write("\n[admin]\nlisten = 127.0.0.1:0\n" + admin)
    return path


def rx_events(port, token):
    st, _, body = req(port, "/api/stats", token, timeout=10)
    if st != 200:
        return None
    try:
        return json.loads(body)["total"]["rx_events"]
    except (ValueError, KeyError, TypeError):
        return None


def basics(port, token, cfg):
    for path in ("/", "/index.html"):
        st, hdr, body = expect(port, path, 200)
        if st == 200:
            check(hdr.get("content-type", "").startswith("text/html"),
                  "GET %s: Content-Type %r" % (path, hdr.get("content-type")))
            check(b"<!doctype html" in body[:200].lower() or b"<html" in body.lower(),
                  "GET %s: not an HTML page: %r" % (path, body[:100]))
            ext = re.findall(rb"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", body, re.I)
            check(not ext, "GET %s: the page loads external resources: %r" % (path, ext[:3]))
    st, _, body = expect(port, "/", 200, method="HEAD")
    check(body == b"", "HEAD /: a body of %d bytes" % len(body))
    st, hdr, body = expect(port, "/api/stats", 200, token)
    if st == 200:
        check(hdr.get("content-type", "").startswith("application/json"),
              "GET /api/stats: Content-Type %r" % hdr.get("content-type"))
        try:
            doc = json.loads(body)
            check(all(k in doc for k in ("total", "cores", "ports", "queries")) and "rx_events" in doc["total"],
                  "GET /api/stats: keys %s" % sorted(doc))
        except ValueError as e:
            check(False, "GET /api/stats: not JSON (%s)" % e)
    st, hdr, body = expect(port, "/api/config", 200, token)
    if st == 200:
        try:
            doc = json.loads(body)
            check(doc.get("path") == cfg, "GET /api/config: path %r, want %r" % (doc.get("path"), cfg))
            check("udp_port = 7000" in doc.get("text", ""), "GET /api/config: text %r" % doc.get("text", "")[:200])
            if token:
                check(token not in body.decode(errors="replace"), "GET /api/config: the token itself is in it")
        except ValueError as e:
            check(False, "GET /api/config: not JSON (%s)" % e)
    st, hdr, body = expect(port, "/metrics", 200, token)
    if st == 200:
        ct = hdr.get("content-type", "")
        check(ct.startswith("text/plain") and "version=0.0.4" in ct, "GET /metrics: Content-Type %r" % ct)
    st, _, body = expect(port, "/metrics", 200, token, method="HEAD")
    check(body == b"", "HEAD /metrics: a body of %d bytes" % len(body))
    st, _, _ = req(port, "/api/stats?x=1&y", token)
    check(st == 200, "GET /api/stats?x=1&y: %s, want 200 (a query string is not a path)" % st)


def methods_and_paths(port, token):
    for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        for path in ("/", "/api/stats", "/metrics", "/api/config"):
            expect(port, path, 405, token, method=m)
    expect(port, "/api/stats", 405, token, method="POST", headers={"Content-Type": "application/json"},
           body=b"{}", what="with a body")
    for path in ("/nope", "/api", "/api/", "/api/stats/", "/metrics/", "/index.htm", "//metrics",
                 "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/stats%00", "/METRICS"):
        expect(port, path, 404, token)
        if token:
            st, _, _ = req(port, path)
            check(st in (401, 404), "GET %s without token: %s, want 404 (or 401)" % (path, st))


def auth(port, token):
    for path in ("/api/stats", "/metrics", "/api/config"):
        wrong = "".join(random.Random(path).choice("0123456789abcdef") for _ in token)
        expect(port, path, 401, what="no token")
        expect(port, path, 401, wrong, what="wrong token of the same length")
        expect(port, path, 401, token[:-1], what="a prefix of the token")
        expect(port, path, 401, token + "0", what="the token and one more byte")
        expect(port, path, 401, headers={"Authorization": "Basic " + token}, what="Basic scheme")
        expect(port, path, 401, headers={"Authorization": "Bearer"}, what="Bearer without token")
        expect(port, path, 401, headers={"Authorization": "Bearer "}, what="Bearer and a space")
        expect(port, path, 401, headers={"Authorization": token}, what="the token without scheme")
        expect(port, path, 401, headers={"Authorization": "Bearer " + token + " x"}, what="token and more")
        expect(port, path, 200, token, what="the token")
    expect(port, "/", 200, what="static page without token")
    expect(port, "/", 200, wrong, what="static page with a wrong token")


def no_sanitizer_report(w):
    err = w.stderr()
    return check(not admin_prom.SANITIZER.search(err), "%s: sanitizer report:\n%s" % (w.name, err[-6000:]))


def run1(a, d):
    print("run 1: token_file, endless input through a FIFO", flush=True)
    token = secrets.token_hex(16)
    tf = os.path.join(d, "token")
    with open(os.open(tf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(token + "\n")
    fifo = os.path.join(d, "in.fifo")
    os.mkfifo(fifo)
    cfg = write_cfg(d, "run1", fifo, "token_file = %s\n" % tf)
    feeder = Feeder(a.gen, fifo, d)
    w = Weir(a.weir, cfg, d, "run1")
    feeder.start()
    try:
        port = w.wait_listening()
        # the input flows before the attacks start
        deadline = time.monotonic() + 60
        ev0 = rx_events(port, token)
        while (ev0 or 0) < 4000 and time.monotonic() < deadline:
            time.sleep(0.2)
            ev0 = rx_events(port, token)
        if not check((ev0 or 0) >= 4000, "rx_events %s 60 s after start: the input does not flow (feeder: %s)" %
                     (ev0, feeder.error)):
            return
        print("  input flows: rx_events %d" % ev0, flush=True)
        basics(port, token, cfg)
        auth(port, token)
        methods_and_paths(port, token)
        print("  basics, auth, methods, paths: %d checks, %d failed" % (PASSED[0] + len(FAILED), len(FAILED)),
              flush=True)
        hostile_probes(port, token)
        slowloris(port, token)
        hammer(port, token)
        check(w.alive(), "weir died during the attacks (rc %s):\n%s" % (w.p.returncode, w.stderr()[-4000:]))
        ev1 = rx_events(port, token)
        check(ev1 is not None and ev1 > ev0, "rx_events did not grow during the attacks: %s -> %s" % (ev0, ev1))
        print("  rx_events %d -> %s during the attacks" % (ev0, ev1), flush=True)
        feeder.stop()
        check(feeder.error is None, "feeder: %s" % feeder.error)
        fed = feeder.events
        deadline = time.monotonic() + 60
        while rx_events(port, token) != fed and time.monotonic() < deadline:
            time.sleep(0.2)
        st = w.stop()
        no_sanitizer_report(w)
        tot = st["total"]
        check(tot["rx_events"] == fed, "stats file: rx_events %d, %d events fed" % (tot["rx_events"], fed))
        for k in ("seq_gaps", "seq_duplicates", "bad_packets_total"):
            check(tot[k] == 0, "stats file: %s %d, want 0" % (k, tot[k]))
        print("  weir counted every one of the %d events fed, exit 0 on SIGTERM" % fed, flush=True)
    finally:
        feeder.stopping.set()
        w.kill()
        feeder.join(timeout=10)


def run2(a, d):
    print("run 2: no token_file", flush=True)
    pcap = os.path.join(d, "small.pcap")
    subprocess.run([a.gen, "--out", pcap, "--events", "20000", "--keys", "100", "--rate", "20000", "--seed", "3"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    cfg = write_cfg(d, "run2", pcap, "")
    w = Weir(a.weir, cfg, d, "run2")
    try:
        port = w.wait_listening()
        basics(port, None, cfg)
        for path in ("/api/stats", "/metrics", "/api/config"):
            expect(port, path, 200, "not-the-token-of-anyone", what="any Authorization is ignored without a token")
        methods_and_paths(port, None)
        w.stop()
        no_sanitizer_report(w)
    finally:
        w.kill()


def run3(a, d):
    print("run 3: a token file with a token too short to be one", flush=True)
    tf = os.path.join(d, "short-token")
    with open(os.open(tf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("abcd\n")
    pcap = os.path.join(d, "small.pcap")
    cfg = write_cfg(d, "run3", pcap, "token_file = %s\n" % tf)
    w = Weir(a.weir, cfg, d, "run3")
    try:
        deadline = time.monotonic() + 90
        while w.alive() and not admin_prom.LISTENING.search(w.stderr()) and time.monotonic() < deadline:
            time.sleep(0.1)
        m = admin_prom.LISTENING.search(w.stderr())
        if m:
            port = int(m.group(2))
            for path in ("/api/stats", "/metrics", "/api/config"):
                st, _, _ = req(port, path)
                check(st == 401, "short token: GET %s without token: %s, want 401 (or no server at all)" % (path, st))
            w.stop()
            no_sanitizer_report(w)
        else:
            check(not w.alive(), "short token: weir neither listens nor exits within 90 s")
            check(w.p.returncode != 0, "short token: weir exited 0 without serving")
            no_sanitizer_report(w)
            print("  weir refused to start: rc %s, %s" % (w.p.returncode,
                                                           (w.stderr().strip().splitlines() or ["?"])[-1]))
    finally:
        w.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    a = ap.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="weir-admin-hostile-") as d:
        run1(a, d)
        run2(a, d)
        run3(a, d)
    if FAILED:
        print("admin-hostile: %d checks failed:\n  %s" % (len(FAILED), "\n  ".join(FAILED)))
        print("0 passed, 1 failed")
        sys.exit(1)
    print("admin-hostile: %d checks in %.0f s: 1 passed, 0 failed" % (PASSED[0], time.monotonic() - t0))


if __name__ == "__main__":
    main()
