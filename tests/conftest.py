"""Shared pytest configuration for levent's tests."""
