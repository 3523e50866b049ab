"""Transfers: Kaizala membership into SQL warehouses."""
