#!/usr/bin/env python3
"""MoldUDP64 gap recovery (format = itch50, rerequest = ADDR:PORT), end to end.

Nasdaq's sample is replayed as MoldUDP64 with packets lost (weir-gen --gap-fraction); a
re-request server on loopback (this script, from the same BinaryFILE) answers weir's
requests.  With it, weir's results must equal the reference's over the capture with no
loss -- the gaps filled and merged in order -- and every lost message counted as
recovered; a server that ignores every first request of a gap is asked again.  With no
server, each gap is given up after gap_timeout: the results equal the reference's
over the lossy capture and the lost messages are counted in seq_gaps."""
import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weir_ref  # noqa: E402
from e2e import compare_results  # noqa: E402

CONFIG = """[dataplane]
devices = net_pcap0,rx_pcap={pcap}
lcores = auto
hugepages = auto
exit_on_eos = true
idle_sleep = 10us
[source trades]
format = itch50
udp_port = 26477
session_date = 2019-12-30
{rerequest}
fields = shares, price, notional, side
[query exec]
from = trades
window = tumbling 1s
aggregates = count, sum(shares), max(price), sum(notional)
sink = file:{out}.exec
[query book]
from = trades
window = tumbling 10s
aggregates = count, sum(side), min(price)
sink = file:{out}.book
"""


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Server(threading.Thread):
    """Answers 20-byte MoldUDP64 requests with the messages asked for, at most `per`
    per answer; with `skip_first`, ignores the first request for each sequence."""

    def __init__(self, msgs, per, skip_first):
        super().__init__(daemon=True)
        self.msgs, self.per, self.skip_first = msgs, per, skip_first
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.requests, self.ignored, self.served, self.seen = 0, 0, 0, set()

    def run(self):
        while not self.stop:
            try:
                req, addr = self.sock.recvfrom(100)
            except socket.timeout:
                continue
            if len(req) != 20:
                continue
            self.requests += 1
            sess, seq, cnt = req[:10], struct.unpack_from(">Q", req, 10)[0], struct.unpack_from(">H", req, 18)[0]
            if self.skip_first and seq not in self.seen:
                self.seen.add(seq)
                self.ignored += 1
                continue
            out = [self.msgs[k - 1] for k in range(seq, min(seq + min(cnt, self.per), len(self.msgs) + 1))]
            pkt = sess + struct.pack(">QH", seq, len(out)) + b"".join(struct.pack(">H", len(m)) + m for m in out)
            self.sock.sendto(pkt, addr)
            self.served += len(out)


def run_weir(a, d, name, pcap, rerequest):
    out = os.path.join(d, name + ".jsonl")
    cfg = os.path.join(d, name + ".ini")
    stats = os.path.join(d, name + ".stats.json")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pcap=pcap, out=out, rerequest=rerequest))
    p = subprocess.run([a.weir, "run", cfg, "--stats-json", stats, "--no-progress"], capture_output=True,
                       text=True, timeout=300)
    if p.returncode:
        if "EAL init failed" in p.stderr:
            print("SKIP: " + p.stderr.strip().splitlines()[-1])
            sys.exit(77)
        fail("weir (%s) exited %d:\n%s" % (name, p.returncode, p.stderr))
    got = []
    for q in ("exec", "book"):
        with open(out + "." + q) as f:
            got += [json.loads(x) for x in f if x.strip()]
    with open(stats) as f:
        return cfg, got, json.load(f)["total"]


def reference(d, name, pcap):
    cfg = os.path.join(d, name + ".ref.ini")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pcap=pcap, out=os.path.join(d, name + ".ref"), rerequest=""))
    return weir_ref.Ref(cfg).run().results()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--itch", required=True, help="the BinaryFILE (Nasdaq's sample)")
    a = ap.parse_args()
    if not os.path.exists(a.itch):
        print("SKIP: %s is missing (the sample lives beside the project, in ../shared/data)" % a.itch)
        return 77
    with open(a.itch, "rb") as f:
        data = f.read()
    msgs, off = [], 0
    while off + 2 <= len(data):
        n = struct.unpack_from(">H", data, off)[0]
        msgs.append(data[off + 2: off + 2 + n])
        off += 2 + n
    with tempfile.TemporaryDirectory(prefix="weir-itch-rec-") as d:
        full, lossy = os.path.join(d, "full.pcap"), os.path.join(d, "lossy.pcap")
        subprocess.run([a.gen, "--itch", a.itch, "--out", full, "--batch", "8", "--udp-port", "26477"],
                       check=True, capture_output=True)
        p = subprocess.run([a.gen, "--itch", a.itch, "--out", lossy, "--batch", "8", "--udp-port", "26477",
                            "--gap-fraction", "0.2", "--heartbeat-every", "5", "--seed", "7"],
                           check=True, capture_output=True, text=True)
        lost = int(re.search(r"(\d+) lost", p.stderr).group(1))
        if lost < 50:
            fail("the lossy capture lost only %d messages" % lost)
        ref_full, ref_lossy = reference(d, "full", full), reference(d, "lossy", lossy)
        if ref_full == ref_lossy:
            fail("the loss does not change the results: the test could not tell")

        for name, per, skip in (("recover", 3, False), ("recover-ask-again", 400, True)):
            srv = Server(msgs, per, skip)
            srv.start()
            try:
                cfg, got, st = run_weir(a, d, name, lossy,
                                        "rerequest = 127.0.0.1:%d\ngap_timeout = 2s" % srv.port)
            finally:
                srv.stop = True
                srv.join()
            err = compare_results(got, ref_full)
            if err:
                fail("%s: the results differ from the reference over the capture with no loss: %s" % (name, err))
            it = st["itch"]
            if it["recovered"] != lost or st["seq_gaps"] != 0 or it["recovery_timeouts"] != 0:
                fail("%s: %d lost; recovered %d, seq_gaps %d, recovery_timeouts %d" %
                     (name, lost, it["recovered"], st["seq_gaps"], it["recovery_timeouts"]))
            if it["rerequests"] != srv.requests or (skip and not srv.ignored):
                fail("%s: weir counted %d requests, the server got %d (ignored %d)" %
                     (name, it["rerequests"], srv.requests, srv.ignored))
            print("ok %s: %d results equal the loss-free reference; %d messages recovered by %d requests "
                  "(%d ignored)" % (name, len(got), it["recovered"], it["rerequests"], srv.ignored))

        # nobody answers: every gap is given up after the timeout
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dead.bind(("127.0.0.1", 0))         # a port that takes requests and never answers
        cfg, got, st = run_weir(a, d, "give-up", lossy,
                                "rerequest = 127.0.0.1:%d\ngap_timeout = 20ms" % dead.getsockname()[1])
        dead.close()
        err = compare_results(got, ref_lossy)
        if err:
            fail("give-up: the results differ from the reference over the lossy capture: %s" % err)
        it = st["itch"]
        if st["seq_gaps"] != lost or it["recovered"] != 0 or it["recovery_timeouts"] < 1:
            fail("give-up: %d lost; seq_gaps %d, recovered %d, recovery_timeouts %d" %
                 (lost, st["seq_gaps"], it["recovered"], it["recovery_timeouts"]))
        print("ok give-up: %d results equal the lossy reference; %d gaps given up, seq_gaps %d" %
              (len(got), it["recovery_timeouts"], st["seq_gaps"]))
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
