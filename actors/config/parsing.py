"""Small parsers for MetalLB's value syntaxes: address ranges, communities, Go durations."""

from __future__ import annotations

import ipaddress
import re

from actors.model.config import AddressRange, Community

UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1


def parse_address_range(text: str) -> AddressRange:
    """A pool ``addresses`` entry: ``10.0.0.0/24``, ``10.0.0.10-10.0.0.20`` or a v6 form.

    As Go's net.ParseCIDR (which MetalLB uses), host bits set in a CIDR are masked:
    ``10.0.0.5/24`` is 10.0.0.0/24 (MetalLB's TestParse accepts ``10.20.30.40/24``). It
    often means the user meant something else, so validation warns (:func:`host_bits_hint`).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    if "%" in text:
        # Python accepts IPv6 zones (fe80::1%eth0); Go's net.ParseIP/ParseCIDR do not.
        raise ValueError(f"invalid address {text!r}: IPv6 zones are not allowed")
    if "/" in text:
        prefix = text.rpartition("/")[2].strip()
        if not (prefix.isascii() and prefix.isdigit()):
            # Python would also take a netmask (10.0.0.0/255.255.255.0); Go does not.
            raise ValueError(f"invalid CIDR {text!r}: prefix length must be a number")
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ValueError(f"invalid CIDR {text!r}: {exc}") from None
        return AddressRange(net.network_address, net.broadcast_address, text)
    if "-" in text:
        start_text, _, end_text = text.partition("-")
        try:
            start = ipaddress.ip_address(start_text.strip())
            end = ipaddress.ip_address(end_text.strip())
        except ValueError as exc:
            raise ValueError(f"invalid IP range {text!r}: {exc}") from None
        if start.version != end.version:
            raise ValueError(f"invalid IP range {text!r}: mixes IPv4 and IPv6")
        if int(start) > int(end):
            raise ValueError(f"invalid IP range {text!r}: start is after end")
        return AddressRange(start, end, text)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"invalid address {text!r}: expected a CIDR or an a-b range") from None
    # MetalLB rejects a bare IP; say how to write it.
    raise ValueError(
        f"invalid address {text!r}: a single address must be written as {ip}/{ip.max_prefixlen}"
    )


def host_bits_hint(text: str) -> str | None:
    """For a CIDR with host bits set (``10.0.0.5/24``), what it is read as; None otherwise
    (also for anything :func:`parse_address_range` refuses)."""
    text = text.strip()
    if "/" not in text:
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
        address = ipaddress.ip_address(text.split("/", 1)[0])
    except ValueError:
        return None
    if int(net.network_address) == int(address):
        return None
    return (
        f"CIDR {text!r} has host bits set: it means {net.with_prefixlen}, as in MetalLB "
        f"(did you mean {net.with_prefixlen}?)"
    )


def lowest_prefix_length(rng: AddressRange) -> int:
    """The shortest prefix among the CIDRs a range summarizes into (MetalLB's lowestMask)."""
    return min(net.prefixlen for net in rng.cidrs())


def parse_community(text: str) -> Community:
    """``A:B`` (two 16-bit numbers) or ``large:A:B:C`` (three 32-bit numbers)."""
    raw = text.strip()
    if raw.startswith("large:"):
        parts = raw.removeprefix("large:").split(":")
        if len(parts) != 3:
            raise ValueError(f"invalid large community {text!r}: expected large:A:B:C")
        values = [_number(p, UINT32_MAX, text) for p in parts]
        return Community("large:" + ":".join(str(v) for v in values))
    parts = raw.split(":")
    if len(parts) != 2:
        raise ValueError(f"invalid community string {text!r}: expected A:B or large:A:B:C")
    values = [_number(p, UINT16_MAX, text) for p in parts]
    return Community(f"{values[0]}:{values[1]}")


def _number(part: str, maximum: int, text: str) -> int:
    if not (part.isascii() and part.isdigit()):
        raise ValueError(f"invalid community {text!r}: {part!r} is not a number")
    value = int(part)
    if value > maximum:
        raise ValueError(f"invalid community {text!r}: {value} does not fit in {maximum}")
    return value


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
# Go's time.Duration is an int64 of nanoseconds: about 292 years.
_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """A Go duration (``90s``, ``1m30s``, ``500ms``, ``0``) in seconds."""
    raw = text.strip()
    if raw in ("0", "+0", "-0"):
        return 0.0
    if raw.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    raw = raw.removeprefix("+")
    pos, total = 0, 0.0
    while pos < len(raw):
        match = _DURATION_PART.match(raw, pos)
        if not match:
            raise ValueError(f"invalid duration {text!r}: expected e.g. 90s, 1m30s, 500ms")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not raw:
        raise ValueError("invalid duration: empty")
    if not total <= _MAX_DURATION_SECONDS:
        raise ValueError(f"invalid duration {text!r}: too large")
    return total
