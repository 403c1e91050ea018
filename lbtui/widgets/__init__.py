"""The console's widgets: the keyed virtual table, the info bar and prompt, the pulses."""
