"""Package whose code must not run during AppTable.check_importable()."""
