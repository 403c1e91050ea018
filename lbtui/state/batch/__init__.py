"""The batch builder behind the reducer: how each kind of event changes a state, by subject.

``base`` (the working copy and the runtime's own events), ``services``, ``membership``,
``layer2`` and ``bgp`` (one subject each), put together in ``builder``. Pure: no textual.
"""
