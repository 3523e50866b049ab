"""Sensors: membership and subscriber change detection."""
