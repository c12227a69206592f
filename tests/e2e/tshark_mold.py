#!/usr/bin/env python3
"""MoldUDP64 captures of weir-gen --itch read by another implementation: Wireshark's
moldudp64 dissector (tshark).

    tshark_mold.py --gen build/tools/weir-gen --data ../shared/data

  1. An A/B capture with heartbeats, --batch, --seq-start and --mold-session: tshark
     reports no Error or Warning expert item, and every frame's port, session,
     sequence, count and blocks (per-block sequence, length and bytes) equal the
     packets this test lays out itself from the BinaryFILE (u16 BE length + message)
     as weir-gen --help describes them: --batch messages per packet (at most 8972
     bytes), the B copy of each packet on --ab-port one packet later, a heartbeat
     (count 0, the next sequence) after every --heartbeat-every packets, the end of
     session (count 0xFFFF) last.
  2. With lost and re-sent packets (random): no Error or Warning, and every block
     tshark finds is the file's message at its sequence number.
  3. Control: the first capture with one block length corrupted must draw an Error
     (the expert check can fail).
Exit 77 (skip) without tshark or the test data.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weir_ref  # noqa: E402

SAMPLE = "itch/12302019_SNIPPET.NASDAQ_ITCH50"
PORT_A, PORT_B = 26477, 26478
FIELDS = ["frame.number", "udp.dstport", "moldudp64.session", "moldudp64.sequence", "moldudp64.count",
          "moldudp64.msgseq", "moldudp64.msglen", "moldudp64.msgdata", "_ws.expert.severity", "_ws.expert.message"]
PI_WARN = 0x00600000            # Wireshark's expert severities: chat, note, comment < warn < error


def fail(msg):
    print("FAIL: " + msg)
    print("0 passed, 1 failed")
    sys.exit(1)


def binaryfile(path):
    """Nasdaq BinaryFILE: u16 big-endian length, then the message."""
    with open(path, "rb") as f:
        data = f.read()
    msgs, off = [], 0
    while off < len(data):
        n = struct.unpack_from(">H", data, off)[0]
        msgs.append(data[off + 2: off + 2 + n])
        off += 2 + n
    if off != len(data):
        fail("%s: the last message runs past the end" % path)
    return msgs


def expected_frames(msgs, batch, hb_every, seq0, session):
    """The frames of an A/B capture without losses: [(port, session, seq, count, [msgs])]."""
    out, lag, seq, npk, i = [], None, seq0, 0, 0

    def send(pk):
        nonlocal lag
        out.append((PORT_A,) + pk)
        if lag is not None:
            out.append((PORT_B,) + lag)
        lag = pk
    while i < len(msgs):
        blocks, size = [], 20
        while len(blocks) < batch and i < len(msgs) and size + 2 + len(msgs[i]) <= 8972:
            size += 2 + len(msgs[i])
            blocks.append(msgs[i])
            i += 1
        send((session, seq, len(blocks), blocks))
        seq += len(blocks)
        npk += 1
        if npk % hb_every == 0:
            send((session, seq, 0, []))
    send((session, seq, 0xFFFF, []))
    out.append((PORT_B,) + lag)
    return out


def tshark(pcap, *args):
    p = subprocess.run(["tshark", "-r", pcap, "-d", "udp.port==%d,moldudp64" % PORT_A,
                        "-d", "udp.port==%d,moldudp64" % PORT_B] + list(args),
                       capture_output=True, text=True, timeout=300)
    if p.returncode:
        fail("tshark %s failed (%d):\n%s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout


def dissect(pcap):
    """Per frame: (port, session, seq, count, [(block seq, length, bytes)], [(severity, message)])."""
    out = []
    text = tshark(pcap, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;",
                  *sum((["-e", f] for f in FIELDS), []))
    for line in text.splitlines():
        num, port, session, seq, count, bseq, blen, bdata, sev, emsg = line.split("|")
        blocks = []
        if bseq:
            blocks = list(zip(map(int, bseq.split(";")), map(int, blen.split(";")),
                              map(bytes.fromhex, bdata.split(";"))))
        expert = list(zip([int(x) for x in sev.split(",") if x], emsg.split(","))) if sev else []
        out.append((int(port), session, int(seq) if seq else None, int(count) if count else None, blocks, expert))
    return out


def expert_summary(pcap):
    """The -z expert report: no Errors or Warns section."""
    text = tshark(pcap, "-z", "expert", "-q")
    for head in ("Errors (", "Warns ("):
        if head in text:
            return text
    return None


def check_expert(name, pcap, frames):
    rep = expert_summary(pcap)
    if rep:
        fail("%s: tshark reports expert items:\n%s" % (name, rep))
    for i, fr in enumerate(frames):
        for sev, msg in fr[5]:
            if sev >= PI_WARN:
                fail("%s: frame %d: %s (severity %#x)" % (name, i + 1, msg, sev))
            # Wireshark reads a header-only packet with a count as a retransmission
            # request: a comment on the end-of-session packets, and nothing else
            if fr[3] != 0xFFFF:
                fail("%s: frame %d (count %s): expert item %r" % (name, i + 1, fr[3], msg))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--weir")
    ap.add_argument("--scenario")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                                   "shared", "data"))
    a = ap.parse_args()
    if not shutil.which("tshark"):
        print("SKIP: tshark is not installed (Debian: apt-get install tshark)")
        sys.exit(77)
    src = os.path.join(a.data, SAMPLE)
    if not os.path.exists(src):
        print("SKIP: test data %s not found" % src)
        sys.exit(77)
    msgs = binaryfile(src)
    with tempfile.TemporaryDirectory(prefix="weir-e2e-") as d:
        # 1. no losses: every frame as laid out here
        pcap = os.path.join(d, "ab.pcap")
        batch, hb, seq0, session = 23, 4, 1000, "TSHARK01"
        subprocess.run([a.gen, "--itch", src, "--out", pcap, "--udp-port", str(PORT_A), "--ab-port", str(PORT_B),
                        "--batch", str(batch), "--heartbeat-every", str(hb), "--seq-start", str(seq0),
                        "--mold-session", session], check=True, capture_output=True)
        exp = expected_frames(msgs, batch, hb, seq0, session.ljust(10))
        got = dissect(pcap)
        if len(got) != len(exp):
            fail("ab: tshark sees %d frames, %d expected" % (len(got), len(exp)))
        for i, (g, e) in enumerate(zip(got, exp)):
            port, sess, seq, count, blocks = e
            want = (port, sess.rstrip(), seq, count, [(seq + k, len(m), m) for k, m in enumerate(blocks)])
            have = (g[0], g[1].rstrip(), g[2], g[3], g[4])
            if have != want:
                fail("ab: frame %d is, as tshark reads it,\n  %r\nexpected\n  %r" % (i + 1, have[:4] + (
                    [b[:2] for b in have[4]],), want[:4] + ([b[:2] for b in want[4]],)))
        check_expert("ab", pcap, got)
        nhb = sum(1 for g in got if g[3] == 0)
        # 2. losses and duplicates: every block is the file's message at its sequence
        pcap2 = os.path.join(d, "gaps.pcap")
        subprocess.run([a.gen, "--itch", src, "--out", pcap2, "--udp-port", str(PORT_A), "--ab-port", str(PORT_B),
                        "--batch", "17", "--heartbeat-every", "3", "--gap-fraction", "0.1", "--dup-fraction", "0.1",
                        "--seed", "5"], check=True, capture_output=True)
        got2 = dissect(pcap2)
        seen = set()
        for i, g in enumerate(got2):
            if g[1].rstrip() != "WEIR000001" or g[2] is None or g[3] is None:
                fail("gaps: frame %d: session %r, sequence %r, count %r" % (i + 1, g[1], g[2], g[3]))
            if g[3] not in (0, 0xFFFF) and len(g[4]) != g[3]:
                fail("gaps: frame %d: count %d, %d blocks" % (i + 1, g[3], len(g[4])))
            for bseq, blen, data in g[4]:
                m = msgs[bseq - 1] if 1 <= bseq <= len(msgs) else None
                if m != data or blen != len(data) or bseq != g[2] + g[4].index((bseq, blen, data)):
                    fail("gaps: frame %d: block %d is not the file's message %d" % (i + 1, bseq, bseq))
                seen.add(bseq)
        check_expert("gaps", pcap2, got2)
        copies = {}
        for g in got2:
            copies[(g[2], g[3])] = copies.get((g[2], g[3]), 0) + 1
        if len(seen) >= len(msgs) or max(copies.values()) < 3:
            fail("gaps: %d of %d messages, at most %d copies of a packet: nothing lost or re-sent" %
                 (len(seen), len(msgs), max(copies.values())))
        # 3. the control: a block length past the end of its datagram is an Error
        frames = list(weir_ref.read_pcap(pcap))
        f = bytearray(frames[0])
        f[14 + 20 + 8 + 20] ^= 0x40          # the first block's length, high byte
        frames[0] = bytes(f)
        bad = os.path.join(d, "bad.pcap")
        with open(bad, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for fr in frames:
                out.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)
        if not expert_summary(bad):
            fail("control: a corrupted block length draws no tshark error: the expert check cannot fail")
        print("e2e itch-tshark: %d frames as laid out (%d heartbeats, A/B), %d frames with losses: %d messages "
              "match the file; no expert warning or error; the corrupted control is flagged: 1 passed, 0 failed" %
              (len(got), nhb, len(got2), len(seen)))


if __name__ == "__main__":
    main()
