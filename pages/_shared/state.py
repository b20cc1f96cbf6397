"""Session-wide resources of the dashboard."""

from __future__ import annotations

from engine.store import Store


def store_for_session() -> Store:
    """The store named by ``$GROUNDWATCH_HOME``, else ``cache/``.

    Not cached: a Store holds no connection (each query opens and closes one), so a fresh
    object is free and always follows the environment.
    """
    return Store()
