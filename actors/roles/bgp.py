"""How a speaker process gets BGP: lbtui's own sessions and BFD, or an frr.conf kept for FRR.

``--bgp-backend native`` (the default): a BgpSpeakerActor, fed by the speaker through a
BgpAnnouncer, with a BfdActor beside it. ``--bgp-backend frr``: FRR (bgpd, bfdd) runs BGP and
BFD, and :func:`frr_bgp` keeps its configuration equal to our announcements: the speaker feeds
an FrrAnnouncer exactly as it feeds the native one, and the FrrConfigWriter renders what it holds.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.bgp.actor import BgpSpeakerActor
from actors.bgp.announcer import BgpAnnouncer, FrrAnnouncer
from actors.bgp.bfd.actor import BfdActor
from actors.bgp.secrets import SecretLookup
from actors.roles.errors import OptionsError
from actors.runtime import ActorSpec


class BgpOptions(msgspec.Struct, frozen=True):
    """``--bgp-backend``, ``--frr-config``, ``--no-bgp`` (``enabled`` False) and the native
    sessions' ``--bgp-router-id``, ``--bgp-listen-port`` and ``--bgp-source-address``."""

    backend: str = "native"  # "native" or "frr"
    frr_config: str | None = None
    enabled: bool = True
    router_id: str | None = None
    listen_port: int = 0
    source_address: str | None = None


def native_bgp(
    node: str, options: BgpOptions, secrets: SecretLookup
) -> tuple[BgpAnnouncer, list[ActorSpec]]:
    """lbtui's own BGP sessions: the announcer for the speaker, and the BFD and BGP actors.

    The BGP actor goes before the speaker, so on SIGTERM it closes its sessions first:
    silently towards graceful-restart peers, which keep our routes while we restart."""
    announcer = BgpAnnouncer()
    kwargs = {
        "node": node,
        "announcer": announcer,
        "listen_port": options.listen_port,
        "router_id": options.router_id,
        "source_address": options.source_address,
        "secrets": secrets,
    }
    return announcer, [
        ActorSpec("bfd", BfdActor, {"node": node}),
        ActorSpec("bgp", BgpSpeakerActor, kwargs, withdraws_on_stop=True),
    ]


def frr_bgp(
    node: str, options: BgpOptions, secrets: SecretLookup
) -> tuple[FrrAnnouncer, list[ActorSpec]]:
    """``--bgp-backend frr``: FRR runs BGP and BFD; we keep its configuration (the
    ``--frr-config`` file) equal to our announcements, passwords from Secrets included. The
    announcer for the speaker, and the writer that renders what it holds. OptionsError
    without a path in a directory that exists."""
    if not options.frr_config or not Path(options.frr_config).parent.is_dir():
        raise OptionsError(
            "lbtui speaker: --bgp-backend frr needs --frr-config PATH in a directory that exists"
        )
    from actors.bgp.frr.writer import FrrConfigWriter  # only the FRR backend renders frr.conf

    announcer = FrrAnnouncer()
    writer = {
        "node": node,
        "path": options.frr_config,
        "announcer": announcer,
        "secrets": secrets,
    }
    return announcer, [ActorSpec("frr", FrrConfigWriter, writer, withdraws_on_stop=True)]
