"""A module without create_app()."""


def make_app(config: object) -> object:
    return object()
