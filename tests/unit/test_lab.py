"""The lab's pure parts (lbtui/lab): plan, effective files, router configurations (checked by
the daemons' own parsers), the state file, the status and down reports, and the traffic
generator against the lab's HTTP server on loopback."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from actors.config.build import build_config
from actors.config.loader import load_text
from lbtui.lab import router as routers
from lbtui.lab.down import DownReport
from lbtui.lab.httpd import start
from lbtui.lab.probe import l2_owners, own_membership
from lbtui.lab.state import LabState, Process, StateStore
from lbtui.lab.status import status_text
from lbtui.lab.topology import (
    LabError,
    in_lan,
    lab_cluster,
    lab_config,
    plan_lab,
    pool_ranges,
    service_addresses,
    speaker_args,
)
from lbtui.lab.traffic import run_traffic, summary_text


def test_plan_names_addresses_and_ports() -> None:
    plan = plan_lab("lblab", 4, "both", "bird")
    assert plan.nodes == ("n1", "n2", "n3", "n4")
    assert plan.namespaces == (
        "lblab-sw",
        "lblab-router",
        "lblab-client",
        "lblab-n1",
        "lblab-n2",
        "lblab-n3",
        "lblab-n4",
    )
    n4 = plan.host("n4")
    assert (n4.ip, n4.mac, n4.port) == ("10.99.90.14", "02:99:90:00:01:04", "p5")
    assert len({h.mac for h in plan.hosts}) == len(plan.hosts)
    assert plan.status_url("n1") == "http://10.99.90.11:7473"
    with pytest.raises(LabError, match="no node 'n9'"):
        plan.host("n9")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "mylab"}, "'lblab' followed by"),
        ({"name": "lblab-x"}, "'lblab' followed by"),
        ({"nodes": 0}, "between 1 and"),
        ({"mode": "l3"}, "--mode l3"),
        ({"router": "quagga"}, "--router quagga"),
    ],
)
def test_plan_refuses_bad_options(kw: dict, message: str) -> None:
    with pytest.raises(LabError, match=message):
        plan_lab(**kw)


@pytest.mark.parametrize(
    ("mode", "kinds", "services"),
    [
        ("l2", {"IPAddressPool", "L2Advertisement"}, ["10.99.90.100"]),
        ("bgp", {"IPAddressPool", "BGPAdvertisement", "BFDProfile", "BGPPeer"}, ["10.99.91.10"]),
        (
            "both",
            {"IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BFDProfile", "BGPPeer"},
            ["10.99.90.100", "10.99.91.10"],
        ),
    ],
)
def test_effective_files_keep_the_modes_objects(mode: str, kinds: set, services: list) -> None:
    plan = plan_lab(nodes=5, mode=mode)
    config, cluster = lab_config(plan), lab_cluster(plan)
    assert {d["kind"] for d in yaml.safe_load_all(config)} == kinds
    assert [ip for _s, ip, _p in service_addresses(cluster)] == services
    # What `lbtui speaker` will read is valid and has the lab's five nodes, each with an
    # endpoint of every service.
    inputs = load_text(config + "---\n" + cluster, "lab")
    result = build_config(inputs)
    assert result.config is not None, result.issues
    docs = list(yaml.safe_load_all(cluster))
    nodes = [d for d in docs if d["kind"] == "Node"]
    assert [n["metadata"]["name"] for n in nodes] == ["n1", "n2", "n3", "n4", "n5"]
    assert nodes[4]["status"]["addresses"] == [{"type": "InternalIP", "address": "10.99.90.15"}]
    for sl in (d for d in docs if d["kind"] == "EndpointSlice"):
        assert [e["nodeName"] for e in sl["endpoints"]] == ["n1", "n2", "n3", "n4", "n5"]
        assert len({e["addresses"][0] for e in sl["endpoints"]}) == 5


def test_pools_become_local_routes() -> None:
    config = lab_config(plan_lab(mode="both"))
    assert pool_ranges(config) == ["10.99.90.96/27", "10.99.91.0/24"]
    assert pool_ranges("kind: IPAddressPool\nspec: {addresses: [10.0.0.1-10.0.0.2]}\n") == [
        "10.0.0.1/32",
        "10.0.0.2/32",
    ]


def test_speaker_arguments(tmp_path: Path) -> None:
    plan = plan_lab(nodes=3, mode="l2")
    args = speaker_args(plan, "n2", tmp_path)
    joined = " ".join(args)
    assert "--node-name n2" in joined
    assert "--ml-bind 10.99.90.12:7946" in joined
    assert "--ml-join 10.99.90.11:7946,10.99.90.13:7946" in joined
    assert "--status-addr 10.99.90.12:7473" in joined
    assert "--no-bgp" in args and "--no-l2" not in args
    assert "--ml-join" not in speaker_args(plan_lab(nodes=1), "n1", tmp_path)


def test_bird_configuration_parses(tmp_path: Path) -> None:
    routers.check_router("bird")  # CI installs bird2: missing is a failure, not a skip
    conf = tmp_path / "bird.conf"
    conf.write_text(routers.bird_config(plan_lab(nodes=3), tmp_path))
    proc = subprocess.run(["bird", "-p", "-c", str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "protocol bgp n3 from lbnode { neighbor 10.99.90.13 as 64512; }" in conf.read_text()


def test_frr_configuration_parses(tmp_path: Path) -> None:
    routers.check_router("frr")
    conf = tmp_path / "frr.conf"
    conf.write_text(routers.frr_config(plan_lab(nodes=2)))
    proc = subprocess.run(
        [str(routers.FRR_DIR / "bgpd"), "-C", "-f", str(conf)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " neighbor 10.99.90.12 peer-group NODES" in conf.read_text()


def test_a_missing_router_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(LabError, match=r"Debian package bird2 \(apt-get install bird2\)"):
        routers.check_router("bird")
    monkeypatch.setattr(routers, "FRR_DIR", Path("/nonexistent"))
    with pytest.raises(LabError, match="Debian package frr"):
        routers.check_router("frr")


def test_router_session_tables() -> None:
    bird = """BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     15:28:50.123
