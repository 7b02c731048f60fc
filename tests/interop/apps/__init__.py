"""Test-only apps the box under test loads as `tests.interop.apps.<name>` (cwd = repo root)."""
