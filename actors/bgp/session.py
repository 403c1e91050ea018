"""One BGP session to one BGPPeer: the FSM, its TCP connections and what was sent on it.

Not an actor: the BGP speaker actor owns one Session per peer and drives it from its thread
(transport messages, timer ticks, route changes). Everything it does to the world goes through
the injected transport and ``publish``.

Rules applied per session:
- TCP: connect to ``peerAddress:peerPort`` from ``sourceAddress`` when set; TCP-MD5
  (TCP_MD5SIG) keyed by ``password`` or the ``passwordSecret``; TTL 1 towards a directly
  connected eBGP peer, 255 with ``ebgpMultiHop``, the system default for iBGP.
- OPEN: our ASN (AS_TRANS above 65535 with the real one in the 4-octet AS capability), hold
  time, router ID (``routerID``, else the speaker's, else the IPv4 address the session leaves
  from), multiprotocol IPv4 and IPv6 unicast, route refresh, and graceful restart when the
  peer has ``enableGracefulRestart``.
- UPDATE: ORIGIN IGP; AS_PATH empty to iBGP, our ASN prepended to eBGP; LOCAL_PREF only to
  iBGP (the advertisement's, else 100); COMMUNITIES and LARGE_COMMUNITY from the
  advertisement; next hop = the session's local address for its own family, and a global
  address on the same interface for the other family (MP-BGP, RFC 4760). Prefixes with the
  same attributes share UPDATEs. Only differences are sent (an Adj-RIB-Out per session).
- Unnumbered peers (``interface``, no address): the session goes to the router's link-local
  address on that interface (``remote``: address and scope id, found by the speaker actor),
  offers extended next hop (RFC 8950) and, when the router offers it too, sends IPv4 routes
  in MP_REACH_NLRI with an IPv6 next hop. The IPv6 next hop is the interface's global address
  plus our link-local one (32 bytes), or the link-local one alone (16 bytes), as FRR does.
- Graceful restart (RFC 4724) as the restarting speaker: R bit on the first session of this
  process, F bit for both families (the node keeps forwarding while we restart), End-of-RIB
  only once the speaker says its initial routes are all here, and on shutdown the TCP
  connection is closed without a NOTIFICATION, so the router keeps our routes meanwhile.
"""

from __future__ import annotations

import binascii
import ipaddress
import logging
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import msgspec

from actors.bgp.addresses import interface_address, same_interface_address
from actors.bgp.codec import OpenMessage
from actors.bgp.codec.attributes.base import PathAttributes
from actors.bgp.codec.attributes.communities import community_value, large_community_value
from actors.bgp.codec.attributes.registry import encode_attributes
from actors.bgp.codec.capabilities import (
    Capability,
    FourOctetAsCapability,
    GracefulRestartCapability,
    GracefulRestartFamily,
    MultiprotocolCapability,
    RouteRefreshCapability,
)
from actors.bgp.codec.errors import CeaseSubcode
from actors.bgp.codec.extended_nexthop import (
    IPV4_UNICAST_OVER_IPV6,
    ExtendedNextHopCapability,
)
from actors.bgp.codec.nlri import AFI_IPV4, AFI_IPV6, encode_prefix, prefix_afi
from actors.bgp.codec.update import (
    end_of_rib,
    pack_ipv4_announce,
    pack_ipv4_withdraw,
    pack_mp_announce,
    pack_mp_withdraw,
)
from actors.bgp.fsm import (
    Action,
    Close,
    Dial,
    Fsm,
    FsmConfig,
    RefreshRequested,
    Send,
    SessionDown,
    SessionUp,
    State,
    StateChanged,
    UpdateReceived,
)
from actors.bgp.transport import ConnUp, Transport
from actors.bgp.unnumbered.discovery import is_link_local
from actors.events import Event, PeerSessionChanged, PrefixAnnounced, PrefixWithdrawn
from actors.model.config import Peer
from actors.util.gc_pause import gc_paused

log = logging.getLogger(__name__)

DEFAULT_LOCAL_PREF = 100
GRACEFUL_RESTART_TIME = 120
FAMILIES = ((AFI_IPV4, 1), (AFI_IPV6, 1))


class RouteAttrs(NamedTuple):
    """What the speaker asks for one prefix on one peer (the rest is per-session rules).

    A tuple, so hashing and comparing it (once per prefix in bulk updates) is C code."""

    communities: tuple[str, ...] = ()
    local_pref: int = 0


