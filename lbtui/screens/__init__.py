"""The console's screens: one view per resource, their shared base, the pop-ups, the editor."""
