"""Operators: one class per Kaizala action, each a thin layer over :class:`KaizalaHook`."""
