"""Triggers: the deferred, async side of the Kaizala sensors (they only read)."""
