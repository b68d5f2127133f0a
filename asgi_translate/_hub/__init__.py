"""The hub: what every schema translates to and from, and the machinery that carries it.

``canonical`` (the request, response and stream-event model), ``sse`` (bytes <-> events),
``pipeline`` (one upstream frame in, client bytes out), and what travels with a request:
``context``, ``errors``, ``losses``, ``routes``. Nothing here knows any wire schema; the
spokes in :mod:`asgi_translate.schemas` import the hub, never the other way round.
"""
