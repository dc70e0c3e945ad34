"""Tests for sentinel.obs and the observability / deployment files."""
