"""Imports a dependency that is not installed."""

import slfx_not_installed_anywhere  # noqa: F401
