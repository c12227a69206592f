#!/usr/bin/env python3
"""Network-namespace lab for HA tests and benchmarks (Python 3.11, stdlib only).

    with Lab(prefix="wha") as lab:            # namespaces wha-a, wha-b, wha-w
        p = lab.popen("a", ["sleep", "60"])   # runs inside wha-a, killed on cleanup
        lab.isolate("a")                      # a's links down
        lab.oneway_loss("a", "b")             # a -> b dropped, b -> a still flows

Topology: one namespace per node, one veth pair per link.  Link i (its index in
`links`) is 10.201.i.0/24, the first node of the pair is .1 and the second .2;
the interface in node X's namespace towards Y is named "to-Y".  Peer addresses
have permanent neighbour entries, so that dropping one direction never drops the
other through ARP (a reply is also "a packet sent by src").

Cutting a link comes in two kinds:
  carrier=True   (default) the veth is set down: both ends lose carrier and see
                 the interface go down, as with a direct cable whose far host
                 powers off.
  carrier=False  every packet on the link is dropped but both interfaces stay up,
                 as a peer behind a switch sees a dead host or a partition.

Link and qdisc changes go through one long-running `ip -batch` / `tc -batch`
per namespace, so a fault takes effect well under a millisecond after the call
starts (a fork/exec of `ip` or `tc` costs 5-20 ms on a small VM, as much as
the failover times being measured) and has taken effect when it returns.

Requires root and a working `ip netns`; otherwise Lab() raises LabUnavailable
(tests exit 77 on it).  Every subprocess is bounded by a timeout.  Cleanup
(context exit, atexit, SIGTERM, or lab.cleanup()) kills the processes started
through the lab and everything left in its namespaces, then deletes them.  A
lab deletes stale namespaces of its prefix left by a killed earlier run, so two
live labs must not share a prefix (a lock file makes the second one fail).

`python3 tests/ha/netns.py` runs a self-check (exit 0 ok, 77 unavailable).
"""
import atexit
import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

CMD_TIMEOUT = 10.0      # default bound for every helper command
SUBNET = "10.201"       # link i is SUBNET.i.0/24; exists only inside the namespaces
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_SETPRIV = shutil.which("setpriv")    # util-linux, for --pdeathsig


class LabUnavailable(Exception):
    """The lab cannot be built here (not root, no `ip netns`, no veth...)."""


class LabBusy(RuntimeError):
    """Another live lab holds the same prefix."""