n1         BGP        ---        up     15:28:52.036  Established
n2         BGP        ---        start  15:29:08.100  Active        Socket: Connection refused
n3         BGP        ---        down   15:29:09.000
"""
    assert routers.bird_sessions(bird) == {
        "n1": "Established",
        "n2": "Active",
        "n3": "down",
    }
    bfd = """BIRD 2.0.12 ready.
bfd1:
IP address                Interface  State      Since         Interval  Timeout
10.99.90.11               eth0       Up         15:50:20.997    0.100    0.300
10.99.90.12               eth0       Down       15:50:21.027    1.000    0.000
"""
    assert routers.bird_bfd(bfd, plan_lab()) == {"n1": "Up", "n2": "Down"}
    peers = '[{"peer": "10.99.90.13", "status": "up"}, {"peer": "10.9.9.9", "status": "up"}]'
    assert routers.frr_bfd(peers, plan_lab()) == {"n3": "Up"}
    assert routers.frr_bfd("", plan_lab()) == {}
    frr = '{"ipv4Unicast": {"peers": {"10.99.90.11": {"state": "Established"}}}}'
    assert routers.frr_sessions(frr, plan_lab(nodes=2)) == {"n1": "Established"}
    assert routers.frr_sessions("not json", plan_lab()) == {}


def test_state_file_round_trip(tmp_path: Path) -> None:
    store = StateStore("lblabt", tmp_path)
    assert store.load() is None
    state = LabState("lblabt", "l2", "bird", ["n1"], str(tmp_path / "w"), namespaces=["a"])
    state.processes.append(Process("speaker", "n1", "lblabt-n1", 42, 7, ["python"], "log"))
    state.processes.append(Process("speaker", "n1", "lblabt-n1", 43, 8, ["python"], "log"))
    with store.locked():
        store.save(state)
    loaded = store.load()
    assert loaded == state
    assert loaded is not None and loaded.process("speaker", "n1").pid == 43  # the latest
    store.path.write_text("{not json")
    with pytest.raises(Exception, match="unreadable lab state"):
        store.load()
    store.remove()
    assert not store.exists()


def test_status_text_and_down_report() -> None:
    node = {"ip": "10.99.90.11", "mac": "02:99:90:00:01:01", "link": "up", "http": "-"}
    node |= {"announces": ["10.99.90.100 (L2)"]}
    body = {
        "name": "lblab",
        "mode": "both",
        "router": "bird",
        "complete": False,
        "client": {"ip": "10.99.90.2", "namespace": "lblab-client"},
        "nodes": [
            {**node, "node": "n1", "failed": "kill", "speaker": "not running", "alive": []},
            {**node, "node": "n2", "failed": "", "speaker": "running (pid 7)", "alive": ["n2"]},
        ],
        "services": [
            {"service": "d/a", "ip": "10.99.90.100", "port": 80, "mode": "layer2"}
            | {"owners": ["n2"], "clientNeighbour": "n2"},
            {"service": "d/b", "ip": "10.99.91.10", "port": 80, "mode": "bgp", "nextHops": []},
        ],
        "sessions": {"n2": "Established", "n1": "Active"},
        "bfd": {},
    }
    text = status_text(body)
    assert "router bird  (INCOMPLETE: lab up did not finish; lab down)" in text
    assert "n1 [kill]" in text and "running (pid 7)" in text
    assert "owner n2; client ARP -> n2" in text and "router next hops none" in text
    assert text.endswith("router BGP sessions: n1 Active, n2 Established; BFD: none\n")
    assert DownReport().text() == "nothing to remove\n"
    report = DownReport(["lblab-n1", "lblab-sw"], 3, ["/tmp/x"])
    assert report.text() == (
        "removed 2 namespace(s) (lblab-n1, lblab-sw), stopped 3 process(es), deleted 1 path(s)\n"
    )
    assert in_lan("10.99.90.100") and in_lan("10.99.90.96/28") and not in_lan("10.99.91.10")


def test_owners_and_membership_from_the_nodes_views() -> None:
    views = {
        "n1": {
            "membership": [{"observer": "n1", "alive": ["n1", "n2"]}, {"observer": "n2"}],
            "announcements": [
                {"ip": "10.99.90.100", "protocol": "layer2", "node": "n1"},
                {"ip": "10.99.90.101", "protocol": "layer2", "node": "n2"},  # hearsay
                {"ip": "10.99.91.10", "protocol": "bgp", "node": "n1"},
            ],
        },
        "n2": {"membership": {"observer": "", "alive": ["n2"]}, "announcements": []},
    }
    assert l2_owners(views) == {"10.99.90.100": {"n1"}}
    assert own_membership(views["n1"], "n1")["alive"] == ["n1", "n2"]
    assert own_membership(views["n2"], "n2")["alive"] == ["n2"]
    assert own_membership({}, "n3") == {}


def test_traffic_counts_answers_and_blames_the_node_a_connection_was_on() -> None:
    async def scenario() -> dict:
        connections: set[asyncio.StreamWriter] = set()
        server = await start("nX", 0, "127.0.0.1", connections)
        port = server.sockets[0].getsockname()[1]
        task = asyncio.create_task(
            run_traffic([f"127.0.0.1:{port}"], seconds=1.2, connections=4, rate=50, timeout=0.5)
        )
        await asyncio.sleep(0.5)
        server.close()
        for writer in list(connections):  # every open connection breaks: they were on nX
            writer.transport.abort()
        report = await task
        return report.to_json()

    body = asyncio.run(scenario())
    assert body["requests"] > 20
    assert body["answeredBy"] == {"nX": body["requests"]}
    assert body["answeredByTarget"] == {body["targets"][0]: {"nX": body["requests"]}}
    assert body["errors"] >= 4
    # Broken connections were on nX; afterwards nothing listens: refused, on no node.
    assert set(body["errorsByNode"]) == {"nX", "None"}
    assert body["errorsByNode"]["nX"] == 4
    assert "refused" in body["errorKinds"]
    gap = body["outage"][f"127.0.0.1:{body['targets'][0].split(':')[1]}"]
    assert gap["longestGap"] >= 0.5  # silent from the close to the end
    text = summary_text(body)
    assert "answered  nX" in text and "(connecting) " in text and ", nX 4 " in text


def test_lab_needs_root_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os

    from lbtui.cli import main

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert main(["lab", "status", "--name", "lblabu", "--dir", "/nonexistent"]) == 1
    assert "lbtui lab: lbtui lab needs root" in err.getvalue()


def test_lab_up_names_the_missing_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import io

    from lbtui.cli import main

    monkeypatch.setattr(routers, "_program", lambda _router, _name: None)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    args = ["lab", "up", "--name", "lblabu", "--dir", str(tmp_path), "--router", "frr"]
    assert main(args) == 1
    assert "install the Debian package frr (apt-get install frr)" in err.getvalue()
    assert list(tmp_path.iterdir()) == []  # nothing was made
