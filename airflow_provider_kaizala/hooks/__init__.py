"""Hooks of the Kaizala provider: the sync hook, its policy and input validation."""
