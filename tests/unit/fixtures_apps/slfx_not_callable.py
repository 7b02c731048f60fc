"""create_app is not a function."""

create_app = 42
