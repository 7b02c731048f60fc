"""Fails on import: check_importable() must find it without running this."""

raise RuntimeError("slfx_broken was executed")
