"""Protocol timers and sizes: the `lan` and `fast` profiles, every value overridable."""

from __future__ import annotations

import math
from typing import Any

import msgspec

#: Settings where 0 means "off" (crash_watch=0: crashes are found by the probes alone;
#: rejoin_hold=0: a node whose link returns is a candidate at once).
MAY_BE_ZERO = frozenset({"crash_watch", "rejoin_hold"})


class Profile(msgspec.Struct, frozen=True):
    name: str
    #: Probe one member every interval; a probe's ack must arrive within probe_timeout, or
    #: indirect probes go out and the verdict waits until the end of the interval.
    probe_interval: float
    probe_timeout: float
    indirect_checks: int
    #: Suspicion lasts between min and max: min = suspicion_mult × probe_interval (× log10 N
    #: if suspicion_log_scale, as memberlist does), max = suspicion_max_mult × min. It starts at
    #: max and shrinks towards min as independent confirmations arrive (Lifeguard).
    suspicion_mult: float
    suspicion_max_mult: float
    suspicion_confirmations: int
    suspicion_log_scale: bool
    #: Each broadcast is piggybacked/gossiped retransmit_mult × ceil(log10(N + 1)) times.
    retransmit_mult: int
    gossip_interval: float
    gossip_nodes: int
    #: Dead members still receive gossip this long (so a falsely dead one hears and refutes).
    gossip_to_the_dead: float
    #: Full state exchange with one random member over TCP (scaled up past 32 members).
    push_pull_interval: float
    #: Try to reach one dead member or unreached seed this often (heals partitions).
    reconnect_interval: float
    #: While alone, contact every seed this often.
    join_retry_interval: float
    #: Forget dead and left members after this long.
    dead_reclaim: float
    #: Lifeguard local health: timeouts and intervals are multiplied by (score + 1), score < max.
    awareness_max: int
    #: A helper nacks an indirect probe after this fraction of its probe timeout.
    nack_fraction: float = 0.8
    #: Biggest UDP payload we send (piggybacked gossip fills packets up to it).
    udp_payload: int = 1400
    tcp_timeout: float = 5.0
    #: Crash detection by the kernel: keep a TCP connection to this many ring successors;
    #: when one closes unannounced and its port refuses us, a direct ping must be answered
    #: within crash_confirm or the member is dead.
    crash_watch: int = 2
    crash_confirm: float = 0.03
    #: A node whose link returns stays out of elections until a push-pull merged its view
    #: with a live member's, or this long at most (then it is alone indeed).
    rejoin_hold: float = 2.0
    #: Pings are acked by the transport's reader thread, not after the actor's mailbox.
    fast_acks: bool = True

    def replace(self, **changes: Any) -> Profile:
        return msgspec.structs.replace(self, **changes)

    def with_overrides(self, settings: list[str]) -> Profile:
        """``NAME=VALUE`` settings (e.g. ``probe_interval=0.2``) applied; ValueError names the
        bad one."""
        fields = [name for name in type(self).__struct_fields__ if name != "name"]
        changes: dict[str, Any] = {}
        for setting in settings:
            key, sep, text = setting.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in fields:
                known = ", ".join(sorted(fields))
                raise ValueError(f"{setting!r}: expected NAME=VALUE with NAME one of {known}")
            kind = type(getattr(self, key))
            try:
                value: Any = (
                    text.strip().lower() in ("1", "true", "yes") if kind is bool else kind(text)
                )
            except ValueError:
                raise ValueError(f"{setting!r}: {key} takes a {kind.__name__}") from None
            if kind is not bool and (value < 0 if key in MAY_BE_ZERO else value <= 0):
                raise ValueError(
                    f"{setting!r}: {key} must be "
                    + ("zero or more" if key in MAY_BE_ZERO else "positive")
                )
            changes[key] = value
        out = self.replace(**changes)
        if out.probe_timeout >= out.probe_interval:
            raise ValueError("probe_timeout must be shorter than probe_interval")
        return out

    def suspicion_bounds(self, members: int) -> tuple[float, float]:
        scale = max(1.0, math.log10(max(1, members))) if self.suspicion_log_scale else 1.0
        low = self.suspicion_mult * scale * self.probe_interval
        return low, low * self.suspicion_max_mult

    def retransmit_limit(self, members: int) -> int:
        return self.retransmit_mult * max(1, math.ceil(math.log10(members + 1)))

    def push_pull_period(self, members: int) -> float:
        if members <= 32:
            return self.push_pull_interval
        return self.push_pull_interval * (math.ceil(math.log2(members) - math.log2(32)) + 1)


#: Close to memberlist's DefaultLANConfig, for comparison (5-8 s to declare a crash dead).
LAN = Profile(
    name="lan",
    probe_interval=1.0,
    probe_timeout=0.5,
    indirect_checks=3,
    suspicion_mult=4,
    suspicion_max_mult=6,
    suspicion_confirmations=2,  # memberlist: suspicion_mult - 2
    suspicion_log_scale=True,
    retransmit_mult=4,
    gossip_interval=0.2,
    gossip_nodes=3,
    gossip_to_the_dead=30.0,
    push_pull_interval=30.0,
    reconnect_interval=10.0,
    join_retry_interval=2.0,
    dead_reclaim=300.0,
    awareness_max=8,
    tcp_timeout=10.0,
    crash_confirm=0.2,
)

#: The default: sub-second detection on a LAN, still tolerating a 500 ms stall.
#: A member is probed ~10 times a second cluster-wide whatever N, so k confirmations come
#: within a few hundred ms and suspicion shrinks to its 0.6 s floor; the floor (plus the
#: 0.1 s probe) is what keeps a node that stalls 500 ms alive: it wakes, reads the suspicion
#: piggybacked on queued pings and refutes before anyone's timer runs out.
FAST = Profile(
    name="fast",
    probe_interval=0.1,
    probe_timeout=0.04,
    indirect_checks=3,
    suspicion_mult=6,
    suspicion_max_mult=3,
    suspicion_confirmations=2,
    suspicion_log_scale=False,
    retransmit_mult=4,
    gossip_interval=0.05,
    gossip_nodes=3,
    gossip_to_the_dead=10.0,
    push_pull_interval=15.0,
    reconnect_interval=2.0,
    join_retry_interval=0.5,
    dead_reclaim=120.0,
    awareness_max=8,
    tcp_timeout=2.0,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (LAN, FAST)}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown membership profile {name!r} (known: {', '.join(PROFILES)})"
        ) from None
