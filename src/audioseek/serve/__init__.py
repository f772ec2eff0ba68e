"""HTTP API and web page for the search engine (``audioseek serve``).

Imports FastAPI only when a submodule is imported: ``from audioseek.serve.app import
create_app``.
"""
