"""The FRR backend: golden frr.conf files, FRR's own parser as the judge, and the writer actor
fed by the speaker.

Each ``golden/frr/<case>.yaml`` holds configuration and cluster objects; the test plans them
(allocation + election, as every speaker does), renders the node's frr.conf and compares it to
``<case>.conf``. Regenerate with ``LBTUI_UPDATE_GOLDEN=1``, then read the diff.
FRR itself (``bgpd -C``, ``vtysh -C``) must accept every golden file.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import tempfile
from pathlib import Path
from types import MappingProxyType

import pytest

from actors.bgp.announcer import FrrAnnouncer, RoutesChanged
from actors.bgp.frr.render import FrrRenderError, render_frr_config
from actors.bgp.frr.writer import FrrConfigWriter
from actors.clock import ManualClock
from actors.cluster.files import cluster_from_inputs
from actors.config.build import build_config
from actors.config.loader import load_files
from actors.election.plan import compute_plan
from actors.events import (
    AllocationsUpdated,
    ClusterUpdated,
    ConfigApplied,
    ConfigRejected,
    Event,
    MembershipUpdated,
)
from actors.model.config import Config, Peer
from actors.model.route import BGPRoute
from actors.speaker.actor import SpeakerActor
from actors.speaker.announcer import CompositeAnnouncer, RecordingAnnouncer
from actors.util.atomic import replace_if_changed

GOLDEN = Path(__file__).parent / "golden" / "frr"
BGPD = "/usr/lib/frr/bgpd"
CASES = {
    "ebgp-v4": "node-a",
    "ibgp-dual-stack": "node-a",
    "vrf-multihop": "node-b",
    "no-routes": "node-a",
    "unnumbered": "node-a",
}


def plan_case(case: str):
    inputs = load_files([str(GOLDEN / f"{case}.yaml")])
    result = build_config(inputs)
    assert result.config is not None, [str(i) for i in result.issues]
    cluster = cluster_from_inputs(inputs)
    plan = compute_plan(result.config, cluster)
    return result.config, cluster, plan


def render_case(case: str) -> str:
    config, cluster, plan = plan_case(case)
    node = CASES[case]
    labels = cluster.nodes[node].metadata.labels
    return render_frr_config(config, node, plan.bgp.get(node, ()), node_labels=labels)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_file(case: str) -> None:
    text = render_case(case)
    golden = GOLDEN / f"{case}.conf"
    if os.environ.get("LBTUI_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def bfd_block_lines(text: str) -> set[int]:
    """1-based numbers of the lines of the trailing ``bfd`` block (bfdd's, not bgpd's)."""
    lines = text.splitlines()
    if "bfd" not in lines:
        return set()
    start = lines.index("bfd") + 1
    return set(range(start, len(lines) + 1))


def frr_complaints(path: Path) -> list[str]:
    """What FRR objects to in ``path``: bgpd's dry run of its lines, then vtysh's parse.

    bgpd reads the file as user frr, which cannot enter a private folder (pytest's tmp_path,
    or a checkout under a 0700 mktemp -d), so FRR is given a world-readable copy."""
    assert Path(BGPD).exists(), f"{BGPD} missing: apt-get install frr"
    with tempfile.TemporaryDirectory(prefix="lbtui-frr-") as folder:
        os.chmod(folder, 0o755)
        copy = Path(folder) / path.name
        copy.write_text(path.read_text())
        os.chmod(copy, 0o644)
        return _frr_complaints(copy)


def _frr_complaints(path: Path) -> list[str]:
    text = path.read_text()
    lines = text.splitlines()
    # bgpd executes every line it owns (dry run) and complains, exit code 0 regardless.
    proc = subprocess.run([BGPD, "-C", "-f", str(path)], capture_output=True, text=True, timeout=30)
    bfd_lines = bfd_block_lines(text)
    gr_lines = sum(
        1 for ln in lines if ln.startswith(" neighbor ") and ln.endswith(" graceful-restart")
    )
    invalid_values = 0
    complaints = [] if proc.returncode == 0 else [f"bgpd -C exit {proc.returncode}"]
    for line in (proc.stdout + proc.stderr).splitlines():
        if "zclient_send_message" in line or not line.strip():
            continue  # no zebra in a dry run
        if 'failed to mkdir "/var/tmp/frr/' in line or "log buffering unavailable" in line:
            continue  # a state directory left by an earlier bgpd with the same pid: not config
        number = line.rsplit("config line ", 1)[-1].split(":")[0] if "config line " in line else ""
        owner = lines[int(number) - 1] if number.isdigit() and int(number) <= len(lines) else ""
        if "No such command" in line and number.isdigit() and int(number) in bfd_lines:
            continue  # bfdd's block: bgpd does not know it (vtysh checks it below)
        # FRR 8.4 applies `neighbor X graceful-restart` (a running bgpd's `show bgp neighbors`
        # then says "Local GR Mode: Restart") but answers "% Invalid value" and logs it as
        # failed, in one wording or another.
        if owner.startswith(" neighbor ") and owner.endswith(" graceful-restart"):
            continue
        if line.startswith("Graceful restart configuration changed"):
            continue
        if line == "% Invalid value" and invalid_values < gr_lines:
            invalid_values += 1
            continue
        complaints.append(line)
    # vtysh knows every daemon's commands: the whole integrated file must parse.
    proc = subprocess.run(["vtysh", "-C", "-f", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        complaints.append(f"vtysh -C exit {proc.returncode}: {proc.stdout}{proc.stderr}")
    return complaints


@pytest.mark.parametrize("case", sorted(CASES))
def test_frr_accepts_the_golden_file(case: str) -> None:
    assert frr_complaints(GOLDEN / f"{case}.conf") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("router bgp 64501\n neighbor 10.99.0.1 timers 3 9\nexit\n", "Specify remote-as"),
        ("router bgp 64501\n neighbor 10.99.0.1 remote-as 1\n bogus\nexit\n", "bogus"),
        ("bfd\n profile x\n  receive-interval 5\n exit\nexit\n", "vtysh -C exit"),
    ],
)
def test_the_frr_check_can_fail(text: str, expected: str) -> None:
    with tempfile.TemporaryDirectory(prefix="lbtui-frr-") as folder:
        bad = Path(folder) / "bad.conf"
        bad.write_text(text)
        complaints = frr_complaints(bad)
    assert any(expected in c for c in complaints), complaints


def peer(name: str, address: str, **kw) -> Peer:
    base = {"my_asn": 64501, "peer_asn": 64500}
    base.update(kw)
    return Peer(name=name, peer_address=ipaddress.ip_address(address), **base)


def test_one_instance_per_vrf_one_asn() -> None:
    config = Config(peers=(peer("a", "10.99.0.1"), peer("b", "10.99.0.2", my_asn=64999)))
    with pytest.raises(FrrRenderError, match="one BGP instance per VRF"):
        render_frr_config(config, "n", ())
    # In different VRFs they are two instances.
    config = Config(peers=(peer("a", "10.99.0.1"), peer("b", "10.99.0.2", my_asn=2, vrf="x")))
    text = render_frr_config(config, "n", ())
    assert "router bgp 64501\n" in text and "router bgp 2 vrf x\n" in text


def test_router_ids_must_agree_and_addresses_be_unique() -> None:
    rid = ipaddress.IPv4Address
    config = Config(
        peers=(
            peer("a", "10.99.0.1", router_id=rid("1.1.1.1")),
            peer("b", "10.99.0.2", router_id=rid("2.2.2.2")),
        )
    )
    with pytest.raises(FrrRenderError, match="one router ID"):
        render_frr_config(config, "n", ())
    config = Config(peers=(peer("a", "10.99.0.1"), peer("b", "10.99.0.1", peer_port=1179)))
    with pytest.raises(FrrRenderError, match="keys neighbors by address"):
        render_frr_config(config, "n", ())


def test_passwords_frr_cannot_take_are_refused_and_secrets_can_be_supplied() -> None:
    with pytest.raises(FrrRenderError, match="password"):
        render_frr_config(Config(peers=(peer("a", "10.99.0.1", password="two words"),)), "n", ())
    text = render_frr_config(
        Config(peers=(peer("a", "10.99.0.1"),)), "n", (), passwords={"a": "fromSecret"}
    )
    assert " neighbor 10.99.0.1 password fromSecret\n" in text


def test_routes_to_peers_of_other_nodes_are_ignored() -> None:
    route = BGPRoute("192.0.2.1/32", ("elsewhere",), (), 0, ("default/x",))
    text = render_frr_config(Config(peers=(peer("a", "10.99.0.1"),)), "n", (route,))
    assert "192.0.2.1" not in text


def test_write_atomically_only_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "frr.conf"
    assert replace_if_changed(path, "one\n", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not replace_if_changed(path, "one\n", mode=0o600)
    assert replace_if_changed(path, "two\n", mode=0o600)
    assert path.read_text() == "two\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frr.conf"]  # no temporary left


class FrrRig:
    """The speaker feeding the FRR backend, wired as ``lbtui speaker --bgp-backend frr`` wires
    them, run by hand: each event goes to whichever of the two listens to it (as the runtime's
    fan-out would), then the writer takes what the speaker handed its announcer."""

    def __init__(self, path: Path, node: str = "node-a") -> None:
        self.clock = ManualClock()
        self.events: list[Event] = []
        self.frr = FrrAnnouncer()
        common = {"clock": self.clock, "scheduler": self.clock, "publish": self.events.append}
        self.writer = FrrConfigWriter(node, path, self.frr, **common)
        announcer = CompositeAnnouncer(l2=RecordingAnnouncer(), bgp=self.frr)
        self.speaker = SpeakerActor(node, announcer, membership_observer=node, **common)
        self.writer.on_start()

    def send(self, event: Event) -> None:
        for actor in (self.speaker, self.writer):
            if isinstance(event, actor.listens_to):
                actor.on_event(event)
        self.writer.on_receive(RoutesChanged())


def test_writer_follows_the_speakers_inputs(tmp_path: Path) -> None:
    config, cluster, plan = plan_case("ebgp-v4")
    path = tmp_path / "frr.conf"
    rig = FrrRig(path)
    writer = rig.writer
    rig.send(ConfigApplied(0.0, config, "test"))
    rig.send(ClusterUpdated(0.0, cluster, "test"))
    assert not path.exists()  # no allocations yet
    rig.send(AllocationsUpdated(0.0, plan.allocations, plan.usage))
    assert path.read_text() == (GOLDEN / "ebgp-v4.conf").read_text()
    rig.send(AllocationsUpdated(0.0, plan.allocations, plan.usage))
    assert writer.writes == 1  # unchanged: not rewritten
    # The others think we are dead: announce nothing, keep the session.
    rig.send(MembershipUpdated(1.0, "node-a", frozenset({"node-b"}), frozenset({"node-a"})))
    text = path.read_text()
    assert "  network " not in text and "neighbor 10.99.0.1 remote-as 64500" in text
    rig.send(MembershipUpdated(2.0, "node-b", frozenset(), frozenset()))  # not our view
    assert writer.writes == 2
    rig.send(MembershipUpdated(3.0, "node-a", frozenset({"node-a"}), frozenset()))
    assert "network 192.0.2.10/32" in path.read_text()
    # Withdraw on a graceful stop.
    assert writer.withdraw_all() > 0
    assert "  network " not in path.read_text()


def test_a_node_alive_but_not_a_candidate_gets_no_routes_in_frr_conf(tmp_path: Path) -> None:
    config, cluster, plan = plan_case("ebgp-v4")
    path = tmp_path / "frr.conf"
    rig = FrrRig(path)
    for event in (
        ConfigApplied(0.0, config, "test"),
        ClusterUpdated(0.0, cluster, "test"),
        AllocationsUpdated(0.0, plan.allocations, plan.usage),
    ):
        rig.send(event)
    assert "  network 192.0.2.10/32\n" in path.read_text()
    # Every announce interface of node-a lost carrier: alive, but no longer a candidate.
    both = frozenset({"node-a", "node-b"})
    rig.send(MembershipUpdated(1.0, "node-a", both, frozenset(), frozenset({"node-a"})))
    text = path.read_text()
    assert "  network " not in text and " neighbor 10.99.0.1 remote-as 64500\n" in text
    rig.send(MembershipUpdated(2.0, "node-a", both, frozenset()))  # carrier back
    assert path.read_text() == (GOLDEN / "ebgp-v4.conf").read_text()


def test_the_writer_waits_for_the_speakers_first_complete_set(tmp_path: Path) -> None:
    config, cluster, _ = plan_case("ebgp-v4")
    path = tmp_path / "frr.conf"
    rig = FrrRig(path)
    rig.writer.on_event(ConfigApplied(0.0, config, "test"))
    rig.writer.on_event(ClusterUpdated(0.0, cluster, "test"))
    assert not path.exists()  # the speaker has handed nothing over yet
    rig.writer.sync_overdue()  # ... nor within the timeout: the sessions, no route
    assert "  network " not in path.read_text()
    assert " neighbor 10.99.0.1 remote-as 64500\n" in path.read_text()


def test_the_frr_announcer_nudges_once_per_whole_change() -> None:
    nudges: list[object] = []

    class Inbox:
        def tell(self, message: object) -> None:
            nudges.append(message)

    frr = FrrAnnouncer()
    frr.attach(Inbox())  # type: ignore[arg-type]
    first = BGPRoute("192.0.2.1/32", ("a",), (), 0, ("default/x",))
    second = BGPRoute("192.0.2.2/32", ("a",), (), 0, ("default/y",))
    frr.announce_bgp(first)
    frr.withdraw_bgp(first)
    frr.announce_bgp(second)
    assert nudges == []  # half a change: the writer must not render it
    frr.flush()
    assert nudges == [RoutesChanged()]
    one, two = ("192.0.2.1/32", ("a",)), ("192.0.2.2/32", ("a",))
    assert frr.take() == ({one: None, two: second}, False)
    assert frr.routes() == {two: second}
    frr.flush()  # nothing new
    assert len(nudges) == 1


def test_writer_keeps_the_last_good_file_when_frr_cannot_express_the_config(
    tmp_path: Path,
) -> None:
    config, cluster, plan = plan_case("no-routes")
    path = tmp_path / "frr.conf"
    rig = FrrRig(path)
    rig.send(ClusterUpdated(0.0, cluster, "test"))
    rig.send(AllocationsUpdated(0.0, plan.allocations, plan.usage))
    rig.send(ConfigApplied(0.0, config, "test"))
    good = path.read_text()
    clash = Config(
        peers=(*config.peers, peer("other", "10.99.0.9", my_asn=1)),
        bfd_profiles=MappingProxyType({}),
    )
    rig.send(ConfigApplied(1.0, clash, "test"))
    assert path.read_text() == good
    rejected = [e for e in rig.events if isinstance(e, ConfigRejected)]
    assert rejected and rejected[0].source == "frr backend"
    assert "one BGP instance per VRF" in rejected[0].errors[0]
