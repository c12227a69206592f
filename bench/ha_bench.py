#!/usr/bin/env python3
"""HA failover benchmark: how long a two-node HA pair takes to move the primary
role after a fault, in network namespaces (tests/ha/netns.py), one driver per
system.  keepalived 2.2.7 (VRRPv3) is the baseline weir's HA must beat.

    python3 bench/ha_bench.py --system keepalived|weir --runs 20 [--faults process,control,link,splitbrain]
                              [--cut silent|carrier] [--json out.json]
                              [--advert-int 0.01]                  (keepalived)
                              [--weir build/weir --weir-gen build/tools/weir-gen
                               --weir-feed-rate 4000 --weir-feed-seconds S]   (weir)

Lab: nodes a, b, w; links a-b (heartbeat), a-w, b-w.  Each run starts with a as
the primary, injects one fault on a, and times until b reports primary:
  process     the primary's tracked "dataplane" process is SIGKILLed
  control     every process of the primary's HA daemon is SIGKILLed at once
  link        a is isolated (all its links cut): host death as the network sees it
  splitbrain  only the a-b link is cut (w still reaches both); after the wait
              the harness counts primaries: 2 is a split brain
Then the fault is undone and the harness waits for a to be primary again.
`--cut silent` (default) drops every packet but keeps interfaces up, as a peer
behind a switch sees a dead host; `--cut carrier` sets the veths down, so the
survivor's interface loses carrier as well.

Exit 0 when every run took over in time, 1 if some failed (they are reported,
never dropped), 77 if the lab or the system under test is unavailable.

Driver interface (subclass Driver, register it in SYSTEMS).  The harness calls:
  setup(lab, workdir, opts)   write configs and start listening for role changes;
                              nothing runs yet.  Raise Unavailable to skip (77).
  start()                     start the HA daemons on a and b (and their dataplanes)
  wait_stable(timeout)        -> the primary, once one node is primary and the other
                              backup with no change for max(0.2 s, 5 heartbeats)
  arm(fault, victim)          look up what inject will need (a pid...), untimed
  inject(fault, victim)       -> monotonic time the fault took effect
  wait_takeover(new, t_fault, timeout)
                              -> seconds from t_fault until `new` became primary
  primaries()                 -> set of nodes primary now (split-brain count)
  recover()                   undo the last fault
  stop()                      stop everything the driver started; idempotent
A run whose roles change between wait_stable and the fault fails: its
takeover time would not be the fault's.
The base class implements wait_stable, wait_takeover, primaries, the network
faults of inject and recover.  A driver provides:
  start, stop, kill_dataplane(victim), kill_control(victim) (each SIGKILLs and
  returns time.monotonic() taken just before the kill), restore_node(victim,
  fault) (restart what was killed; a system that never preempts switches back
  to the victim here), optionally check_alive(), details(fault, t_fault) (the
  system's own figures for the run, e.g. from its logs: {name: ms or text},
  kept with the sample and summarized), add_arguments(ap), params(),
  version(); sets self.heartbeat (its failure-detection time scale in
  seconds, which scales the timeouts); and reports every role change at once
  with self.note(node, role, ts): role "primary", "backup" or another word
  (fault, dead, starting...), ts = time.monotonic() when it learnt of it.
Both nodes run on this host, so monotonic stamps compare with the fault's.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True     # no __pycache__ left in tests/ha
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ha"))
import netns  # noqa: E402
from ha_test import Feed, QUERY, SOURCE  # noqa: E402   (the weir driver's input and query)

FAULTS = ("process", "control", "link", "splitbrain")
PRIMARY, BACKUP = "a", "b"


class Unavailable(Exception):
    """The system under test cannot run here (exit 77)."""


def _fmt_params(params):
    return " ".join("%s=%s" % (k, ",".join("%s:%s" % kv for kv in v.items()) if isinstance(v, dict) else v)
                    for k, v in params.items())


class Driver:
    """Base of the system drivers: role bookkeeping, the network faults, the
    waits.  A driver learns role changes however its system reports them and
    calls self.note(node, role, ts) at once, ts = time.monotonic() when it
    learnt of the change; roles are "primary", "backup", or any other word
    (fault, dead, starting...), which counts as neither."""
    name = "?"
    NODES = (PRIMARY, BACKUP)
    heartbeat = 1.0     # the system's failure-detection time scale (s); sets the timeouts

    @staticmethod
    def add_arguments(ap):
        """Add the driver's own command-line options to ap."""

    def params(self):
        """Settings worth recording with the results (JSON)."""
        return {}

    def version(self):
        return None

    def setup(self, lab, workdir, opts):
        self.lab, self.workdir, self.opts = lab, workdir, opts
        self.cv = threading.Condition()
        self.role = {}                              # node -> last role
        self.events = {n: [] for n in self.NODES}   # node -> [(monotonic ts, role)]
        self._fault = None          # (fault, victim) injected and not yet recovered
        self._t_inject = 0.0        # monotonic time the injection began

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def kill_dataplane(self, victim):
        """SIGKILL victim's dataplane; return the monotonic time of the kill."""
        raise NotImplementedError

    def kill_control(self, victim):
        """SIGKILL victim's HA control daemon; return the monotonic time."""
        raise NotImplementedError

    def restore_node(self, victim, fault):
        """Restart what kill_dataplane/kill_control killed on victim."""

    def check_alive(self):
        """Raise RuntimeError if a daemon that should run has exited (called
        while waiting for stability, so a crash fails fast)."""

    def details(self, fault, t_fault):
        """The system's own figures for the run just measured ({} if none)."""
        return {}

    def arm(self, fault, victim):
        """Look up what inject(fault, victim) will need, before it is timed."""

    def changes(self, t0, t1):
        """[(node, ts, role)] noted from t0 up to (not including) t1."""
        with self.cv:
            return sorted(((n, ts, r) for n, ev in self.events.items() for ts, r in ev if t0 <= ts < t1),
                          key=lambda x: x[1])

    def note(self, node, role, ts=None):
        with self.cv:
            self.role[node] = role
            self.events[node].append((time.monotonic() if ts is None else ts, role))
            self.cv.notify_all()

    def wait_stable(self, timeout):
        """One primary, the other node backup, no role change for a settle time
        of max(0.2 s, 5 heartbeats); return the primary."""
        settle = max(0.2, 5 * self.heartbeat)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                now = time.monotonic()
                roles = [self.role.get(n, "") for n in self.NODES]
                last = max((ev[-1][0] for ev in self.events.values() if ev), default=now)
                self.check_alive()
                if sorted(roles) == ["backup", "primary"] and now - last >= settle:
                    return self.NODES[roles.index("primary")]
                if now >= deadline:
                    raise TimeoutError("not stable after %.1f s: %s" % (timeout, dict(zip(self.NODES, roles))))
                self.cv.wait(min(deadline - now, max(0.02, settle - (now - last)), 0.2))

    def wait_takeover(self, new_node, t_fault, timeout):
        """Seconds from t_fault to new_node's first primary role noted since the
        injection began."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for ts, role in self.events[new_node]:
                    if ts >= self._t_inject and role == "primary":
                        return ts - t_fault
                now = time.monotonic()
                if now >= deadline:
                    raise TimeoutError("%s not primary %.2f s after the fault (roles %s)"
                                       % (new_node, timeout, self.role))
                self.cv.wait(deadline - now)

    def primaries(self):
        with self.cv:
            return {n for n in self.NODES if self.role.get(n) == "primary"}

    def inject(self, fault, victim):
        peer = self._peer(victim)
        carrier = self.opts.cut == "carrier"
        self._fault = (fault, victim)
        self._t_inject = time.monotonic()
        if fault == "process":
            return self.kill_dataplane(victim)
        if fault == "control":
            return self.kill_control(victim)
        if fault not in ("link", "splitbrain"):
            raise ValueError("unknown fault %r" % fault)
        # What the survivor notices first is the victim's traffic on the
        # heartbeat link stopping: cut that end first and stamp the fault when
        # the change has been made (the lab's batch round trip, well under 1 ms;
        # inject_ms in the samples).  The rest of the cut follows.
        self.lab.link_down(victim, peer, side=victim, carrier=carrier)
        t = time.monotonic()
        self.lab.link_down(victim, peer, side=peer, carrier=carrier)
        if fault == "link":
            for p in self.lab.peers(victim):
                if p != peer:
                    self.lab.link_down(victim, p, carrier=carrier)
        return t

    def recover(self):
        if self._fault is None:
            return
        fault, victim = self._fault
        self._fault = None
        carrier = self.opts.cut == "carrier"
        if fault == "link":
            self.lab.unisolate(victim, carrier=carrier)
        elif fault == "splitbrain":
            self.lab.link_up(victim, self._peer(victim), carrier=carrier)
        self.restore_node(victim, fault)

    @staticmethod
    def _peer(node):
        return BACKUP if node == PRIMARY else PRIMARY


# ---- keepalived ---------------------------------------------------------------

KEEPALIVED_CONF = """\
global_defs {{
    router_id {router_id}
    vrrp_version 3
    # State changes, one line each: INSTANCE "VI_1" MASTER 150
    vrrp_notify_fifo {fifo}
}}

