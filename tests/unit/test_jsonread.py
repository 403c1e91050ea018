"""A JSON file is read by the json module exactly as PyYAML reads it, or left to YAML.

Fuzzed against PyYAML's own loader (``tests/unit/test_yamlread.py``'s reference): whatever the
JSON path reads, PyYAML reads the same (objects and line); where it declines, the YAML path
reads the text as before, errors and their lines included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.config.jsonread import json_documents
from actors.config.loader import load_text, yaml_documents
from tests.unit.test_yamlread import (
    FUZZ,
    _comparable,
    assert_read_as_before,
    outcome,
    pyyaml_documents,
)


def assert_json_reads_as_pyyaml(text: str) -> None:
    read = json_documents(text)
    if read is not None:
        assert outcome(pyyaml_documents, text) == ("ok", _comparable(read))
    assert_read_as_before(text)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["yes", "on", "0o17", "0x1F", "010", "1_000", "2024-01-01", "~", "<<", "1:20"]),
)
json_trees = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
dumps_options = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 2, "\t", " "]),
        "ensure_ascii": st.booleans(),
        "separators": st.sampled_from([None, (",", ":"), (", ", " : ")]),
    }
)


@FUZZ
@given(
    st.one_of(st.dictionaries(st.text(max_size=8), json_trees), st.lists(json_trees)),
    dumps_options,
    st.sampled_from(["", "\n", "  \r\n\n", "\r"]),
)
def test_json_dumps_reads_as_pyyaml_reads_it(
    value: Any, options: dict[str, Any], lead: str
) -> None:
    assert_json_reads_as_pyyaml(lead + json.dumps(value, **options))


@FUZZ
@given(st.text(alphabet=st.sampled_from('{}[]",: \n\r\t\\u0aeE+-.19dD8x\x85#'), max_size=40))
def test_any_json_like_text_reads_as_pyyaml_reads_it(text: str) -> None:
    assert_json_reads_as_pyyaml("{" + text)


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        ('{"a": [1.5e10, 1.5E+10, 1e5, -0, 0.0, 12, 1e400]}', True),  # numbers as YAML reads them
        ("[NaN, Infinity, -Infinity]", True),  # strings to YAML
        ('\n\n  {"a": "\\u00e9\\u0000\\/"}', True),
        ('{"a": 1, "a": 2}', True),  # the last one, as PyYAML
        ('{"a"\n: 1}', False),  # YAML: not a simple key
        ('{"' + "k" * 1100 + '": 1}', False),  # YAML: a simple key longer than 1024
        ('{"a": "\\ud800"}', False),  # an escaped lone surrogate
        ('{"a":\t1}', False),
        ('{"a": "b\x85c"}', False),  # NEL: a line break to YAML
        ('{"a": "\x7f"}', False),  # not printable to YAML
        ('{"a": 1}\n---\n{"b": 2}\n', False),  # YAML's documents
        ('{"a": 1} # a comment', False),
        ('\ufeff{"a": 1}', False),
        ('{"a": [1, 2', False),  # JSON's error: YAML's, with its line
        ("[" * 1200 + "]" * 1200, False),
    ],
)
def test_known_json_texts(text: str, taken: bool) -> None:
    assert (json_documents(text) is not None) == taken
    assert_json_reads_as_pyyaml(text)
    assert (json_documents(text.encode()) is not None) == taken


def test_kubectl_json_of_a_list_of_services_gives_the_yaml_models() -> None:
    items = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": f"web-{i}",
                "namespace": "shop",
                "annotations": {"metallb.io/address-pool": "pool & co"},
                "creationTimestamp": "2024-01-01T00:00:00Z",
            },
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
            "status": {"loadBalancer": {}},
        }
        for i in range(3)
    ]
    body = {"apiVersion": "v1", "kind": "List", "items": items}
    text = json.dumps(body, indent=4).replace("&", "\\u0026")  # as Go's JSON writes it
    assert json_documents(text) is not None
    from_json = load_text(text, "f")
    from_yaml = load_text(text + "\n# YAML\n", "f")  # a comment: not JSON, read by libyaml
    assert from_json.services == from_yaml.services and len(from_json.services) == 3
    assert from_json.services[0].obj.metadata.annotations["metallb.io/address-pool"] == "pool & co"
    first, second = from_json.services[0].obj, from_json.services[1].obj
    assert first.metadata.namespace is second.metadata.namespace  # one object per string
    assert next(iter(yaml_documents(text, "f")))[1] == 1
