"""A request's holds on limits, taken and given back in one place.

:meth:`Ticket.take` (awaited: the counter store may do I/O) admits a request against its
client's and strategy's limits (the worst case held: :mod:`localrouter.server.budget`); the ticket
is then an async context manager whose exit is the only place the holds end: settled to the usage
of the candidate that answered (:meth:`Ticket.settle`, with the provider caps of the call that
answered, handed over by :meth:`Ticket.carry`), or returned whole when nothing was served — a
failure, a cancellation, a bug. A stream takes its ticket with it and exits it when the stream
ends.
"""

from __future__ import annotations

from types import TracebackType

from localrouter.compiler.table import Client, ModelInfo, Strategy
from localrouter.routing.facts import RequestFacts
from localrouter.runtime.limits import Admission, Limiter, Rejection
from localrouter.server import budget
from localrouter.server.accounting import Usage


class Ticket:
    __slots__ = ("_limiter", "_provider", "_used", "reservation")

    def __init__(self, limiter: Limiter, reservation: budget.Reservation) -> None:
        self._limiter = limiter
        self.reservation = reservation
        self._provider: Admission | None = None
        self._used: tuple[ModelInfo, Usage] | None = None

    @classmethod
    async def take(
        cls,
        limiter: Limiter,
        client: Client,
        strategy: Strategy,
        facts: RequestFacts,
        first: ModelInfo,
    ) -> Ticket | Rejection:
        """Admit the request at ``first``'s prices, or the :class:`Rejection` (nothing held)."""
        verdict = await budget.reserve(limiter, client, strategy, facts, first)
        if isinstance(verdict, Rejection):
            return verdict
        return cls(limiter, verdict)

    def carry(self, provider_caps: Admission | None) -> None:
        """Hold the provider caps taken by the call that answered, to settle with the rest."""
        self._provider = provider_caps

    def settle(self, model: ModelInfo, used: Usage) -> None:
        """What ``model`` used: the holds are settled to it at exit."""
        self._used = (model, used)

    async def __aenter__(self) -> Ticket:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        provider, self._provider = self._provider, None
        if self._used is None:  # nothing was served (or the request ended first)
            await self.reservation.release()
            if provider is not None:
                await self._limiter.release(provider)
            return
        model, used = self._used
        await self.reservation.settle(model, used)
        if provider is not None:
            await budget.settle(self._limiter, provider, model, used)
