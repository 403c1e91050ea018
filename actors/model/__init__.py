"""Shared value types: configuration, cluster objects, allocations, routes, annotations, issues.

Imports nothing else of ours, so no package loop can run through it."""
