"""Numbers' routes (tenant, auth token) as a process last read them, for the provider webhooks."""

from __future__ import annotations

import time

from cxstack.channels.numbers.schemas import NumberRoute

#: How long a number's route is reused before it is read again.
ROUTE_CACHE_SECONDS = 30.0
#: The most routes kept; past it the cache starts over.
MAX_ROUTES = 10_000


class RouteCache:
    """The routes of the numbers this process's webhooks were posted for, each reused for ``ttl_s``
    seconds. Registering or removing a number through this process forgets them all (``clear``)."""

    def __init__(self, *, ttl_s: float = ROUTE_CACHE_SECONDS, max_routes: int = MAX_ROUTES) -> None:
        self._ttl_s = ttl_s
        self._max_routes = max_routes
        self._routes: dict[str, tuple[NumberRoute, float]] = {}

    def get(self, number: str) -> NumberRoute | None:
        """Return the route of ``number`` read less than ``ttl_s`` ago, or None."""
        cached = self._routes.get(number)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def put(self, number: str, route: NumberRoute) -> None:
        if len(self._routes) > self._max_routes:
            self._routes.clear()
        self._routes[number] = (route, time.monotonic() + self._ttl_s)

    def clear(self) -> None:
        self._routes.clear()
