"""What lets a user see the runtime: health, metrics, the status endpoint, history, failover timing,
the event log and the state file, and the one bounded HTTP server they share."""
