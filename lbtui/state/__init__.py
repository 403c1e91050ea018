"""The console's pure state. No textual.

``model`` (the immutable state), ``eventlog`` (the log and how an event reads),
``pulses`` (events per second), ``reducer`` (``reduce``/``reduce_all``/``load_snapshot``/
``advance``, running the batch builder of ``batch/``), ``rows`` (what each view shows).
"""