#: Route work this big pauses the cyclic GC (``gc_paused``): bulk route work allocates many
#: small objects, and every full collection rescans the whole heap (a third of the time for
#: 100k routes).
GC_PAUSE_THRESHOLD = 2000


class SessionSettings(msgspec.Struct, frozen=True):
    """Speaker-wide settings every session shares."""

    node: str
    router_id: str | None = None
    graceful_restart_time: int = GRACEFUL_RESTART_TIME
    connect_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 120.0


#: MetalLB's native speaker metrics (internal/bgp/native/stats.go), label ``peer``: name ->
#: (Prometheus type, help). ``updates_total`` is MetalLB's only counter; the prefix counts
#: are gauges despite their ``_total``.
METRICS: dict[str, tuple[str, str]] = {
    "metallb_bgp_session_up": ("gauge", "BGP session state (1 is up, 0 is down)"),
    "metallb_bgp_updates_total": ("counter", "Number of BGP UPDATE messages sent"),
    "metallb_bgp_announced_prefixes_total": (
        "gauge",
        "Number of prefixes currently being advertised on the BGP session",
    ),
    "metallb_bgp_pending_prefixes_total": (
        "gauge",
        "Number of prefixes that should be advertised on the BGP session",
    ),
}


def peer_label(peer: Peer, port: int | None = None) -> str:
    """The ``peer`` label of MetalLB's native speaker metrics: ``ip:port`` (an unnumbered
    peer: ``interface:port``)."""
    address = str(peer.peer_address) if peer.peer_address is not None else peer.interface
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port or peer.peer_port}"


def ttl_for(peer: Peer) -> int | None:
    if peer.is_ibgp:
        return None
    return 255 if peer.ebgp_multihop else 1


