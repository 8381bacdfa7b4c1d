"""The benchmark: our server measured against the transport floor, the runtime limit and a peer
server on the same machine (`make bench`, `campaign-lift bench`, `python -m bench`).

Sections live in `bench/sections/` and are listed in `bench/sections/__init__.py`.
"""
