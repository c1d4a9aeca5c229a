"""The lab's scapy LACP partner: one process in the fabric netns speaking LACP where a switch does, on the
ToR ports where PF cables land (`lacpPartner: {pod, behaviour}` names the ports behind a pod's slaves), one
behaviour per port (world.lacpdu says what each sends), with the LACP system of the switch or of its MLAG
pair (world.lacp.partner_port). Every VF of a PF shares that port. The ports stay on their switches: the
data plane is the lab's usual one, only LACP is spoken.

A lab resource: started by start(), which logs its undo (`lacp-partner-stop`: pid and start time, so a
reused pid is never killed) before waiting for it to be ready, so deploy's unwind, `bondlab destroy`,
Ctrl-C and SIGTERM stop it; it carries the lab's mark on its command line, and `clean` finds a leftover one
by that mark. It sends only on the ports given, and only on those carrying the lab's mark (their alias),
in a netns of the lab's own (it refuses others). A port that goes away (the lab torn down) is dropped;
with none left it exits. speak() rewrites its spec and sends SIGHUP: it rereads it, opens ports it did not
speak on yet, and answers at once on every port.

    ip netns exec FABRIC python -m bondlab.world.lacp_partner SPEC.json MARK
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Optional

from bondlab.util import procs
from bondlab.world import lacpdu

MODULE = "bondlab.world.lacp_partner"  # what `python -m` runs, and what leftovers() look for
READY_TIMEOUT = 60.0  # s: python and scapy's import in a loaded lab VM
STOP_TIMEOUT = 5.0
SPEAKER = "speaker"  # its key in the lab state's lacpPartners (beside the kernel partners' lags)


# -- the runner's side ----------------------------------------------------------------------------------
def start(state, fabric: str, ports: list, behaviours: dict) -> dict:
    """The lab's partner on `ports` (ToR ports: {ifname, system, number}) in netns `fabric`; `behaviours`:
    ifname -> behaviour. Returns its record (also kept in the lab state under lacpPartners[SPEAKER])."""
    partners = state.lacp_partners
    spec = {"ports": ports, "behaviours": behaviours, "mark": state.mark}
    path = str(state.dir / "lacp-partner.json")
    _write(path, spec)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", fabric, sys.executable, "-m", MODULE, path, state.mark],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a Ctrl-C at the terminal is the runner's to handle, then it stops this
    )
    state.defer("lacp-partner-stop", pid=proc.pid, started=procs.start_time(proc.pid) or "", pod=SPEAKER)
    record = {"pid": proc.pid, "spec": path}
    partners[SPEAKER] = record
    state.save()
    ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
    line = proc.stdout.readline().strip() if ready else "<no answer>"
    proc.stdout.close()
    if line != "ready":
        from bondlab.world.labstate import LabError

        raise LabError(f"the LACP partner did not start: {line or '<exited>'}")
    return record


def speak(state, fabric: str, ports: list, behaviours: dict) -> None:
    """The partner speaks on `ports` ({ifname, system, number}; started, or told of ports it does not speak
    on yet) and takes `behaviours` (ifname -> behaviour; a new port not named: silent, others unchanged)."""
    record = state.lacp_partners.get(SPEAKER)
    if record is None:
        start(state, fabric, ports, {p["ifname"]: behaviours.get(p["ifname"], "silent") for p in ports})
        return
    with open(record["spec"]) as stream:
        spec = json.load(stream)
    known = {p["ifname"] for p in spec["ports"]}
    spec["ports"] += [p for p in ports if p["ifname"] not in known]
    spec["behaviours"].update({p["ifname"]: "silent" for p in ports if p["ifname"] not in known})
    spec["behaviours"].update(behaviours)
    _write(record["spec"], spec)
    os.kill(record["pid"], signal.SIGHUP)


def speaks_on(state) -> set:
    """The ToR ports the partner speaks on."""
    record = state.lacp_partners.get(SPEAKER)
    if record is None:
        return set()
    with open(record["spec"]) as stream:
        return {p["ifname"] for p in json.load(stream)["ports"]}


def stop(pid: int, started: str) -> None:
    """Stop the partner (SIGTERM, then SIGKILL), if `pid` is still the process started at `started`."""
    if not started or procs.start_time(pid) != started:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while procs.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the process table against the deadline
    if procs.alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, os.WNOHANG)  # our child when this process started it: reap it
    except ChildProcessError:
        pass


def _write(path: str, spec: dict) -> None:
    with open(path + ".tmp", "w") as stream:
        json.dump(spec, stream)
    os.replace(path + ".tmp", path)


def leftovers(lab_id: Optional[str] = None) -> list:
    """Pids of partner processes whose mark names the lab (any lab: lab_id None)."""
    from bondlab.util import names

    wanted = names.OWNER_MARK + (lab_id or "")
    return [
        pid
        for pid, args in procs.command_lines()
        if MODULE in args and any(arg.startswith(wanted) for arg in args[args.index(MODULE) + 1 :])
    ]


def _stop_handler(state, pid: int, started: str, pod: str = SPEAKER) -> None:
    stop(pid, started)
    state.lacp_partners.pop(pod, None)


HANDLERS = {"lacp-partner-stop": _stop_handler}


# -- the partner process --------------------------------------------------------------------------------
class Port:
    """One ToR port: its socket, its LACP system and port number, what a bond last said on it and when.
    One LACP receive machine per port (802.1AX): several bonds behind one port (VFs of one PF) overwrite
    each other's information, and the port answers whichever spoke last."""

    def __init__(self, ifname: str, number: int, system: str) -> None:
        self.ifname, self.number, self.system = ifname, number, system
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(lacpdu.ETH_P_SLOW))
        self.sock.bind((ifname, lacpdu.ETH_P_SLOW))
        self.sock.setblocking(False)
        self.mac = ":".join(f"{b:02x}" for b in self.sock.getsockname()[4][:6])
        self.bond: Optional[lacpdu.Info] = None
        self.heard_at = 0.0
        self.due = 0.0  # monotonic s: when the next LACPDU is due (0: now)
        self.sent_at: list = []  # monotonic s of its last LACPDUs (lacpdu.TX_LIMIT)