vrrp_track_process dataplane {{
    process {dp_name}
    quorum 1
}}

vrrp_instance VI_1 {{
    state BACKUP
    interface {ifname}
    virtual_router_id 51
    priority {priority}
    advert_int {advert_int}
    unicast_src_ip {src}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        {vip} dev {ifname}
    }}
    # weight 0: losing the dataplane puts the instance in FAULT (priority-0
    # advert, the peer takes over at once) instead of lowering its priority.
    track_process {{
        dataplane weight 0
    }}
}}
"""


class Keepalived(Driver):
    """keepalived in each of a's and b's namespaces, VRRPv3 unicast over the
    a-b link, the dataplane stand-in tracked with track_process.

    keepalived is started from the host namespace with --namespace, not under
    `ip netns exec`: track_process needs the kernel's process-events connector,
    which exists only in the initial network namespace, and keepalived opens it
    before entering the namespace given by --namespace."""
    name = "keepalived"
    PRIORITY = {PRIMARY: 150, BACKUP: 100}
    ROLES = {"MASTER": "primary", "BACKUP": "backup", "FAULT": "fault",
             "STOP": "stopped", "DELETED": "stopped"}   # FIFO state -> role

    @staticmethod
    def add_arguments(ap):
        ap.add_argument("--advert-int", type=float, default=0.01,
                        help="keepalived: advert_int in seconds (VRRPv3: 0.01 to 255, default 0.01)")

    def params(self):
        return {"advert_int": self.advert_int, "vrrp_version": 3, "priorities": self.PRIORITY}

    def version(self):
        try:
            r = subprocess.run([self.exe, "--version"], capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError, IndexError):
            return None

    def setup(self, lab, workdir, opts):
        super().setup(lab, workdir, opts)
        self.exe = shutil.which("keepalived")
        if not self.exe:
            raise Unavailable("keepalived not installed (apt-get install keepalived)")
        self.advert_int = self.heartbeat = opts.advert_int
        self.kproc = {}             # node -> keepalived Popen
        self.dproc = {}             # node -> dataplane stand-in Popen
        self.readers = {}           # node -> (thread, fifo fd)
        self.conf, self.fifo, self.dp_exe, self.log = {}, {}, {}, {}
        vip = lab.subnet_ip(PRIMARY, BACKUP, 100) + "/24"
        for n in self.NODES:
            peer = self._peer(n)
            d = os.path.join(workdir, n)
            os.makedirs(d, exist_ok=True)
            self.fifo[n] = os.path.join(d, "notify.fifo")
            os.mkfifo(self.fifo[n])
            # The dataplane stand-in: sleep under a per-node name, so that its
            # comm (what track_process matches) is unique on the host.
            dp_name = "%s-dp-%s" % (lab.prefix[:6], n)
            self.dp_exe[n] = os.path.join(d, dp_name)
            os.symlink(shutil.which("sleep"), self.dp_exe[n])
            self.conf[n] = os.path.join(d, "keepalived.conf")
            with open(self.conf[n], "w") as f:
                f.write(KEEPALIVED_CONF.format(
                    router_id="%s_%s" % (lab.prefix, n), fifo=self.fifo[n], dp_name=dp_name,
                    ifname=lab.ifname(n, peer), priority=self.PRIORITY[n],
                    advert_int=("%g" % self.advert_int), src=lab.addr(n, peer),
                    peer=lab.addr(peer, n), vip=vip))
            self.log[n] = os.path.join(d, "keepalived.log")
            r = subprocess.run([self.exe, "--config-test", "--namespace", lab.ns(n), "-f", self.conf[n]],
                               capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                raise RuntimeError("keepalived rejects %s:\n%s" % (self.conf[n], r.stderr + r.stdout))
        for n in self.NODES:
            self._start_reader(n)

    # FIFO readers: one thread per node stamps each state line on arrival.
    def _start_reader(self, n):
        fd = os.open(self.fifo[n], os.O_RDWR)   # O_RDWR: never EOF across daemon restarts
        t = threading.Thread(target=self._read_fifo, args=(n, fd), name="fifo-" + n, daemon=True)
        self.readers[n] = (t, fd)
        t.start()

    def _read_fifo(self, n, fd):
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            now = time.monotonic()
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                parts = line.decode(errors="replace").split()
                if parts == ["QUIT"]:
                    return
                # INSTANCE "VI_1" MASTER 150.  Only the states; MASTER_RX_LOWER_PRI
                # and *_PRIORITY lines are events, not state changes.
                if len(parts) >= 3 and parts[0] == "INSTANCE" and parts[2] in self.ROLES:
                    self.note(n, self.ROLES[parts[2]], now)

    def _start_dataplane(self, n):
        self.dproc[n] = self.lab.popen(n, [self.dp_exe[n], "infinity"])

    def _start_keepalived(self, n):
        d = os.path.dirname(self.conf[n])
        pidfiles = [os.path.join(d, "keepalived.pid"), os.path.join(d, "vrrp.pid")]
        # A SIGKILLed keepalived leaves its pid files; while the dead VRRP child
        # is an unreaped zombie (orphans are reaped by init, slowly on some
        # VMs) a new keepalived takes them for a live daemon and refuses to
        # start.  Remove them, as a supervisor restarting after a crash would.
        for f in pidfiles:
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        argv = [self.exe, "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
                "--vrrp", "--namespace", self.lab.ns(n), "-f", self.conf[n],
                "-p", pidfiles[0], "-r", pidfiles[1]]
        self.note(n, "starting")
        with open(self.log[n], "a") as log:
            self.kproc[n] = self.lab.spawn(argv, stdout=log, stderr=subprocess.STDOUT)

    def start(self):
        for n in self.NODES:
            self._start_dataplane(n)
        for n in self.NODES:
            self._start_keepalived(n)

    def check_alive(self):
        for n, p in self.kproc.items():
            if p.poll() is not None and self.role.get(n) != "dead":
                raise RuntimeError("keepalived on %s exited (code %s), see %s" % (n, p.returncode, self.log[n]))

    def kill_dataplane(self, victim):
        p = self.dproc[victim]
        t = time.monotonic()
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=5)
        return t

    def kill_control(self, victim):
        # Parent and VRRP child share the process group; killing them in one
        # signal keeps the child from seeing its parent die (it has
        # PR_SET_PDEATHSIG=SIGTERM and would then leave gracefully, sending a
        # priority-0 advert, which is not what a crash looks like).
        p = self.kproc[victim]
        t = time.monotonic()
        os.killpg(p.pid, signal.SIGKILL)
        self.note(victim, "dead")
        p.wait(timeout=5)
        return t

    def restore_node(self, victim, fault):
        if fault == "process":
            self._start_dataplane(victim)
        elif fault == "control":
            self._start_keepalived(victim)

    def stop(self):
        for p in self.kproc.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)       # graceful: removes the VIP
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(p.pid, signal.SIGKILL)    # and any child left behind
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kproc.clear()
        for p in self.dproc.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        self.dproc.clear()
        for t, fd in self.readers.values():
            try:
                os.write(fd, b"QUIT\n")
            except OSError:
                pass
            t.join(timeout=2)
            os.close(fd)
        self.readers.clear()
        # keepalived --namespace creates /run/keepalived/NS (its private /run
        # mount); a SIGKILLed one leaves it behind.
        for d in ["/run/keepalived/" + self.lab.ns(n) for n in self.NODES] + ["/run/keepalived"]:
            try:
                os.rmdir(d)
            except OSError:
                pass


# ---- weir ---------------------------------------------------------------------

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# One node's config: tests/ha/ha_test.py's pair (pcap FIFO fed by its Feed,
# checkpoints every 200 ms), the dataplane's lcores all on one CPU per node.
WEIR_CONF = """\
[dataplane]
devices = net_pcap0,rx_pcap={fifo}
rx_cores = 1
workers = 2
lcores = {cpu},{cpu},{cpu},{cpu}
exit_on_eos = false
idle_sleep = 50us
# with hugepages, a SIGKILLed dataplane's teardown can stall this VM for ~1 s
hugepages = off
eal_args = --log-level=*:error
{source}{query}
[state]
dir = {nd}/state
checkpoint_interval = 200ms

