"""Loaders that turn public market-data formats into the order schema (DESIGN §2, §6)."""
