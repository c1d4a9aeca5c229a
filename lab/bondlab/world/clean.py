"""Find and remove what labs left behind, by ownership mark only (never by a name pattern alone).

- netns: name starts `bl-` AND its `lo` carries the alias `bondlab-o-<id>`;
- links in the current netns carrying that alias (a netdevsim PF moves back here when its node netns is
  deleted): its netdevsim device is deleted, any other marked link too;
- lab records whose netns are all gone.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from bondlab.util import names, procs
from bondlab.world import vf
from bondlab.world.netns import Netns, delete, list_netns, run


def _marked(alias: Optional[str], lab_id: Optional[str]) -> bool:
    wanted = names.OWNER_MARK + (lab_id or "")
    return bool(alias) and alias.startswith(wanted)


def owned_netns(lab_id: Optional[str] = None) -> list:
    found = []
    for name in sorted(list_netns()):
        if not name.startswith(names.PREFIX + "-"):
            continue
        lo = Netns(name).ip("-j", "link", "show", "dev", "lo", check=False)
        alias = (json.loads(lo.stdout or "[{}]") or [{}])[0].get("ifalias") if lo.returncode == 0 else None
        if _marked(alias, lab_id):
            found.append(name)
    return found


def owned_links(lab_id: Optional[str] = None) -> list:
    links = json.loads(run(["ip", "-j", "link", "show"]).stdout or "[]")
    return [link["ifname"] for link in links if _marked(link.get("ifalias"), lab_id)]


def leftovers(lab_id: Optional[str] = None) -> dict:
    return {"netns": owned_netns(lab_id), "links": owned_links(lab_id)}


def clean(lab_id: Optional[str] = None) -> dict:
    from bondlab.world import lacp_partner

    partners = lacp_partner.leftovers(lab_id)  # before their netns: a process keeps its netns alive
    for pid in partners:
        lacp_partner.stop(pid, procs.start_time(pid) or "")
    found = leftovers(lab_id)
    if partners:
        found["processes"] = partners
    for name in found["links"]:
        device = os.path.realpath(f"/sys/class/net/{name}/device")
        base = os.path.basename(device)
        if base.startswith("netdevsim") and base[len("netdevsim") :].isdigit():
            vf.delete_nsim(int(base[len("netdevsim") :]))
        else:
            run(["ip", "link", "del", "dev", name], check=False)
    for name in found["netns"]:
        delete(name)
    from bondlab.world.pods import dockerpod

    found.update(dockerpod.clean(lab_id))
    from bondlab.world.labstate import LabState, list_labs

    left = set(list_netns())
    for lab in list_labs():
        state = LabState.load(lab)
        if lab_id in (None, state.id) and not any(n.startswith(f"bl-{state.id}-") for n in left):
            state.remove()
            found.setdefault("records", []).append(lab)
    return found
