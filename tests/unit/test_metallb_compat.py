"""MetalLB's /controller and /speaker: its flags, METALLB_* variables and excludel2 file
translated into lbtui's command lines (lbtui/commands/metallb_compat.py)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from lbtui.cli import build_parser
from lbtui.commands.metallb_compat import (
    ENV_NOTES,
    FLAGS,
    MATCH_NOTHING,
    CompatError,
    parse_excludel2,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]

# What MetalLB's metallb-native.yaml (main, 2026) gives its two containers.
SPEAKER_ENV = {
    "METALLB_NODE_NAME": "node-a",
    "METALLB_POD_NAME": "speaker-x7k2p",
    "METALLB_HOST": "10.0.0.11",
    "METALLB_ML_BIND_ADDR": "10.0.0.11",
    "METALLB_ML_LABELS": "app=metallb,component=speaker",
    "METALLB_ML_SECRET_KEY_PATH": "/etc/ml_secret_key",
}
CONTROLLER_ENV = {
    "METALLB_POD_NAME": "controller-5f9c",
    "METALLB_ML_SECRET_NAME": "memberlist",
    "METALLB_DEPLOYMENT": "controller",
}
EXCLUDEL2 = """\
announcedInterfacesToExclude: ["^docker.*", "^cbr.*", "^lo$", "^veth.*"]
"""
COMMON = ["--log-level", "info", "--namespace", "metallb-system"]


def test_metallb_native_speaker_runs_lbtui_speaker_on_the_api() -> None:
    t = translate(
        "speaker",
        ["--port=9120", "--log-level=info"],
        SPEAKER_ENV,
        excludel2=EXCLUDEL2,
        sa_namespace="metallb-system\n",
    )
    assert t.argv == (
        "speaker", *COMMON,
        "--metrics-port", "17472", "--secure-metrics-port", "9120",
        "--node-name", "node-a", "--pod-name", "speaker-x7k2p",
        "--ml-bind", "10.0.0.11:7946",
        "--ml-labels", "app=metallb,component=speaker",
        "--ml-secret-key-path", "/etc/ml_secret_key",
        "--l2-exclude", "^docker.*", "--l2-exclude", "^cbr.*",
        "--l2-exclude", "^lo$", "--l2-exclude", "^veth.*",
    )  # fmt: skip
    assert t.notes == ("--host: ignored (lbtui's metrics listen on every address)",)


def test_metallb_native_controller_runs_lbtui_controller() -> None:
    t = translate(
        "controller", ["--port=9120", "--log-level=info"], CONTROLLER_ENV, sa_namespace="ms"
    )
    assert t.argv == (
        "controller", "--log-level", "info", "--namespace", "ms",
        "--metrics-port", "17472", "--secure-metrics-port", "9120",
        "--webhook-mode", "enabled", "--cert-dir", "/tmp/k8s-webhook-server/serving-certs",
        "--cert-service-name", "metallb-webhook-service",
        "--webhook-secret", "metallb-webhook-cert",
        "--ml-secret-name", "memberlist", "--deployment", "controller",
    )  # fmt: skip
    assert t.notes == ("--pod-name: ignored by lbtui's controller",)


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        # MetalLB <= 0.14: plain HTTP metrics and probes on --port 7472
        (["--port=7472"], {}, ["--metrics-port", "7472", "--secure-metrics-port", "-1"]),
        # --port 0: no HTTPS metrics; the probes still have their port
        (["-port", "0"], {}, ["--metrics-port", "17472", "--secure-metrics-port", "-1"]),
        (
            ["--port", "9443", "--health-probe-port=18000"],
            {},
            ["--metrics-port", "18000", "--secure-metrics-port", "9443"],
        ),
    ],
)
def test_metrics_ports_follow_the_metallb_release_the_manifest_is_from(
    argv: list[str], env: dict[str, str], expected: list[str]
) -> None:
    t = translate("controller", argv, env, sa_namespace="ms")
    i = t.argv.index("--metrics-port")
    assert list(t.argv[i : i + 4]) == expected


@pytest.mark.parametrize(
    ("argv", "env", "want", "absent"),
    [
        # a flag wins over its variable
        (["--node-name=b"], {"METALLB_NODE_NAME": "a"}, ["--node-name", "b"], []),
        # Go syntax: one dash, a separate value, bool without value
        (["-node-name", "c", "-ignore-exclude-lb"], {},
         ["--node-name", "c", "--ignore-exclude-lb"], []),
        (["--node-name=c", "--ignore-exclude-lb=false"], {}, [], ["--ignore-exclude-lb"]),
        # memberlist: port, IPv6, and off without a bind address (labels and key unused then)
        (["--node-name=n"], {"METALLB_ML_BIND_ADDR": "10.1.1.1", "METALLB_ML_BIND_PORT": "7950"},
         ["--ml-bind", "10.1.1.1:7950"], []),
        (["--node-name=n", "--ml-bindaddr=fd00::5"], {}, ["--ml-bind", "[fd00::5]:7946"], []),
        (["--node-name=n"], {"METALLB_ML_SECRET_KEY_PATH": "/k", "METALLB_ML_LABELS": "a=b"},
         [], ["--ml-bind", "--ml-secret-key-path", "--ml-labels"]),
        (["--node-name=n", "--lb-class=metallb"], {}, ["--lb-class", "metallb"], []),
        (["--node-name=n", "--metrics-cert-dir=/c"], {}, ["--metrics-cert-dir", "/c"], []),
        # log levels: MetalLB's six onto lbtui's four
        (["--node-name=n", "--log-level=all"], {}, ["--log-level", "debug"], []),
        (["--node-name=n", "--log-level=none"], {}, ["--log-level", "error"], []),
        (["--node-name=n", "--log-level", "warn"], {}, ["--log-level", "warn"], []),
        # flags after -- or a non-flag are not read (MetalLB reads neither)
        (["--node-name=n", "--", "--bogus"], {}, ["--node-name", "n"], ["--bogus"]),
        (["--node-name=n", "extra", "--lb-class=x"], {}, ["--node-name", "n"], ["--lb-class"]),
    ],
)  # fmt: skip
def test_speaker_flags_and_variables(
    argv: list[str], env: dict[str, str], want: list[str], absent: list[str]
) -> None:
    got = translate("speaker", argv, env, sa_namespace="ms").argv
    text = " ".join(got)
    assert " ".join(want) in text
    for flag in absent:
        assert flag not in got


@pytest.mark.parametrize(
    ("argv", "want", "absent"),
    [
        (["--webhook-mode=onlywebhook"], ["--webhook-mode", "onlywebhook"], []),
        (["--disable-cert-rotation", "--cert-dir", "/certs"],
         ["--cert-dir", "/certs", "--cert-service-name"], []),
        (["--disable-cert-rotation"], ["--disable-cert-rotation"], []),
        (["--disable-cert-rotation=false"], [], ["--disable-cert-rotation"]),
        (["--webhook-secret=s", "--cert-service-name=svc"],
         ["--cert-service-name", "svc", "--webhook-secret", "s"], []),
        (["--ml-secret-name=m2", "--deployment=d2"],
         ["--ml-secret-name", "m2", "--deployment", "d2"], []),
    ],
)  # fmt: skip
def test_controller_flags(argv: list[str], want: list[str], absent: list[str]) -> None:
    got = translate("controller", argv, {}, sa_namespace="ms").argv
    assert " ".join(want) in " ".join(got)
    for flag in absent:
        assert flag not in got


@pytest.mark.parametrize(
    ("role", "argv", "env", "message"),
    [
        ("speaker", [], {}, "must specify --node-name or METALLB_NODE_NAME"),
        ("speaker", ["--node-name=n", "--bogus"], {}, "flag provided but not defined: -bogus"),
        ("speaker", ["--node-name"], {}, "flag needs an argument: -node-name"),
        ("speaker", ["--node-name=n", "--port=abc"], {}, "invalid value 'abc' for flag -port"),
        ("speaker", ["--node-name=n", "--ignore-exclude-lb=yes"], {}, "invalid boolean value"),
        ("speaker", ["--node-name=n", "--log-level=verbose"], {}, "--log-level 'verbose'"),
        ("speaker", ["--node-name=n", "--ml-bindaddr=1.2.3.4", "--ml-bindport=x"], {},
         "--ml-bindport 'x': not a port"),
        ("speaker", ["--node-name=n"], {"METALLB_BGP_TYPE": "gobgp"}, "METALLB_BGP_TYPE 'gobgp'"),
        ("speaker", ["--node-name=n", "--bgp-debounce-timeout=-5"], {}, "positive integer"),
        ("controller", ["--webhook-mode=sometimes"], {}, "--webhook-mode 'sometimes'"),
        ("controller", ["--node-name=n"], {}, "flag provided but not defined: -node-name"),
        ("speaker", ["--webhook-mode=enabled"], {}, "flag provided but not defined"),
    ],
)  # fmt: skip
def test_what_metallb_would_refuse_is_refused_with_the_reason(
    role: str, argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(CompatError, match=None) as caught:
        translate(role, argv, env, sa_namespace="ms")
    assert message in str(caught.value)


def test_ignored_inputs_are_said_and_only_when_given() -> None:
    quiet = translate("speaker", ["--node-name=n"], {}, sa_namespace="ms")
    assert quiet.notes == ("no --ml-bindaddr or METALLB_ML_BIND_ADDR: membership off, as MetalLB",)
    noisy = translate(
        "speaker",
        ["--node-name=n", "--enable-pprof", "--ml-wan-config", "--tls-min-version=VersionTLS12"],
        {
            "METALLB_BGP_TYPE": "frr-k8s",
            "FRRK8S_NAMESPACE": "frr",
            "METALLB_ML_BIND_ADDR": "1.1.1.1",
        },
        sa_namespace="ms",
    )
    joined = "\n".join(noisy.notes)
    for name in ("--enable-pprof", "--ml-wan-config", "--tls-min-version", "--frrk8s-namespace",
                 "METALLB_BGP_TYPE=frr-k8s"):  # fmt: skip
        assert name in joined
    # frr-k8s: lbtui's own sessions; no FRR flag is passed
    assert "--bgp-backend" not in noisy.argv


def test_arguments_after_the_flags_are_ignored_as_metallb_ignores_them() -> None:
    t = translate("speaker", ["--node-name=n", "extra", "--lb-class=x"], {}, sa_namespace="ms")
    assert t.notes[0] == (
        "arguments after the flags ignored, as MetalLB ignores them: extra --lb-class=x"
    )


def test_namespace_from_the_service_account_else_metallb_system() -> None:
    assert "sa-ns" in translate("controller", [], {}, sa_namespace=" sa-ns\n").argv
    env_wins = translate("controller", [], {"METALLB_NAMESPACE": "env-ns"}, sa_namespace="sa")
    assert env_wins.argv[env_wins.argv.index("--namespace") + 1] == "env-ns"
    none = translate("controller", [], {}, sa_namespace=None)
    assert none.argv[none.argv.index("--namespace") + 1] == "metallb-system"
    assert any("service account" in n for n in none.notes)


def test_without_lbtui_log_level_debug_becomes_verbose() -> None:
    debug = translate("controller", ["--log-level=debug"], {}, log_level_flag=False)
    info = translate("controller", ["--log-level=info"], {}, log_level_flag=False)
    assert "-v" in debug.argv and "--log-level" not in debug.argv
    assert "-v" not in info.argv and "--log-level" not in info.argv


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXCLUDEL2, ("^docker.*", "^cbr.*", "^lo$", "^veth.*")),
        ("announcedInterfacesToExclude: []\n", ()),
        ("", ()),
        ("announcedInterfacesToExclude:\n  - eth1\n  - 'bond[0-9]+'\n", ("eth1", "bond[0-9]+")),
    ],
)
def test_excludel2_patterns(text: str, expected: tuple[str, ...]) -> None:
    assert parse_excludel2(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("announcedInterfacesToExclude: [unclosed\n", "not YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("announcedInterfacesToExclude: eth0\n", "expected a list of strings"),
        ("announcedInterfacesToExclude: [1, 2]\n", "expected a list of strings"),
        ("announcedInterfacesToExclude: ['eth(']\n", "'eth('"),
    ],
)
def test_a_bad_excludel2_names_the_file_and_the_fault(text: str, message: str) -> None:
    with pytest.raises(CompatError) as caught:
        parse_excludel2(text)
    assert str(caught.value).startswith("/etc/metallb/excludel2.yaml: ")
    assert message in str(caught.value)


def test_excludel2_absent_keeps_lbtui_defaults_and_empty_excludes_nothing() -> None:
    absent = translate("speaker", ["--node-name=n"], {}, excludel2=None, sa_namespace="ms")
    assert "--l2-exclude" not in absent.argv
    empty = translate("speaker", ["--node-name=n"], {}, excludel2="", sa_namespace="ms")
    assert empty.argv[-2:] == ("--l2-exclude", MATCH_NOTHING)
    from actors.l2.interfaces import InterfacePolicy

    policy = InterfacePolicy([MATCH_NOTHING])
    assert not any(policy.excluded(n) for n in ("eth0", "lo", "docker0", "", "veth1"))


def _sub(role: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[role]


@pytest.mark.parametrize(
    ("role", "argv", "env"),
    [
        ("speaker", ["--port=9120", "--log-level=debug"], SPEAKER_ENV),
        ("speaker", ["--port=7472", "--ignore-exclude-lb", "--lb-class=x"], SPEAKER_ENV),
        ("controller", ["--port=9120", "--disable-cert-rotation"], CONTROLLER_ENV),
        ("controller", ["--webhook-mode=disabled", "--lb-class=y"], {}),
    ],
)
def test_every_translation_is_a_command_line_lbtui_accepts(
    role: str, argv: list[str], env: dict[str, str]
) -> None:
    takes_level = "--log-level" in _sub(role)._option_string_actions
    t = translate(role, argv, env, excludel2="", sa_namespace="ms", log_level_flag=takes_level)
    args = build_parser().parse_args(list(t.argv))
    assert args.command == role
    if role == "speaker":
        from lbtui.commands.speaker import speaker_options

        options = speaker_options(args)
        assert options.node == "node-a"
        assert options.membership.wanted and options.membership.bind == "10.0.0.11:7946"
        assert options.layer2.exclude == (MATCH_NOTHING,)


def test_the_readme_states_every_flag_and_what_lbtui_does() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Running MetalLB's manifests") :]
    for flag in FLAGS:
        env = f" / `{flag.env}`" if flag.env else ""
        assert f"| `--{flag.name}`{env} | {flag.role} | {flag.lbtui} |" in section
    for name, text in ENV_NOTES.items():
        assert f"| `{name}` | both | {text} |" in section


def test_the_entry_points_exist_and_refuse_with_status_2() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'lbtui-metallb-speaker = "lbtui.commands.metallb_compat:speaker_main"' in pyproject
    assert 'lbtui-metallb-controller = "lbtui.commands.metallb_compat:controller_main"' in pyproject
    code = (
        "import sys; from lbtui.commands.metallb_compat import speaker_main; "
        "sys.exit(speaker_main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "--port=9120", "--ml-bindport=7946"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "speaker: must specify --node-name or METALLB_NODE_NAME"
