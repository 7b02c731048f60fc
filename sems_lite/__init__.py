"""sems_lite: a small, fast SIP media server."""

__version__ = "0.1.0"