def _alias(ifname: str) -> str:
    try:
        with open(f"/sys/class/net/{ifname}/ifalias") as stream:
            return stream.read().strip()
    except OSError:
        return ""


def _check_netns(mark: str) -> None:
    """Only in a netns of the lab's own: its `lo` carries the mark (as world.clean finds them)."""
    if _alias("lo") != mark:
        raise RuntimeError(f"not in a netns of lab {mark} (lo's alias is {_alias('lo')!r})")


def _open(spec: dict, mark: str, have: dict) -> list:
    """Ports of `spec` not in `have` (ifname -> Port), opened; only ports carrying the lab's mark."""
    wanted = [p for p in spec["ports"] if p["ifname"] not in have]
    wrong = [p["ifname"] for p in wanted if _alias(p["ifname"]) != mark]
    if wrong:
        raise RuntimeError(f"ports not marked as lab {mark}'s: {', '.join(wrong)}")
    return [Port(p["ifname"], p["number"], p["system"]) for p in wanted]


def serve(spec_path: str, mark: str) -> int:
    with open(spec_path) as stream:
        spec = json.load(stream)
    try:
        _check_netns(mark)
        ports = _open(spec, mark, {})
    except (OSError, RuntimeError) as error:
        print(f"error {error}", flush=True)
        return 1
    behaviours = dict(spec["behaviours"])
    reload, stop_now = [False], [False]
    signal.signal(signal.SIGHUP, lambda *_: reload.__setitem__(0, True))
    signal.signal(signal.SIGTERM, lambda *_: stop_now.__setitem__(0, True))
    # poll() resumes after a signal's handler (PEP 475): the wakeup pipe makes a SIGHUP end the wait, so
    # a new behaviour is spoken at once, not at the next periodic LACPDU
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_w)
    lacpdu.answer("honest", ports[0].system, 1, None, ports[0].mac)  # scapy imported before `ready`
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the runner stopped reading
    poller = select.poll()
    poller.register(wake_r, select.POLLIN)
    by_fd: dict = {}

    def add(new: list) -> None:
        for port in new:
            poller.register(port.sock.fileno(), select.POLLIN)
            by_fd[port.sock.fileno()] = port

    add(ports)
    while ports and not stop_now[0]:
        if reload[0]:
            reload[0] = False
            with open(spec_path) as stream:
                spec = json.load(stream)
            behaviours = dict(spec["behaviours"])
            try:
                new = _open(spec, mark, {port.ifname: port for port in ports})
            except (OSError, RuntimeError):
                new = []  # a port that went away meanwhile: the others keep speaking
            ports += new
            add(new)
            for port in ports:
                port.due = 0.0
        now = time.monotonic()
        for port in list(ports):
            if port.bond is not None and now - port.heard_at > 3 * lacpdu.period(port.bond):
                port.bond = None  # the bond's information expired (802.1AX current_while)
            if now >= port.due and not _send(port, behaviours.get(port.ifname, "silent")):
                ports.remove(port)
                poller.unregister(port.sock.fileno())
        wait = min((port.due for port in ports), default=now) - time.monotonic()
        for fd, _ev in poller.poll(max(0.0, wait) * 1000):
            if fd == wake_r:
                os.read(wake_r, 512)
            elif fd in by_fd:
                _receive(by_fd[fd])
    return 0


def _send(port: Port, behaviour: str) -> bool:
    """Send the port's LACPDU (none when silent) and schedule the next; False: the port is gone."""
    now = time.monotonic()
    allowed = lacpdu.next_send(port.sent_at, now)
    if allowed > now:
        port.due = allowed
        return True
    port.due = now + lacpdu.period(port.bond)
    frame = lacpdu.answer(behaviour, port.system, port.number, port.bond, port.mac)
    if frame is None:
        return True
    port.sent_at = port.sent_at[-lacpdu.TX_LIMIT :] + [now]
    try:
        port.sock.send(frame)
    except OSError as error:
        return error.errno not in (errno.ENODEV, errno.ENXIO)  # ENETDOWN while cut: keep the port
    return True


def _receive(port: Port) -> None:
    while True:
        try:
            data, addr = port.sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        info = lacpdu.heard(data)
        if info is None:
            continue
        if lacpdu.changed(port.bond, info):
            port.due = 0.0  # answer at once
        port.bond, port.heard_at = info, time.monotonic()


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1], sys.argv[2]))
