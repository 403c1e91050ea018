"""Helpers written once: backoff, atomic file replacement, a pause of the garbage collector."""
