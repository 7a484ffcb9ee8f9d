"""Readers of the old Node.js webapp's data."""
