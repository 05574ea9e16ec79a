"""Shared test helpers: real servers to test against (never mocks), started per session."""
