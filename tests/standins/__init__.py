"""Stand-ins for far sides that cannot run here, following their documented contracts."""
