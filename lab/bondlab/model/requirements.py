"""What a scenario needs of the kernel it runs on (`spec.requires`), and whether the running kernel has it.

A scenario runs on several kernels (`bondlab run --kernel`); on one without what it needs it is skipped
with the reason, never failed and never passed. Bonding options are judged by what the running kernel
offers (capabilities.probe(): a throwaway bond in a throwaway netns), so a backport counts; `kernel` is a
minimum release for what no probe sees (a fix, a behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bondcni.recent_options import release_tuple
from bondlab import capabilities


@dataclass(frozen=True)
class Requirements:
    where: str = ""  # file:line of spec.requires
    kernel: Optional[str] = None  # the minimum release, as written ("6.0", "6.12.30")
    bonding_options: tuple = ()  # the kernel's names; a slave's as "slave:NAME" (capabilities.SLAVE)
    netdevsim: bool = False

    def __bool__(self) -> bool:
        return bool(self.kernel or self.bonding_options or self.netdevsim)

    def unmet(self, caps: capabilities.Capabilities) -> str:
        """Why the kernel `caps` describes cannot run the scenario ("" when it can): every need it lacks."""
        reasons = []
        if self.kernel and release_tuple(caps.kernel) < release_tuple(self.kernel):
            reasons.append(f"needs kernel {self.kernel} or later: this is {caps.kernel}")
        for option in self.bonding_options:
            verdict = caps.bonding_option(option)
            if not verdict:
                reasons.append(f"needs bonding option {option}: {verdict.reason}")
        if self.netdevsim and not caps.has("netdevsim"):
            reasons.append(f"needs netdevsim: {caps.reason('netdevsim')}")
        return "; ".join(reasons)


def typed(raw: Optional[dict], where: str) -> Requirements:
    """spec.requires as the schema validated it (None: the scenario needs nothing of the kernel)."""
    if raw is None:
        return Requirements()
    return Requirements(
        where=where,
        kernel=raw.get("kernel"),
        bonding_options=tuple(raw.get("bondingOptions", ())),
        netdevsim=bool(raw.get("netdevsim", False)),
    )