[ha]
node = {node}
peer = {peer}:{hb_port}
listen = {me}:{hb_port}
witness = {wit}:{wit_port}
heartbeat = 5ms
dead_after = 4
failback = manual
hold_down = 300s
secret_file = {secret}
priority = {priority}
dir = {nd}
control_socket = {nd}/control.sock
realtime = true
"""

# "2026-11-25T19:00:29.049292Z weir-control[b]: promote: entering primary (term 2): a handed over (exact position)"
WEIR_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z weir-control\[[^]]*\]: (.*)$")
WEIR_ENTER = re.compile(r": entering (\w+) \(term \d+\)(?:: (.*))?$")
WEIR_DP_DOWN = re.compile(r"^dataplane \(pid \d+\) (is down|is gone)")


class Weir(Driver):
    """weir's HA pair: `weir control` on a and b (each starts and supervises its
    dataplane, `weir run`), `weir witness` on w; heartbeats on the a-b link, the
    witness over a-w and b-w.  Both dataplanes read the same live capture
    (ha_test.py's Feed, running for the whole benchmark); only the primary emits.

    Roles come from each control's log (stderr, read through a pipe and copied
    to NODE.log in the workdir): "...: entering primary|standby|fenced (term N)".
    A control starts as standby without such a line; its "starting:" line stands
    for it.  weir never preempts: after each fault restore_node asks for a
    planned switchover back to a (`weir failback`)."""
    name = "weir"
    PRIORITY = {PRIMARY: 150, BACKUP: 100}
    CPU = {PRIMARY: 0, BACKUP: 1}           # each node's dataplane lcores
    HB_PORT, WIT_PORT = 7400, 7409
    ROLES = {"primary": "primary", "standby": "backup", "fenced": "fenced"}
    BATCH = 32                              # weir-gen records per datagram (its default)
    heartbeat = 0.005

    @staticmethod
    def add_arguments(ap):
        ap.add_argument("--weir", default=os.path.join(REPO, "build", "weir"), help="weir: the weir binary")
        ap.add_argument("--weir-gen", default=os.path.join(REPO, "build", "tools", "weir-gen"),
                        help="weir: the weir-gen binary (makes the input capture)")
        ap.add_argument("--weir-feed-rate", type=int, default=4000,
                        help="weir: input datagrams per second (%d records each; default 4000)" % Weir.BATCH)
        ap.add_argument("--weir-feed-seconds", type=float, default=None,
                        help="weir: length of the input at that rate (default: enough for the runs asked for)")

    def params(self):
        return {"heartbeat_ms": 5, "dead_after": 4, "failback": "manual", "witness": "w",
                "priorities": self.PRIORITY, "feed_rate": self.opts.weir_feed_rate,
                "feed_seconds": round(self.feed_seconds)}

    def version(self):
        try:
            return subprocess.run([self.opts.weir, "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None

    def setup(self, lab, workdir, opts):
        super().setup(lab, workdir, opts)
        for exe in (opts.weir, opts.weir_gen):
            if not os.access(exe, os.X_OK):
                raise Unavailable("%s not built" % exe)
        self.procs = {}         # node (a, b, w) -> Popen of its control / the witness
        self.readers = []       # log reader threads
        self.loglines = []      # (node, monotonic read, log time, "enter"/"dp_down", role, why)
        self.loglock = threading.Lock()
        self.dp_pid = None      # the victim's dataplane, from arm()
        self.orphan = None      # pid of the dataplane of a SIGKILLed control
        os.chmod(workdir, 0o755)
        self.secret = os.path.join(workdir, "secret")
        with open(self.secret, "w") as f:
            f.write(os.urandom(24).hex() + "\n")
        os.chmod(self.secret, 0o600)
        self.log = {n: open(os.path.join(workdir, n + ".log"), "a") for n in self.NODES}
        self.cfg, self.sock = {}, {}
        for n in self.NODES:
            peer, nd = self._peer(n), os.path.join(workdir, n)
            os.makedirs(nd)
            self.cfg[n] = os.path.join(nd, "weir.ini")
            self.sock[n] = os.path.join(nd, "control.sock")
            with open(self.cfg[n], "w") as f:
                f.write(WEIR_CONF.format(
                    fifo=os.path.join(workdir, n + ".feed"), cpu=self.CPU[n], source=SOURCE,
                    query=QUERY.format(out=os.path.join(nd, "out.jsonl")), nd=nd, node=n,
                    peer=lab.addr(peer, n), me=lab.addr(n, peer), hb_port=self.HB_PORT,
                    wit=lab.addr("w", n), wit_port=self.WIT_PORT, secret=self.secret,
                    priority=self.PRIORITY[n]))
            r = subprocess.run([opts.weir, "check", self.cfg[n]], capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise RuntimeError("weir check %s:\n%s" % (self.cfg[n], r.stderr + r.stdout))
        # The input: long enough that the feed runs live to the end (a
        # restarted dataplane gets everything up to the live point at once).
        self.feed_seconds = opts.weir_feed_seconds
        if self.feed_seconds is None:
            self.feed_seconds = 60 + 5 * opts.runs * len(opts.faults.split(","))
        events = int(self.feed_seconds * opts.weir_feed_rate) * self.BATCH
        pcap = os.path.join(workdir, "in.pcap")
        subprocess.run([opts.weir_gen, "--out", pcap, "--events", str(events), "--batch", str(self.BATCH),
                        "--keys", "200", "--rate", "200000", "--disorder", "5000000", "--producers", "2",
                        "--seed", "12"], check=True, stderr=subprocess.DEVNULL, timeout=600)
        self.feed = Feed(pcap, [os.path.join(workdir, n + ".feed") for n in self.NODES], opts.weir_feed_rate)
        os.unlink(pcap)         # the feed holds it in memory

    # ---- processes -------------------------------------------------------
    def start(self):
        self.feed.start()
        with open(os.path.join(self.workdir, "w.log"), "a") as log:
            self.procs["w"] = self.lab.popen("w", [
                self.opts.weir, "witness", "--listen", "0.0.0.0:%d" % self.WIT_PORT, "--secret-file",
                self.secret, "--dir", os.path.join(self.workdir, "w"), "--realtime"],
                stdout=log, stderr=subprocess.STDOUT)
        for n in self.NODES:
            self._start_control(n)
        self._make_primary(PRIMARY, timeout=60)

    def _start_control(self, n):
        self.note(n, "starting")
        p = self.lab.popen(n, [self.opts.weir, "control", self.cfg[n]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs[n] = p
        t = threading.Thread(target=self._read_log, args=(n, p.stdout), name="log-" + n, daemon=True)
        self.readers.append(t)
        t.start()

    def _read_log(self, n, pipe):
        """Stamp each line of n's control (and its dataplane) on arrival, copy
        it to n.log; until EOF, i.e. until the control and its dataplane exit."""
        fd, buf = pipe.fileno(), b""
        try:
            while True:
                chunk = os.read(fd, 65536)
                now = time.monotonic()
                if not chunk:
                    return
                *lines, buf = (buf + chunk).split(b"\n")
                with self.loglock:
                    f = self.log.get(n)         # None once stop() has closed the logs
                    if f:
                        f.write("".join(line.decode(errors="replace") + "\n" for line in lines))
                        f.flush()
                for line in lines:
                    self._parse(n, line.decode(errors="replace"), now)
        finally:
            pipe.close()

    def _parse(self, n, line, now):
        m = WEIR_LINE.match(line)
        if not m:
            return
        t_log = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
        msg = m.group(2)
        if msg.startswith("starting:"):
            self.note(n, "backup", now)
        elif WEIR_ENTER.search(msg):
            role, why = WEIR_ENTER.search(msg).groups()
            with self.cv:
                self.loglines.append((n, now, t_log, "enter", role, why))
            self.note(n, self.ROLES.get(role, role), now)
        elif WEIR_DP_DOWN.match(msg):
            with self.cv:
                self.loglines.append((n, now, t_log, "dp_down", None, msg))

    def status(self, n):
        """`weir status --json` of n's control, None if it does not answer."""
        try:
            r = subprocess.run([self.opts.weir, "status", "--socket", self.sock[n], "--json"],
                               capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return None
        return json.loads(r.stdout) if r.returncode == 0 else None

    def _make_primary(self, n, timeout=30):
        """Return once n is primary and the other node standby, both
        dataplanes up; while the other node is primary, ask for a failback
        (a planned switchover to n, the preferred node), again each second
        until it happens."""
        other = self._peer(n)
        deadline = time.monotonic() + timeout
        asked, err = 0.0, ""
        while True:
            self.check_alive()
            sn, so = self.status(n), self.status(other)
            if sn and so and sn["dataplane"]["up"] and so["dataplane"]["up"]:
                if sn["role"] == "primary" and so["role"] == "standby":
                    return
                now = time.monotonic()
                if sn["role"] == "standby" and so["role"] == "primary" and now - asked >= 1.0:
                    asked = now
                    r = subprocess.run([self.opts.weir, "failback", "--socket", self.sock[n]],
                                       capture_output=True, text=True, timeout=10)
                    err = r.stderr.strip() if r.returncode else ""
            if time.monotonic() >= deadline:
                def desc(s):
                    return "%s, dataplane %s" % (s["role"], "up" if s["dataplane"]["up"] else "down") if s \
                        else "no answer"
                raise RuntimeError("%s not back as primary after %.0f s (%s: %s; %s: %s)%s"
                                   % (n, timeout, n, desc(sn), other, desc(so),
                                      ("; weir failback: " + err) if err else ""))
            time.sleep(0.02)

    def check_alive(self):
        for n, p in self.procs.items():
            if p.poll() is not None and self.role.get(n) != "dead":
                raise RuntimeError("%s on %s exited (code %s), see %s.log in the workdir"
                                   % ("weir witness" if n == "w" else "weir control", n, p.returncode, n))

    # ---- faults ----------------------------------------------------------
    def arm(self, fault, victim):
        # `weir status` takes ~0.2 s here: the dataplane's pid is looked up
        # before the fault is timed.
        self.dp_pid = None
        if fault in ("process", "control"):
            s = self.status(victim)
            self.dp_pid = s["dataplane"]["pid"] if s else None
            if not self.dp_pid:
                raise RuntimeError("%s has no dataplane (status: %s)" % (victim, s))

    def kill_dataplane(self, victim):
        t = time.monotonic()
        try:
            os.kill(self.dp_pid, signal.SIGKILL)
        except ProcessLookupError:
            raise RuntimeError("%s's dataplane (pid %d) was gone before the kill" % (victim, self.dp_pid)) from None
        return t

    def kill_control(self, victim):
        # Only the control: its dataplane, orphaned, shuts its gate and exits by itself.
        self.orphan = self.dp_pid
        p = self.procs[victim]
        t = time.monotonic()
        os.kill(p.pid, signal.SIGKILL)
        self.note(victim, "dead")
        p.wait(timeout=5)
        return t

    def restore_node(self, victim, fault):
        if fault == "control":
            # The orphaned dataplane still reads the node's FIFO: the new one
            # must not start before it is gone.
            if self.orphan and not _wait_exit(self.orphan, 10):
                os.kill(self.orphan, signal.SIGKILL)
                raise RuntimeError("%s's dataplane (pid %d) still ran 10 s after its control was killed"
                                   % (victim, self.orphan))
            self._start_control(victim)
        self._make_primary(victim)

    def details(self, fault, t_fault):
        """From the controls' own log stamps (wall clock, microseconds):
          log_takeover_ms     fault -> b's "entering primary" line
          log_lag_ms          that line's stamp -> the harness reading it
          dp_down_ms          (process) kill -> a's "dataplane ... is down|is gone"
          down_to_primary_ms  (process) that line -> b's "entering primary"
          promote_why         b's reason for promoting"""
        wall = t_fault + time.time() - time.monotonic()     # the fault on the log's clock
        out = {}
        deadline = time.monotonic() + 0.5       # a's line may still be in its pipe
        while True:
            with self.cv:
                since = [x for x in self.loglines if x[1] >= self._t_inject]
            promo = next((x for x in since if x[0] == BACKUP and x[3] == "enter" and x[4] == "primary"), None)
            down = next((x for x in since if x[0] == PRIMARY and x[3] == "dp_down"), None)
            if fault != "process" or down or not promo or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if promo:
            out["log_takeover_ms"] = round((promo[2] - wall) * 1e3, 3)
            out["log_lag_ms"] = round((promo[1] - t_fault) * 1e3 - out["log_takeover_ms"], 3)
        if down:
            out["dp_down_ms"] = round((down[2] - wall) * 1e3, 3)
            if promo:
                out["down_to_primary_ms"] = round((promo[2] - down[2]) * 1e3, 3)
        if promo:
            out["promote_why"] = promo[5]
        if self.feed.done():
            out["feed"] = "ran out"
        return out

    def stop(self):
        for n in self.NODES + ("w",):
            p = self.procs.get(n)
            if p is None:
                continue
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)       # the control stops its dataplane
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(p.pid, signal.SIGKILL)    # and anything left in its group
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        self.feed.stop = True
        for t in self.readers:
            t.join(timeout=2)
        self.readers.clear()
        with self.loglock:
            for f in self.log.values():
                f.close()
            self.log = {}


