"""Pulses: small time series of what the runtime is doing, one sparkline per kind of traffic."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from lbtui.state.model import ConsoleState
from lbtui.state.pulses import PULSES

TITLES = {"l2": "ARP/NDP", "bgp": "BGP updates", "membership": "membership"}


class Pulses(Vertical):
    """Events per second over the last minute: layer 2 announcements (gratuitous ARP/NDP),
    BGP updates, membership traffic."""

    def compose(self) -> ComposeResult:
        for name in PULSES:
            with Horizontal(classes="pulse"):
                yield Label(TITLES[name], classes="pulse-title")
                yield Sparkline([0.0], id=f"pulse-{name}", classes=f"pulse-{name}")
                yield Label("0/s", id=f"pulse-{name}-rate", classes="pulse-rate")

    def show(self, state: ConsoleState) -> None:
        for name in PULSES:
            series = state.pulses.get(name) or (0,)
            self.query_one(f"#pulse-{name}", Sparkline).data = [float(v) for v in series]
            recent = series[-5:]
            rate = sum(recent) / len(recent)
            self.query_one(f"#pulse-{name}-rate", Label).update(f"{rate:.1f}/s")
