"""Finding the kubeconfig as kubectl does (actors/kube/kubeconfig.py): --kubeconfig, else
$KUBECONFIG (a colon-separated list, merged, missing files skipped), else in-cluster inside a
pod, else ~/.kube/config; --context, else the current context; a clear error when there is
none. The speaker, the controller and `lbtui console` all connect through it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from actors.kube.api import KubeApi
from actors.kube.kubeconfig import (
    IN_CLUSTER,
    KubeconfigNotFound,
    KubeconfigSource,
    find_kubeconfig,
)
from actors.roles import console
from actors.roles.errors import OptionsError
from actors.roles.kube import KubeOptions
from tests.kube.fakeapi import FakeKubeApi

ROOT = Path(__file__).resolve().parents[2]


def kubeconfig(path: Path, contexts: dict[str, str], current: str | None) -> str:
    """A kubeconfig with one cluster and context per (name -> server)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in contexts.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in contexts],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_the_explicit_file_comes_first(tmp_path: Path) -> None:
    mine = kubeconfig(tmp_path / "mine", {"a": "http://a"}, "a")
    env = {"KUBECONFIG": str(tmp_path / "other"), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert find_kubeconfig(mine, env, str(tmp_path)).files == (mine,)
    with pytest.raises(KubeconfigNotFound, match=r"--kubeconfig .*/nope: no such file"):
        find_kubeconfig(str(tmp_path / "nope"), env, str(tmp_path))


def test_kubeconfig_is_a_list_whose_missing_files_are_skipped(tmp_path: Path) -> None:
    a = kubeconfig(tmp_path / "a", {"a": "http://a"}, "a")
    b = kubeconfig(tmp_path / "b", {"b": "http://b"}, None)
    env = {"KUBECONFIG": f"{tmp_path / 'gone'}:{a}::{b}", "KUBERNETES_SERVICE_HOST": "x"}
    found = find_kubeconfig(None, env, str(tmp_path))
    assert found.files == (a, b) and not found.in_cluster
    with pytest.raises(KubeconfigNotFound, match=r"\$KUBECONFIG names no file that exists"):
        find_kubeconfig(None, {"KUBECONFIG": str(tmp_path / "gone")}, str(tmp_path))


def test_in_a_pod_then_the_home_file(tmp_path: Path) -> None:
    assert find_kubeconfig(None, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, str(tmp_path)) == (
        KubeconfigSource((), IN_CLUSTER)
    )
    (tmp_path / ".kube").mkdir()
    home = kubeconfig(tmp_path / ".kube" / "config", {"h": "http://h"}, "h")
    assert find_kubeconfig(None, {}, str(tmp_path)).files == (home,)


def test_nothing_found_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigNotFound) as missing:
        find_kubeconfig(None, {}, str(tmp_path))
    text = str(missing.value)
    assert "$KUBECONFIG is not set" in text and f"{tmp_path}/.kube/config" in text


def test_merged_files_the_current_context_and_context(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As kubectl: the first file's current-context wins; --context picks any context of any
    file; an unknown one is refused with the ones there are."""
    first = kubeconfig(tmp_path / "first", {"lab": fake.url}, "lab")
    second = kubeconfig(tmp_path / "second", {"prod": "http://127.0.0.1:9"}, "prod")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert KubeApi.connect().host == fake.url
    assert KubeApi.connect(context="prod").host == "http://127.0.0.1:9"
    with pytest.raises(KubeconfigNotFound, match=r"context 'staging' not found .*lab, prod"):
        KubeApi.connect(context="staging")
    nocurrent = kubeconfig(tmp_path / "nocurrent", {"x": fake.url}, None)
    with pytest.raises(KubeconfigNotFound, match="no current-context; give --context"):
        KubeApi.connect(nocurrent)
    assert KubeApi.connect(nocurrent, "x").host == fake.url


def test_the_console_role_follows_kubeconfig(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", fake.write_kubeconfig(tmp_path / "config"))
    built = console.build(console.KubeConsoleOptions())
    assert built.cluster.api.host == fake.url
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "gone"))
    with pytest.raises(OptionsError, match=r"lbtui console: \$KUBECONFIG names no file"):
        console.build(console.KubeConsoleOptions(kube=KubeOptions()))


def test_lbtui_console_without_any_kubeconfig_says_so(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "HOME")
    }
    done = subprocess.run(
        [sys.executable, "-m", "lbtui", "console"],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"lbtui console: no kubeconfig: --kubeconfig is not given, $KUBECONFIG is not set and "
        f"{tmp_path}/.kube/config does not exist (and this is not a pod)",
        "(or attach to a speaker's status endpoint: --connect URL)",
    ]


def test_lbtui_console_refuses_connect_with_kubeconfig(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbtui",
            "console",
            "--connect",
            "http://x:1",
            "--kubeconfig",
            str(tmp_path / "k"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "one or the other" in done.stderr