def _wait_exit(pid, timeout):
    """Wait until pid (not our child) has exited; a zombie counts as exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.01)
    return False


SYSTEMS = {"keepalived": Keepalived, "weir": Weir}


# ---- harness -------------------------------------------------------------------

def run_fault(driver, fault, runs, opts, samples):
    """`runs` injections of fault on a; append one sample dict per run."""
    hb = driver.heartbeat
    takeover_timeout = 2.0 + 5 * hb
    stable_timeout = 10.0 + 10 * hb
    sb_wait = opts.splitbrain_wait if opts.splitbrain_wait is not None else max(1.0, 5 * hb)
    rng = random.Random("%s/%s" % (opts.seed, fault))
    for i in range(runs):
        s = {"fault": fault, "run": i + 1, "ok": False, "takeover_ms": None}
        samples.append(s)
        try:
            _wait_primary(driver, PRIMARY, stable_timeout)
            t_ready = time.monotonic()
            driver.arm(fault, PRIMARY)
            # wait_stable returns a fixed time after the last role change, which
            # is locked to the heartbeat; a random pause spreads the fault over
            # the heartbeat phase instead of always hitting the same point.
            time.sleep(rng.uniform(0, 2 * hb))
            t0 = time.monotonic()
            t_fault = driver.inject(fault, PRIMARY)
            s["inject_ms"] = round((t_fault - t0) * 1e3, 3)     # uncertainty of t_fault
            moved = driver.changes(t_ready, t_fault)
            if moved:
                raise RuntimeError("roles changed after the pair was stable, before the fault: %s" % ", ".join(
                    "%s %s at %+.1f ms" % (n, r, (ts - t_fault) * 1e3) for n, ts, r in moved))
            if fault == "splitbrain":
                # The count of primaries sb_wait after the cut is the measurement;
                # b's takeover time within that window is reported as well.
                try:
                    s["takeover_ms"] = round(driver.wait_takeover(BACKUP, t_fault, sb_wait) * 1e3, 3)
                except TimeoutError:
                    pass
                time.sleep(max(0.0, t_fault + sb_wait - time.monotonic()))
                s["primaries"] = sorted(driver.primaries())
                s["split_brain"] = len(s["primaries"]) > 1
                s["ok"] = True
            else:
                s["takeover_ms"] = round(driver.wait_takeover(BACKUP, t_fault, takeover_timeout) * 1e3, 3)
                s["ok"] = True
            s["detail"] = driver.details(fault, t_fault)
        except (TimeoutError, RuntimeError) as e:
            s["error"] = str(e)
        finally:
            # A pair that does not come back is the system's failure too: the
            # run fails (its takeover figure is kept), the benchmark goes on.
            try:
                driver.recover()
            except (TimeoutError, RuntimeError) as e:
                s["ok"] = False
                s["error"] = "; ".join(filter(None, [s.get("error"), "recovery failed: %s" % e]))
        print("  %-10s run %2d: %s" % (fault, i + 1, _fmt_sample(s)), flush=True)


def _wait_primary(driver, want, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = driver.wait_stable(max(0.0, deadline - time.monotonic()))
        if got == want:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError("stable with %s primary, want %s" % (got, want))
        time.sleep(0.05)


def _fmt_sample(s):
    out = "takeover %s ms" % ("%.1f" % s["takeover_ms"] if s["takeover_ms"] is not None else "-")
    if "primaries" in s:
        out += ", primaries after wait: %s" % (",".join(s["primaries"]) or "none")
    for k, v in s.get("detail", {}).items():
        out += ", %s %s" % (k, "%.3f" % v if isinstance(v, float) else v)
    if s.get("error"):
        out += "  FAILED: " + s["error"]
    return out


def summarize(samples, faults):
    rows = []
    for f in faults:
        ss = [s for s in samples if s["fault"] == f]
        t = [s["takeover_ms"] for s in ss if s["takeover_ms"] is not None]
        row = {"fault": f, "runs": len(ss),
               "took_over": len(t),
               "failed": sum(1 for s in ss if not s["ok"]),
               "median_ms": round(statistics.median(t), 1) if t else None,
               "max_ms": round(max(t), 1) if t else None,
               "min_ms": round(min(t), 1) if t else None}
        if f == "splitbrain":
            row["split_brain_runs"] = sum(1 for s in ss if s.get("split_brain"))
            row["no_primary_runs"] = sum(1 for s in ss if s.get("primaries") == [])
        # the drivers' numeric details: median/min/max of each
        det = {}
        for s in ss:
            for k, v in s.get("detail", {}).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    det.setdefault(k, []).append(v)
        if det:
            row["detail"] = {k: {"n": len(v), "median": round(statistics.median(v), 3),
                                 "min": round(min(v), 3), "max": round(max(v), 3)} for k, v in det.items()}
        rows.append(row)
    return rows


def print_table(rows, title):
    print("\n" + title)
    print("%-11s %5s %6s %7s %10s %9s %9s  %s" % ("fault", "runs", "took", "failed", "median ms",
                                                 "min ms", "max ms", "split-brain"))
    for r in rows:
        f = lambda v: "-" if v is None else "%.1f" % v   # noqa: E731
        sb = "-"
        if "split_brain_runs" in r:
            sb = "%d/%d two primaries" % (r["split_brain_runs"], r["runs"])
            if r["no_primary_runs"]:
                sb += ", %d/%d none" % (r["no_primary_runs"], r["runs"])
        print("%-11s %5d %6d %7d %10s %9s %9s  %s" % (r["fault"], r["runs"], r["took_over"], r["failed"],
                                                   f(r["median_ms"]), f(r["min_ms"]), f(r["max_ms"]), sb))
    for r in rows:
        for k, d in r.get("detail", {}).items():
            print("  %-10s %-22s median %8.3f  min %8.3f  max %8.3f  (%d runs)"
                  % (r["fault"], k, d["median"], d["min"], d["max"], d["n"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--cut", choices=("silent", "carrier"), default="silent",
                    help="how link faults cut a link (see the module docstring)")
    ap.add_argument("--splitbrain-wait", type=float, default=None,
                    help="seconds after the a-b cut before counting primaries (default max(1, 5 heartbeats))")
    ap.add_argument("--json", help="write every sample and the summary here")
    ap.add_argument("--prefix", default="whabench", help="namespace prefix")
    ap.add_argument("--seed", type=int, default=1, help="seed of the pre-fault random pauses")
    ap.add_argument("--keep-workdir", action="store_true")
    for cls in SYSTEMS.values():
        cls.add_arguments(ap)
    opts = ap.parse_args()
    faults = [f.strip() for f in opts.faults.split(",") if f.strip()]
    bad = [f for f in faults if f not in FAULTS]
    if bad:
        ap.error("unknown fault(s) %s (known: %s)" % (",".join(bad), ",".join(FAULTS)))
    if opts.runs < 1:
        ap.error("--runs must be >= 1")

    workdir = tempfile.mkdtemp(prefix="ha_bench-")
    driver = SYSTEMS[opts.system]()
    samples, rc = [], 0
    try:
        with netns.Lab(prefix=opts.prefix) as lab:
            driver.setup(lab, workdir, opts)
            print("%s %s, cut %s, %d run(s) per fault, workdir %s"
                  % (opts.system, _fmt_params(driver.params()), opts.cut, opts.runs, workdir), flush=True)
            try:
                driver.start()
                _wait_primary(driver, PRIMARY, 10.0 + 10 * driver.heartbeat)
                for f in faults:
                    run_fault(driver, f, opts.runs, opts, samples)
            finally:
                driver.stop()
    except (netns.LabUnavailable, Unavailable) as e:
        print("ha_bench: skipped: %s" % e, file=sys.stderr)
        return 77
    except (TimeoutError, RuntimeError) as e:
        print("ha_bench: aborted: %s" % e, file=sys.stderr)
        rc = 1
    finally:
        if not opts.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    if not samples:
        return rc or 1
    rows = summarize(samples, faults)
    print_table(rows, "%s %s, cut %s: ms from fault to survivor primary"
                % (opts.system, _fmt_params(driver.params()), opts.cut))
    if any(r["failed"] for r in rows):
        rc = 1
    if opts.json:
        doc = {"system": opts.system, "version": driver.version(), "params": driver.params(),
               "cut": opts.cut, "runs": opts.runs, "seed": opts.seed, "kernel": platform.release(),
               "cpus": os.cpu_count(), "summary": rows, "samples": samples}
        with open(opts.json, "w") as f:
            json.dump(doc, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
