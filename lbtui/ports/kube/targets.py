"""Which speaker pods the console follows, and the info bar's line about them (pure).

A pod is followed once it runs with an IP and has the status port; a pod whose IP, port or
identity changes is let go and followed anew. Nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SPEAKER_LABELS = "app=metallb,component=speaker"
STATUS_PORT_NAME = "status"


@dataclass(frozen=True, slots=True)
class SpeakerTarget:
    """One speaker pod whose status endpoint can be followed through the pod proxy."""

    pod: str
    node: str
    port: int
    uid: str = ""
    ip: str = ""


def speaker_targets(
    pods: Iterable[Mapping[str, Any]],
    *,
    port_name: str = STATUS_PORT_NAME,
    port: int | None = None,
) -> tuple[dict[str, SpeakerTarget], dict[str, str]]:
    """(pod name -> target for every followable speaker pod, pod name -> why not the others).

    A pod is followable once it runs with an IP and has the status port: ``port`` if given,
    else its container port named ``port_name``."""
    targets: dict[str, SpeakerTarget] = {}
    skipped: dict[str, str] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        name = str(meta.get("name") or "")
        if not name:
            continue
        phase = status.get("phase")
        ip = status.get("podIP")
        if phase not in (None, "Running"):
            skipped[name] = f"pod is {phase}"
            continue
        if not ip:
            skipped[name] = "pod has no IP yet"
            continue
        chosen = port if port is not None else _named_port(spec, port_name)
        if chosen is None:
            skipped[name] = (
                f"no container port named {port_name!r} (run the speaker with --status-addr, "
                "or give --speaker-status-port)"
            )
            continue
        targets[name] = SpeakerTarget(
            pod=name,
            node=str(spec.get("nodeName") or name),
            port=chosen,
            uid=str(meta.get("uid") or ""),
            ip=str(ip),
        )
    return targets, skipped


def _named_port(spec: Mapping[str, Any], name: str) -> int | None:
    for container in spec.get("containers") or []:
        ports = container.get("ports") if isinstance(container, dict) else None
        for entry in ports if isinstance(ports, list) else []:
            if (
                isinstance(entry, dict)
                and entry.get("name") == name
                and isinstance(entry.get("containerPort"), int)
            ):
                return int(entry["containerPort"])
    return None


def changed_targets(
    old: Mapping[str, SpeakerTarget], new: Mapping[str, SpeakerTarget]
) -> tuple[list[str], list[SpeakerTarget]]:
    """(pods to let go, targets to start following): a pod whose IP, port or identity changed
    is let go and followed anew."""
    stop = sorted(name for name, t in old.items() if new.get(name) != t)
    start = [t for name, t in sorted(new.items()) if old.get(name) != t]
    return stop, start


def streams_summary(states: Mapping[str, tuple[str, str]], skipped: Mapping[str, str]) -> str:
    """The info bar's line: how many speakers are followed, and what is wrong with the rest.

    ``states``: pod -> (state, detail)."""
    following = sum(1 for state, _ in states.values() if state == "following")
    total = len(states) + len(skipped)
    if not total:
        return "speakers: no speaker pods found"
    text = f"speakers: {following}/{total} streaming"
    problems = [
        f"{pod} {state}: {detail}" if detail else f"{pod} {state}"
        for pod, (state, detail) in sorted(states.items())
        if state != "following"
    ]
    problems += [f"{pod}: {why}" for pod, why in sorted(skipped.items())]
    return text + (" · " + "; ".join(problems) if problems else "")
