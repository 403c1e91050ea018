"""Kubernetes object names: the DNS-1123 subdomain rule and MetalLB's converter's renaming.

Every ``metallb.io`` object (and Secret) must be named by a DNS-1123 subdomain, as the API
server demands: at most 253 characters, lower-case letters, digits, ``-`` and ``.``, starting
and ending with a letter or digit (each dot-separated part too). :func:`subdomain_problem` says
what is wrong with a name, so ``validate`` and the console's forms refuse it with a reason.

MetalLB's ``configmaptocrs`` renames legacy pools and BFD profiles whose name does not match
``^[a-z][-a-z0-9]{0,61}[a-z0-9]$``: cut to 63 bytes, lower-cased, ``_`` to ``-``, everything
before the first letter dropped (``formatToK8S``). :func:`converter_name` is that rule, so a
ConfigMap and its converted resources name (and so order) their pools the same.
"""

from __future__ import annotations

import re

MAX_SUBDOMAIN = 253
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_CONVERTER_VALID = re.compile(r"[a-z][-a-z0-9]{0,61}[a-z0-9]")
_FIRST_LETTER = re.compile(r"[a-z]")


def subdomain_problem(name: str) -> str | None:
    """Why ``name`` is not a Kubernetes object name (DNS-1123 subdomain), or None."""
    if len(name) > MAX_SUBDOMAIN:
        return f"name is {len(name)} characters long; a Kubernetes name has at most 253"
    if _SUBDOMAIN.fullmatch(name):
        return None
    return (
        f"{name!r} is not a Kubernetes name: lower-case letters, digits, '-' and '.', "
        "starting and ending with a letter or digit (DNS-1123 subdomain)"
    )


def converter_name(name: str) -> str | None:
    """The name MetalLB's ConfigMap converter gives a pool or BFD profile named ``name``;
    None when it gives up (no letter in the name)."""
    if _CONVERTER_VALID.fullmatch(name):
        return name
    # Go slices bytes: name[:63] may split a UTF-8 sequence; keep whole characters only.
    truncated = name.encode("utf-8", "surrogatepass")[:63].decode("utf-8", "ignore")
    lowered = truncated.lower().replace("_", "-")
    first = _FIRST_LETTER.search(lowered)
    return lowered[first.start() :] if first else None
