"""Observability: metrics, health and logs."""