class Lab:
    def __init__(self, prefix="wha", nodes=("a", "b", "w"),
                 links=(("a", "b"), ("a", "w"), ("b", "w")), handle_sigterm=True):
        self.prefix = prefix
        self.nodes = tuple(nodes)
        self.links = tuple(tuple(l) for l in links)
        self._procs = []            # Popen objects started through the lab
        self._drops = {}            # (node, ifname) -> set of reasons its egress drops
        self._drop_kind = None      # "netem" or "pfifo": how a drop is installed
        self._batches = {}          # (tool, ns) -> _Batch
        self._macs = {}             # (node, ifname) -> MAC address
        self._closed = False
        self._lock_fd = None
        self._lock = threading.RLock()
        self._validate()
        self._check_available()
        self._take_lock()
        atexit.register(self.cleanup)
        if handle_sigterm:
            self._install_sigterm()
        try:
            self._remove_stale()
            self._build()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, RuntimeError) as e:
            self.cleanup()
            raise LabUnavailable("building the lab failed: %s" % _describe(e)) from e

    # ---- context manager -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # ---- topology queries ------------------------------------------------
    def ns(self, node):
        """Namespace name of node."""
        self._node(node)
        return "%s-%s" % (self.prefix, node)

    def peers(self, node):
        """Nodes that share a link with node, in link order."""
        self._node(node)
        return [y if x == node else x for x, y in self.links if node in (x, y)]

    def link_index(self, x, y):
        for i, l in enumerate(self.links):
            if set(l) == {x, y}:
                return i
        raise KeyError("no link between %r and %r" % (x, y))

    def subnet_ip(self, x, y, host):
        """Address SUBNET.<link>.<host> on the x-y link (e.g. host=100 for a VIP)."""
        return "%s.%d.%d" % (SUBNET, self.link_index(x, y), host)

    def addr(self, node, peer):
        """IP of node on its link to peer."""
        first = self.links[self.link_index(node, peer)][0]
        return self.subnet_ip(node, peer, 1 if node == first else 2)

    def ifname(self, node, peer):
        """Interface name, in node's namespace, of its link to peer."""
        self.link_index(node, peer)
        return "to-" + peer

    # ---- processes ---------------------------------------------------------
    def spawn(self, argv, die_with_parent=True, **kw):
        """Popen in the host namespace, tracked like popen() (for programs that
        enter a namespace themselves, e.g. `keepalived --namespace`).

        die_with_parent: the process gets SIGKILL if its creator dies without
        cleaning up (kill -9 of the test), via setpriv --pdeathsig.  The kernel
        fires it when the creating *thread* exits, so call from a thread that
        outlives the process (the main thread) or pass False."""
        kw.setdefault("start_new_session", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        argv = list(argv)
        if die_with_parent and _SETPRIV:
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--"] + argv
        with self._lock:
            if self._closed:
                raise RuntimeError("lab is cleaned up")
            p = subprocess.Popen(argv, **kw)
            self._procs.append(p)
        return p

    def popen(self, node, argv, die_with_parent=True, **kw):
        """Popen of argv inside node's namespace; its process group is killed on
        cleanup (start_new_session=True, so pid == pgid).  `ip netns exec` and
        setpriv exec argv, so Popen.pid is argv's own pid."""
        return self.spawn(["ip", "netns", "exec", self.ns(node)] + list(argv),
                          die_with_parent=die_with_parent, **kw)

    def run(self, node, argv, timeout=CMD_TIMEOUT):
        """Run argv in node's namespace; CompletedProcess with text output,
        check=False.  On timeout the whole process group is killed and
        subprocess.TimeoutExpired is raised."""
        return _run(["ip", "netns", "exec", self.ns(node)] + list(argv), timeout=timeout)

    def kill_tracked(self):
        """SIGKILL every process group started through the lab and reap them."""
        with self._lock:
            procs, self._procs = self._procs, []
        for p in procs:
            _killpg(p.pid)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # ---- faults ------------------------------------------------------------
    def link_down(self, x, y, side=None, carrier=True):
        """Cut the x-y link.  carrier=True sets the veth down on both ends (or
        only side's end; a veth's peer then loses carrier anyway).
        carrier=False drops everything both ways, interfaces stay up (side:
        only what side sends is dropped)."""
        self._link_set(x, y, side, up=False, carrier=carrier)

    def link_up(self, x, y, side=None, carrier=True):
        """Undo link_down with the same arguments."""
        self._link_set(x, y, side, up=True, carrier=carrier)

    def isolate(self, node, carrier=True):
        """All of node's links down: its death as the network sees it."""
        for peer in self.peers(node):
            self.link_down(node, peer, carrier=carrier)

    def unisolate(self, node, carrier=True):
        for peer in self.peers(node):
            self.link_up(node, peer, carrier=carrier)

    def oneway_loss(self, src, dst, on=True):
        """Drop every packet src sends to dst on their link (only that
        direction); on=False removes it."""
        self._set_drop(src, self.ifname(src, dst), "oneway:" + dst, on)

    # ---- reachability probes (used by the self-check; handy in tests) ------
    def ping(self, src, dst, timeout=1):
        """One ICMP echo from src to dst over their link; True if answered."""
        if not shutil.which("ping"):
            raise LabUnavailable("ping not installed (Debian package iputils-ping)")
        r = self.run(src, ["ping", "-n", "-q", "-c", "1", "-W", str(int(max(1, timeout))),
                           self.addr(dst, src)], timeout=timeout + 5)
        return r.returncode == 0

    def udp_reachable(self, src, dst, port=47000, timeout=1.0):
        """True if a UDP datagram sent by src reaches dst's address on their
        link (tests one direction only, unlike ping)."""
        listener = ("import socket,sys\n"
                    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                    "s.bind((sys.argv[1],int(sys.argv[2])))\n"
                    "s.settimeout(float(sys.argv[3]))\n"
                    "print('ready',flush=True)\n"
                    "try:\n"
                    "    s.recv(64); print('got',flush=True)\n"
                    "except socket.timeout:\n"
                    "    print('timeout',flush=True)\n")
        sender = ("import socket,sys,time\n"
                  "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  "for _ in range(5):\n"
                  "    s.sendto(b'probe',(sys.argv[1],int(sys.argv[2]))); time.sleep(0.05)\n")
        daddr = self.addr(dst, src)
        lp = self.popen(dst, [sys.executable, "-c", listener, daddr, str(port), str(timeout)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if lp.stdout.readline().strip() != "ready":
                raise RuntimeError("UDP listener in %s failed: %s" % (self.ns(dst), lp.stderr.read()))
            self.run(src, [sys.executable, "-c", sender, daddr, str(port)], timeout=timeout + 5)
            out, _ = lp.communicate(timeout=timeout + 5)
            return "got" in out
        finally:
            _killpg(lp.pid)
            try:
                lp.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # ---- cleanup -----------------------------------------------------------
    def cleanup(self):
        """Kill tracked processes and anything left in the lab's namespaces,
        delete the namespaces (the veths go with them).  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.kill_tracked()
            with self._lock:
                batches, self._batches = list(self._batches.values()), {}
            for b in batches:
                b.close()
            for node in self.nodes:     # also removes a half-built lab
                _delete_ns(self.ns(node))
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            try:
                atexit.unregister(self.cleanup)
            except Exception:
                pass

    # ---- internals ---------------------------------------------------------
    def _node(self, node):
        if node not in self.nodes:
            raise KeyError("unknown node %r" % (node,))

    def _validate(self):
        if not _NAME_RE.match(self.prefix) or len(self.prefix) > 20:
            raise ValueError("bad prefix %r" % self.prefix)
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError("duplicate node names")
        for n in self.nodes:
            if not _NAME_RE.match(n) or len(n) > 12:   # "to-" + name must fit IFNAMSIZ-1
                raise ValueError("bad node name %r (a-z0-9_, at most 12 chars)" % n)
        seen = set()
        for l in self.links:
            if len(l) != 2 or l[0] == l[1] or any(n not in self.nodes for n in l):
                raise ValueError("bad link %r" % (l,))
            if frozenset(l) in seen:
                raise ValueError("duplicate link %r" % (l,))
            seen.add(frozenset(l))
        if len(self.links) > 256:
            raise ValueError("at most 256 links")

    def _check_available(self):
        if os.geteuid() != 0:
            raise LabUnavailable("network namespaces need root (euid %d)" % os.geteuid())
        if not shutil.which("ip") or not shutil.which("tc"):
            raise LabUnavailable("iproute2 (ip, tc) not installed")
        try:
            r = _run(["ip", "netns", "list"], timeout=CMD_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise LabUnavailable("`ip netns list` failed: %s" % _describe(e)) from e
        if r.returncode != 0:
            raise LabUnavailable("`ip netns list` failed: %s" % r.stderr.strip())

    def _take_lock(self):
        path = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
        fd = os.open(os.path.join(path, "netns-lab-%s.lock" % self.prefix), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LabBusy("another live lab uses prefix %r" % self.prefix) from None
        self._lock_fd = fd

    def _install_sigterm(self):
        # atexit does not run on a default SIGTERM; turn it into SystemExit.
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            def on_term(signum, frame):
                raise SystemExit(128 + signum)
            signal.signal(signal.SIGTERM, on_term)

    def _remove_stale(self):
        r = _run(["ip", "netns", "list"], timeout=CMD_TIMEOUT)
        for line in r.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(self.prefix + "-"):
                _delete_ns(name)

    def _build(self):
        for n in self.nodes:
            ns = self.ns(n)
            _check(["ip", "netns", "add", ns])
            _check(["ip", "-n", ns, "link", "set", "lo", "up"])
            # No IPv6 on the lab links: no DAD/RS/MLD noise in the measurements.
            _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                  "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
                 timeout=CMD_TIMEOUT)
        for x, y in self.links:
            ix, iy = self.ifname(x, y), self.ifname(y, x)
            _check(["ip", "link", "add", ix, "netns", self.ns(x), "type", "veth",
                    "peer", "name", iy, "netns", self.ns(y)])
            for n, i, p in ((x, ix, y), (y, iy, x)):
                self._ip(n, "addr", "add", self.addr(n, p) + "/24", "dev", i)
                self._ip(n, "link", "set", i, "up")
            self._set_neighbours(x, y)
        for n in self.nodes:        # start the tc batches now, not at the first fault
            self._batch("tc", n)
        # Learn now which dropping qdisc this kernel has (on a's lo, removed at once).
        self._install_drop(self.nodes[0], "lo")
        self._tc(self.nodes[0], "qdisc", "del", "dev", "lo", "root")

    def _batch(self, tool, node):
        with self._lock:
            if self._closed:
                raise RuntimeError("lab is cleaned up")
            key = (tool, node)
            b = self._batches.get(key)
            if b is None or not b.alive():
                if b is not None:
                    b.close()
                b = self._batches[key] = _Batch(tool, self.ns(node))
            return b

    def _ip(self, node, *args):
        self._batch("ip", node).do(args)

    def _tc(self, node, *args):
        self._batch("tc", node).do(args)

    def _mac(self, node, ifname):
        key = (node, ifname)
        if key not in self._macs:
            r = _check(["ip", "-n", self.ns(node), "-j", "link", "show", "dev", ifname])
            self._macs[key] = json.loads(r.stdout)[0]["address"]
        return self._macs[key]

    def _set_neighbours(self, x, y):
        """Permanent neighbour entries for the peer's address on both ends (the
        kernel flushes them when an interface goes down, so link_up re-adds)."""
        for n, p in ((x, y), (y, x)):
            mac = self._mac(p, self.ifname(p, n))
            self._ip(n, "neigh", "replace", self.addr(p, n), "lladdr", mac,
                     "dev", self.ifname(n, p), "nud", "permanent")

    def _ends(self, x, y, side):
        if side is None:
            return [(x, y), (y, x)]
        if side not in (x, y):
            raise ValueError("side %r is not on the %s-%s link" % (side, x, y))
        return [(side, y if side == x else x)]

    def _link_set(self, x, y, side, up, carrier):
        self.link_index(x, y)
        ends = self._ends(x, y, side)
        if carrier:
            for n, p in ends:
                self._ip(n, "link", "set", "dev", self.ifname(n, p), "up" if up else "down")
            if up:
                self._set_neighbours(x, y)
        else:
            for n, p in ends:
                self._set_drop(n, self.ifname(n, p), "cut", not up)

    def _set_drop(self, node, ifname, reason, on):
        """Keep an all-dropping root qdisc on node's ifname while any reason holds."""
        with self._lock:
            key = (node, ifname)
            reasons = self._drops.setdefault(key, set())
            before = bool(reasons)
            (reasons.add if on else reasons.discard)(reason)
            after = bool(reasons)
            if before == after:
                return
            if after:
                self._install_drop(node, ifname)
            else:
                try:
                    self._tc(node, "qdisc", "del", "dev", ifname, "root")
                except subprocess.CalledProcessError as e:
                    if "handle of zero" not in (e.stderr or ""):   # nothing to delete
                        raise

    def _install_drop(self, node, ifname):
        # netem loss 100% is the usual tool; kernels without sch_netem still have
        # pfifo, and a pfifo of limit 0 drops every packet offered to it.
        kinds = [self._drop_kind] if self._drop_kind else ["netem", "pfifo"]
        errs = []
        for kind in kinds:
            args = ["netem", "loss", "100%"] if kind == "netem" else ["pfifo", "limit", "0"]
            try:
                self._tc(node, "qdisc", "replace", "dev", ifname, "root", *args)
            except subprocess.CalledProcessError as e:
                errs.append("%s: %s" % (kind, (e.stderr or "").strip()))
                continue
            self._drop_kind = kind
            return
        raise RuntimeError("cannot install a dropping qdisc: " + "; ".join(errs))


class _Batch:
    """A long-running `ip|tc -n NS -force -batch -` fed through a pipe.  Each
    command is followed by a one-line `show` of lo; its output (flushed per
    command) marks completion, and anything on stderr by then is the command's
    error.  Success of the commands used here prints nothing."""
    SENTINEL = {"ip": "link show dev lo", "tc": "qdisc show dev lo"}

    def __init__(self, tool, ns):
        self.tool, self.ns = tool, ns
        self.argv = [tool] + (["-o"] if tool == "ip" else []) + ["-n", ns, "-force", "-batch", "-"]
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        os.set_blocking(self.p.stdout.fileno(), False)
        os.set_blocking(self.p.stderr.fileno(), False)
        self.lock = threading.Lock()

    def alive(self):
        return self.p.poll() is None

    def do(self, args, timeout=CMD_TIMEOUT):
        args = [str(a) for a in args]
        if any(not a or any(c.isspace() for c in a) for a in args):
            raise ValueError("batch arguments must be non-empty words: %r" % (args,))
        cmd = [self.tool, "-n", self.ns] + args
        with self.lock:
            self._drain(self.p.stderr)
            try:
                self.p.stdin.write((" ".join(args) + "\n" + self.SENTINEL[self.tool] + "\n").encode())
                self.p.stdin.flush()
            except (BrokenPipeError, ValueError):
                raise RuntimeError("%s exited (%s)" % (" ".join(self.argv), self.p.poll())) from None
            out = b""
            deadline = time.monotonic() + timeout
            while not out.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    raise subprocess.TimeoutExpired(cmd, timeout)
                select.select([self.p.stdout], [], [], left)
                chunk = self._read(self.p.stdout)
                if chunk == b"":
                    raise RuntimeError("%s exited (%s)" % (" ".join(self.argv), self.p.poll()))
                out += chunk or b""
            err = self._drain(self.p.stderr).decode(errors="replace").strip()
        if err:
            raise subprocess.CalledProcessError(1, cmd, "", err)

    @staticmethod
    def _read(f):
        """Available bytes, None if none yet, b"" at EOF."""
        try:
            return os.read(f.fileno(), 65536)
        except BlockingIOError:
            return None

    def _drain(self, f):
        data = b""
        while True:
            chunk = self._read(f)
            if not chunk:
                return data
            data += chunk

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            _killpg(self.p.pid)
            self.p.wait(timeout=5)
        for f in (self.p.stdout, self.p.stderr):
            f.close()


# ---- module helpers ----------------------------------------------------------
def _describe(e):
    if isinstance(e, subprocess.CalledProcessError):
        return "%s: %s" % (" ".join(map(str, e.cmd)), (e.stderr or "").strip() or "exit %d" % e.returncode)
    return str(e)


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(argv, timeout=CMD_TIMEOUT):
    """subprocess.run(check=False, text output) that kills the whole process
    group on timeout."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(p.pid)
        p.communicate()
        raise
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def _check(argv, timeout=CMD_TIMEOUT):
    r = _run(argv, timeout=timeout)
    if r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, argv, r.stdout, r.stderr)
    return r


def _delete_ns(name):
    """Kill every process in namespace name, then delete it (no error if absent)."""
    if not os.path.exists(os.path.join("/run/netns", name)):
        return
    for _ in range(3):
        r = _run(["ip", "netns", "pids", name], timeout=CMD_TIMEOUT)
        pids = [int(p) for p in r.stdout.split() if p.isdigit()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    _run(["ip", "netns", "del", name], timeout=CMD_TIMEOUT)


# ---- self-check ----------------------------------------------------------------
def _self_check():
    def expect(cond, what):
        if not cond:
            raise AssertionError(what)
        print("  ok:", what)

    with Lab(prefix="whachk") as lab:
        for x, y in lab.links:
            expect(lab.ping(x, y) and lab.ping(y, x), "ping %s<->%s" % (x, y))
        lab.isolate("a")
        for p in lab.peers("a"):
            expect(not lab.ping(p, "a"), "isolate(a): %s cannot reach a" % p)
        expect(lab.ping("b", "w"), "isolate(a): b<->w unaffected")
        lab.unisolate("a")
        for p in lab.peers("a"):
            expect(lab.ping(p, "a") and lab.ping("a", p), "unisolate(a): %s<->a again" % p)
        lab.isolate("a", carrier=False)
        expect(not lab.ping("b", "a") and not lab.udp_reachable("b", "a"), "silent isolate(a): b cannot reach a")
        out = lab.run("b", ["ip", "-o", "link", "show", lab.ifname("b", "a")]).stdout
        expect("state UP" in out, "silent isolate(a): b's interface stays up")
        lab.unisolate("a", carrier=False)
        expect(lab.ping("b", "a"), "silent unisolate(a): b<->a again")
        lab.oneway_loss("a", "b")
        expect(not lab.udp_reachable("a", "b"), "oneway_loss(a,b): a->b dropped")
        expect(lab.udp_reachable("b", "a"), "oneway_loss(a,b): b->a delivered")
        expect(lab.ping("a", "w"), "oneway_loss(a,b): a<->w unaffected")
        lab.oneway_loss("a", "b", on=False)
        expect(lab.udp_reachable("a", "b") and lab.ping("a", "b"), "oneway_loss off: a->b again")
        p = lab.popen("b", ["sleep", "600"])
        lab.cleanup()
        lab.cleanup()
        expect(p.poll() is not None, "cleanup killed tracked process")
        left = _run(["ip", "netns", "list"]).stdout
        expect(not any(l.startswith("whachk-") for l in left.splitlines()), "cleanup deleted namespaces")
        print("  drop qdisc used:", lab._drop_kind)


if __name__ == "__main__":
    try:
        _self_check()
    except LabUnavailable as e:
        print("netns self-check skipped:", e)
        sys.exit(77)
    print("netns self-check ok")
