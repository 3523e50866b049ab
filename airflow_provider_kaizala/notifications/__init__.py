"""Notifiers: pipeline notifications to Kaizala groups and subscribers."""