class Session:
    def __init__(
        self,
        peer: Peer,
        settings: SessionSettings,
        transport: Transport,
        publish: Callable[[Event], None],
        *,
        password: str = "",
        port: int | None = None,
        source: str | None = None,
        passive: bool = False,
        restarting: bool = True,
        address_lookup: Callable[[str, int], str | None] = same_interface_address,
        remote: tuple[str, int] | None = None,
        interface_lookup: Callable[[int, int], str | None] = interface_address,
    ) -> None:
        self.peer = peer
        self.name = peer.name
        self.settings = settings
        self.transport = transport
        self.publish = publish
        self.port = port or peer.peer_port
        # Where the session goes: the peer's address, or (unnumbered) the link-local address
        # the speaker found on the peer's interface, with that interface's index as scope id.
        self.remote_address = remote[0] if remote else str(peer.peer_address)
        self.scope_id = remote[1] if remote else 0
        self._interface_lookup = interface_lookup
        self.ipv4_over_ipv6 = False  # RFC 8950 negotiated: IPv4 routes in MP_REACH_NLRI
        # The peer's sourceAddress, else the speaker's default (the demo's 127.0.1.N).
        self.source = str(peer.source_address) if peer.source_address else source
        self.label = peer_label(peer, self.port)
        self._md5 = password.encode() if password else None
        self._lookup = address_lookup
        self.restarting = restarting
        self.fsm = Fsm(
            FsmConfig(
                local_asn=peer.my_asn,
                peer_asn=peer.peer_asn,
                external_only=peer.dynamic_asn == "external",
                hold_time=peer.hold_time,
                keepalive_time=float(peer.keepalive_time),
                passive=passive,
                connect_timeout=settings.connect_timeout,
                backoff_initial=settings.backoff_initial,
                backoff_max=min(settings.backoff_max, peer.connect_time or settings.backoff_max),
            )
        )
        self.conns: set[int] = set()
        self.up: SessionUp | None = None
        self.local_address: str | None = None
        self.next_hops: dict[int, bytes] = {}
        self.desired: dict[str, RouteAttrs] = {}
        self.adj_out: dict[str, RouteAttrs] = {}
        self.dirty: set[str] = set()
        self.synced = False
        self.eor_sent: set[tuple[int, int]] = set()
        self.updates_sent = 0
        self.skipped: dict[str, str] = {}  # prefix -> why it could not go to this peer
        self._attr_cache: dict[tuple[int, RouteAttrs], bytes] = {}
        self._locals: dict[int, str] = {}  # conn -> our address on it

    # -- reading ------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.fsm.state

    @property
    def established(self) -> bool:
        return self.up is not None

    @property
    def graceful_restart(self) -> bool:
        """Negotiated: we offered it and the peer supports it (it will keep our routes)."""
        return (
            self.up is not None
            and self.peer.enable_graceful_restart
            and self.up.peer_open.graceful_restart is not None
        )

    def counters(self) -> dict[str, int]:
        return {
            "metallb_bgp_session_up": int(self.established),
            "metallb_bgp_updates_total": self.updates_sent,
            "metallb_bgp_announced_prefixes_total": len(self.adj_out),
            # MetalLB: what should be advertised (set on every change, equal to the
            # announced count once sent), not what is still waiting.
            "metallb_bgp_pending_prefixes_total": len(self.desired),
        }

    # -- admin --------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        if self._md5 is not None:
            self.transport.set_md5(self.remote_address, self._md5)
        self._run(now, self.fsm.start(now))

    def stop(
        self,
        now: float,
        reason: str,
        *,
        graceful: bool = False,
        subcode: int = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ) -> None:
        """Close the session. ``graceful``: silently, so a graceful-restart peer keeps routes."""
        self._run(now, self.fsm.stop(now, reason, notify=not graceful, subcode=subcode))
        if self._md5 is not None:
            self.transport.set_md5(self.remote_address, None)

    def peer_failed(self, now: float, reason: str) -> None:
        self._run(now, self.fsm.peer_failed(now, reason))

    # -- transport ----------------------------------------------------------------------------
    def owns(self, conn: int) -> bool:
        return conn in self.conns

    def accepts(self, remote: str, scope_id: int = 0) -> bool:
        """Whether an inbound connection from ``remote`` is this peer's: its address, or
        (unnumbered) a link-local address on its interface (the scope id says which)."""
        if self.peer.peer_address is None:
            return bool(self.scope_id) and scope_id == self.scope_id and is_link_local(remote)
        return ipaddress.ip_address(remote) == self.peer.peer_address

    def conn_up(self, now: float, event: ConnUp) -> None:
        self.conns.add(event.conn)
        if not event.outbound:
            ttl = ttl_for(self.peer)
            if ttl is not None:
                self.transport.set_ttl(event.conn, ttl)
        local_open = self._local_open(event.local[0])
        self._run(now, self.fsm.connection_up(now, event.conn, event.outbound, local_open))
        if event.conn in self.fsm.conns:
            self._locals[event.conn] = event.local[0]

    def conn_failed(self, now: float, conn: int, reason: str) -> None:
        self._run(now, self.fsm.connect_failed(now, conn, reason))

    def conn_closed(self, now: float, conn: int, reason: str) -> None:
        self._run(now, self.fsm.connection_lost(now, conn, reason))

    def received(self, now: float, conn: int, frames: Iterable[bytes]) -> None:
        for frame in frames:
            if conn not in self.fsm.conns:
                return
            self._run(now, self.fsm.received(now, conn, frame))

    def broken(self, now: float, conn: int, error: object) -> None:
        from actors.bgp.codec import BGPError

        assert isinstance(error, BGPError)
        self._run(now, self.fsm.framing_error(now, conn, error))

    def next_deadline(self) -> float | None:
        return self.fsm.next_deadline()

    def advance(self, now: float) -> None:
        self._run(now, self.fsm.advance(now))

    # -- routes -------------------------------------------------------------------------------
    def set_routes(self, changes: Mapping[str, RouteAttrs | None]) -> None:
        """Change what this peer should have; :meth:`sync` sends the difference."""
        for prefix, attrs in changes.items():
            if attrs is None:
                self.desired.pop(prefix, None)
            else:
                self.desired[prefix] = attrs
            self.dirty.add(prefix)

    def set_synced(self, now: float) -> None:
        """The speaker has handed over every route it wants now: End-of-RIB may follow."""
        self.synced = True
        self.sync(now)

    def sync(self, now: float) -> None:
        if self.up is None:
            self.dirty.clear()  # everything is sent afresh when the session comes up
            return
        conn = self.up.conn
        frames: list[bytes] = []
        withdraw: dict[int, list[bytes]] = {AFI_IPV4: [], AFI_IPV6: []}
        withdrawn: list[str] = []
        # afi -> attributes -> encoded prefixes: prefixes sharing attributes share UPDATEs.
        announce: dict[int, defaultdict[RouteAttrs, list[bytes]]] = {
            AFI_IPV4: defaultdict(list),
            AFI_IPV6: defaultdict(list),
        }
        announced: list[str] = []
        blocked = self._blocked_families()
        desired, adj_out, skipped = self.desired, self.adj_out, self.skipped
        with gc_paused(len(self.dirty), GC_PAUSE_THRESHOLD):
            for prefix in self.dirty:
                want = desired.get(prefix)
                have = adj_out.get(prefix)
                if want == have:
                    continue
                afi, nlri = encode_prefix(prefix)
                why = blocked.get(afi) if want is not None else None
                if want is None or why:
                    if why:
                        skipped[prefix] = why
                    if have is not None:
                        withdraw[afi].append(nlri)
                        withdrawn.append(prefix)
                        del adj_out[prefix]
                    continue
                if skipped:
                    skipped.pop(prefix, None)
                announce[afi][want].append(nlri)
                announced.append(prefix)
                adj_out[prefix] = want
        self.dirty.clear()
        if withdraw[AFI_IPV4]:
            frames += pack_ipv4_withdraw(withdraw[AFI_IPV4])
        if withdraw[AFI_IPV6]:
            frames += pack_mp_withdraw(AFI_IPV6, 1, withdraw[AFI_IPV6])
        for afi, groups in announce.items():
            for attrs, nlri in groups.items():
                encoded = self._attributes(afi, attrs)
                if afi == AFI_IPV4 and not self.ipv4_over_ipv6:
                    frames += pack_ipv4_announce(encoded, nlri)
                else:
                    frames += pack_mp_announce(encoded, afi, 1, self.next_hops[afi], nlri)
        if self.synced:
            for family in FAMILIES:
                if family in self.up.families and family not in self.eor_sent:
                    frames.append(end_of_rib(*family))
                    self.eor_sent.add(family)
        if frames:
            self.transport.send(conn, frames)
            self.updates_sent += len(frames)
        node = self.settings.node
        if withdrawn:
            self.publish(PrefixWithdrawn(now, node, self.name, tuple(withdrawn), "withdrawn"))
        if announced:
            self.publish(PrefixAnnounced(now, node, self.name, tuple(announced)))

    def refresh(self, now: float, afi: int) -> None:
        """The peer asked for our routes again (ROUTE-REFRESH)."""
        for prefix in [p for p in self.adj_out if prefix_afi(p) == afi]:
            del self.adj_out[prefix]
        self.dirty |= {p for p in self.desired if prefix_afi(p) == afi}
        self.sync(now)

    # -- internals ----------------------------------------------------------------------------
    def _blocked_families(self) -> dict[int, str]:
        """Families this session cannot carry, and why."""
        assert self.up is not None
        blocked = {}
        for afi, family in ((AFI_IPV4, "IPv4"), (AFI_IPV6, "IPv6")):
            if (afi, 1) not in self.up.families:
                blocked[afi] = f"the peer did not negotiate {family} unicast"
            elif afi not in self.next_hops and self.peer.unnumbered and afi == AFI_IPV4:
                blocked[afi] = (
                    "the peer did not negotiate extended next hop (RFC 8950) and "
                    f"{self.peer.interface} has no IPv4 address"
                )
            elif afi not in self.next_hops:
                blocked[afi] = f"no local {family} address to use as next hop"
        return blocked

    def _attributes(self, afi: int, attrs: RouteAttrs) -> bytes:
        key = (afi, attrs)
        found = self._attr_cache.get(key)
        if found is not None:
            return found
        assert self.up is not None
        peer = self.peer
        standard, large = [], []
        for text in attrs.communities:
            try:
                if text.startswith("large:"):
                    large.append(large_community_value(text))
                else:
                    standard.append(community_value(text))
            except ValueError:
                log.warning("peer %s: skipping unusable community %r", self.name, text)
        path = PathAttributes(
            origin=0,
            as_path=() if peer.is_ibgp else ((2, (peer.my_asn,)),),
            next_hop=(
                socket.inet_ntop(socket.AF_INET, self.next_hops[AFI_IPV4])
                if afi == AFI_IPV4 and not self.ipv4_over_ipv6
                else None
            ),
            local_pref=(attrs.local_pref or DEFAULT_LOCAL_PREF) if peer.is_ibgp else None,
            communities=tuple(sorted(set(standard))),
            large_communities=tuple(sorted(set(large))),
        )
        found = self._attr_cache[key] = encode_attributes(path, self.up.four_octet_as)
        return found

    def _local_open(self, local_address: str) -> OpenMessage:
        peer = self.peer
        caps: list[Capability] = [
            MultiprotocolCapability(AFI_IPV4, 1),
            MultiprotocolCapability(AFI_IPV6, 1),
            RouteRefreshCapability(),
            FourOctetAsCapability(peer.my_asn),
        ]
        if peer.unnumbered:
            caps.append(ExtendedNextHopCapability((IPV4_UNICAST_OVER_IPV6,)))
        if peer.enable_graceful_restart:
            caps.append(
                GracefulRestartCapability(
                    self.settings.graceful_restart_time,
                    restarting=self.restarting,
                    families=tuple(GracefulRestartFamily(a, s, True) for a, s in FAMILIES),
                )
            )
        return OpenMessage(peer.my_asn, peer.hold_time, self._router_id(local_address), tuple(caps))

    def _router_id(self, local_address: str) -> int:
        if self.peer.router_id is not None:
            return int(self.peer.router_id)
        if self.settings.router_id:
            return int(ipaddress.IPv4Address(self.settings.router_id))
        v4 = local_address if "." in local_address else self._lookup(local_address, 4)
        if v4:
            return int(ipaddress.IPv4Address(v4))
        # MetalLB's fallback for an IPv6-only node: a stable number from the node name.
        return binascii.crc32(self.settings.node.encode()) or 1

    def _established(self, now: float, up: SessionUp) -> None:
        self.up = up
        local = self._locals.get(up.conn, "")
        self.local_address = local
        self.next_hops = {}
        self.ipv4_over_ipv6 = False
        families = ((AFI_IPV4, 4, socket.AF_INET), (AFI_IPV6, 6, socket.AF_INET6))
        if self.peer.unnumbered and local:
            self._link_next_hops(local, up)
            families = ()
        for afi, version, family in families if local else ():
            if ipaddress.ip_address(local).version == version:
                address: str | None = local
            else:
                address = self._lookup(local, version)
            if address:
                self.next_hops[afi] = socket.inet_pton(family, address)
        self._attr_cache.clear()
        self.adj_out.clear()
        self.eor_sent.clear()
        self.dirty = set(self.desired)
        self.restarting = False
        self.sync(now)

    def _link_next_hops(self, local: str, up: SessionUp) -> None:
        """An unnumbered session's next hops: IPv6 global (if the interface has one) plus our
        link-local address; IPv4 over that when both sides offered RFC 8950, else the
        interface's IPv4 address if it has one."""
        link_local = socket.inet_pton(socket.AF_INET6, local.split("%", 1)[0])
        global_v6 = self._interface_lookup(self.scope_id, 6)
        v6 = socket.inet_pton(socket.AF_INET6, global_v6) + link_local if global_v6 else link_local
        self.next_hops[AFI_IPV6] = v6
        theirs = up.peer_open.capability(ExtendedNextHopCapability)
        if isinstance(theirs, ExtendedNextHopCapability) and theirs.allows(*IPV4_UNICAST_OVER_IPV6):
            self.next_hops[AFI_IPV4] = v6
            self.ipv4_over_ipv6 = True
            return
        v4 = self._interface_lookup(self.scope_id, 4)
        if v4:
            self.next_hops[AFI_IPV4] = socket.inet_pton(socket.AF_INET, v4)

    def _down(self, now: float, reason: str) -> None:
        self.up = None
        if self.adj_out:
            prefixes = tuple(self.adj_out)
            self.adj_out.clear()
            self.publish(
                PrefixWithdrawn(
                    now, self.settings.node, self.name, prefixes, f"session down: {reason}"
                )
            )

    def _run(self, now: float, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.transport.send(action.conn, (action.data,), urgent=True)
            elif isinstance(action, Close):
                self.transport.close(action.conn)
                self.conns.discard(action.conn)
                self._locals.pop(action.conn, None)
            elif isinstance(action, Dial):
                conn = self.transport.dial(
                    self.remote_address,
                    self.port,
                    source=self.source,
                    md5_key=self._md5,
                    ttl=ttl_for(self.peer),
                    scope_id=self.scope_id,
                )
                self.conns.add(conn)
                self.fsm.dialing(now, conn)
            elif isinstance(action, SessionUp):
                self._established(now, action)
            elif isinstance(action, SessionDown):
                self._down(now, action.reason)
            elif isinstance(action, RefreshRequested):
                self.refresh(now, action.afi)
            elif isinstance(action, StateChanged):
                self.publish(
                    PeerSessionChanged(
                        now, self.settings.node, self.name, action.new.value, action.reason
                    )
                )
            elif isinstance(action, UpdateReceived):
                pass  # a speaker announces; it does not import routes
