"""How a speaker process gets membership (gossip): the ``--ml-*`` options and the actor spec.

Any ``--ml-*`` option turns membership on; the node's liveness then comes from gossip instead
of the Nodes' Ready condition. Every address, the key files and the timer settings are checked
here, before anything starts. The gossip code is imported only when membership is wanted.
"""

from __future__ import annotations

import msgspec

from actors.model import names
from actors.roles.errors import OptionsError
from actors.runtime import ActorSpec


class MembershipOptions(msgspec.Struct, frozen=True):
    """``--ml-bind``, ``--ml-join`` (seeds, comma-separated), ``--ml-profile``, ``--ml-timer``
    (``NAME=VALUE`` each), ``--ml-secret-file`` and ``--ml-secret-key-path``."""

    bind: str | None = None
    join: str | None = None
    profile: str = "fast"
    timers: tuple[str, ...] = ()
    secret_file: str | None = None
    secret_key_path: str | None = None

    @property
    def wanted(self) -> bool:
        """Whether any option asks for membership (the profile and timers alone do not)."""
        return bool(self.bind or self.join or self.secret_file or self.secret_key_path)


def membership_spec(node: str, options: MembershipOptions, *, on_kube: bool) -> ActorSpec | None:
    """The gossip actor of ``lbtui speaker`` (None when no option asks for it); OptionsError
    when an address, the secret or a timer setting is bad. ``on_kube``: the speaker reads
    the Kubernetes API, where speaker discovery provides the seeds if ``join`` names none."""
    if not options.wanted:
        return None
    # Imported here: a speaker without membership never loads the gossip code.
    from actors.membership.actor import MembershipActor
    from actors.membership.keyring import KeyFileError, Keyring
    from actors.membership.profile import profile_named
    from actors.membership.transport import check_bindable, parse_address

    try:
        bind = parse_address(options.bind or "0.0.0.0")
        join = [parse_address(a) for a in (options.join or "").split(",") if a.strip()]
    except ValueError as exc:
        raise OptionsError(f"lbtui speaker: --ml-bind/--ml-join: {exc}") from exc
    try:
        check_bindable(bind)
    except OSError as exc:
        raise OptionsError(f"lbtui speaker: --ml-bind: {exc}") from exc
    sealer = None
    if options.secret_file and options.secret_key_path:
        raise OptionsError("lbtui speaker: use --ml-secret-file or --ml-secret-key-path, not both")
    if options.secret_file or options.secret_key_path:
        flag = "--ml-secret-file" if options.secret_file else "--ml-secret-key-path"
        try:
            if options.secret_file:
                sealer = Keyring.from_file(options.secret_file)
            else:  # MetalLB's mounted memberlist Secret
                sealer = Keyring.from_secret_dir(options.secret_key_path or "")
        except KeyFileError as exc:  # names the file, never the key
            raise OptionsError(
                f"lbtui speaker: {flag}: {exc}", unreadable="cannot read" in str(exc)
            ) from exc
    try:
        profile = profile_named(options.profile).with_overrides(list(options.timers))
    except ValueError as exc:
        raise OptionsError(f"lbtui speaker: --ml-timer {exc}") from exc
    kwargs = {
        "node": node,
        "bind": bind,
        "join": join,
        "profile": profile,
        "sealer": sealer,
        "secret_file": options.secret_file,
        # On Kubernetes without --ml-join the seeds come from speaker discovery.
        "expect_seeds": on_kube and not join,
    }
    return ActorSpec(names.MEMBERSHIP, MembershipActor, kwargs)
