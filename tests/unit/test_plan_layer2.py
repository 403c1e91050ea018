"""The plan's LAYER 2 owners: those the election gives every assigned service, kept where
some service of the address is in a pool that an L2Advertisement names (issue 19: the plan
elects nobody when no pool in use is in layer 2 mode, and filters nothing when all are).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from actors.allocator.converge import allocate_cluster
from actors.cluster.files import cluster_from_inputs
from actors.config.build import build_config
from actors.config.loader import load_files
from actors.election.l2 import l2_owners
from actors.election.plan import compute_plan, known_nodes
from actors.model.config import Config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _variants(config: Config) -> dict[str, Config]:
    every = frozenset(config.pools)
    ads = config.l2_advertisements
    return {
        "examples (some pools layer 2)": config,
        "every pool layer 2": msgspec.structs.replace(
            config, l2_advertisements=tuple(msgspec.structs.replace(ad, pools=every) for ad in ads)
        ),
        "no L2Advertisement": msgspec.structs.replace(config, l2_advertisements=()),
        "an L2Advertisement of an unused pool": msgspec.structs.replace(
            config,
            l2_advertisements=(msgspec.structs.replace(ads[0], pools=frozenset({"nowhere"})),),
        ),
    }


@pytest.mark.parametrize("variant", range(4))
@pytest.mark.parametrize("down", [frozenset(), frozenset({"node-b"})])
def test_the_plans_owners_are_the_elections_in_layer_2_pools(
    variant: int, down: frozenset[str]
) -> None:
    inputs = load_files([str(EXAMPLES / "crds" / "config.yaml"), str(EXAMPLES / "cluster.yaml")])
    base = build_config(inputs).config
    assert base is not None
    cluster = cluster_from_inputs(inputs)
    name, config = list(_variants(base).items())[variant]
    allocations, usage = allocate_cluster(config, cluster)
    plan = compute_plan(config, cluster, down=down, allocations=allocations, usage=usage)

    assigned = {k: a for k, a in allocations.items() if a.ips}
    alive = known_nodes(cluster) - down if down else None
    elected = l2_owners(config, cluster, assigned, alive)
    l2_pools = {p for ad in config.l2_advertisements for p in ad.pools}
    expected = [
        (ip, owner)
        for ip, owner in elected.items()
        if any(allocations[s].pool in l2_pools for s in owner.services)
    ]
    assert list(plan.l2.items()) == expected, name
    pools_used = {a.pool for a in assigned.values()}
    if name.startswith("every"):
        assert len(expected) == len(elected) > 0 and pools_used <= l2_pools
    elif name.startswith("examples"):
        assert 0 < len(expected) < len(elected)
    else:
        assert expected == [] and len(elected) > 0
