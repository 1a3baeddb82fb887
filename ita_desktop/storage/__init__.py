"""storage layer: the only code that speaks SQL. Open it with ``storage.store.Store.open()``.

Nothing is imported here on purpose: ``storage.bar_reader`` must stay loadable without
SQLAlchemy (the window's start-up path), so callers import the module they need.
"""
