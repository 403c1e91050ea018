"""The console's pure state: the reducer, the rows each view shows, the event log. No textual."""
