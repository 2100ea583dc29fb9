"""Requests to an OpenAI-compatible server: the official async ``openai`` client with a
concurrency limit, a timeout, and retries (tenacity) that wait as long as a ``Retry-After`` header
asks, else back off exponentially. A request that cannot succeed fails with one line that names the
server and the model, and never the API key (which is read from the environment variable the config
names, and nowhere written)."""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

_NO_KEY = "EMPTY"  # local servers accept any key; the client refuses none
_MAX_WAIT = 120.0  # seconds: a Retry-After longer than this is capped (a hung job is worse than a retry)


class ServedError(RuntimeError):
    """A served model that cannot be used: the message is one line naming what to fix."""


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to talk to it (config keys of a ``backend: served`` model)."""

    base_url: str
    served_model: str
    api_key_env: str | None = None
    max_concurrency: int = 8
    timeout: float = 600.0  # seconds a request may take (a long reasoning completion on a busy server)
    retries: int = 6  # attempts per request, the first included

    def api_key(self) -> str:
        """The key from ``api_key_env``; a missing variable is an error that names it (not a value)."""
        if not self.api_key_env:
            return _NO_KEY
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ServedError(f"environment variable {self.api_key_env} (config key api_key_env) is not set")
        return key

    def where(self) -> str:
        """The model and server, for messages."""
        return f"served model {self.served_model!r} at {self.base_url}"


def retry_after(error: BaseException) -> float | None:
    """Seconds a server asked to wait (``Retry-After``, as seconds or an HTTP date), if it did."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def retryable(error: BaseException) -> bool:
    """Rate limits, server errors, connection failures and timeouts are retried; a 4xx is not (the
    request itself is wrong, and would be as wrong the next time)."""
    import openai

    if isinstance(error, openai.APIConnectionError):  # timeouts included
        return True
    return isinstance(error, openai.APIStatusError) and (error.status_code == 429 or error.status_code >= 500)


def describe_error(error: BaseException) -> str:
    """A short account of a failed request: its status and the server's own words, on one line."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(error, openai.APIConnectionError):
        return f"cannot connect ({error.__cause__ or error})"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {' '.join(str(error.message).split())[:300]}"
    return " ".join(f"{type(error).__name__}: {error}".split())[:300]


class Requester:
    """Sends requests with retries under a concurrency limit; one instance per batch of requests,
    since the async client belongs to the event loop it was made in."""

    def __init__(self, connection: Connection, sleep: Callable[[float], Awaitable] = asyncio.sleep):
        self.connection, self.sleep = connection, sleep
        self.retried = 0  # retries this requester made (for the metadata)

    async def run(self, calls: Sequence[Callable], concurrency: int | None = None) -> list:
        """Await ``call(client)`` for every call, at most ``concurrency`` at a time, in input order."""
        import openai

        c = self.connection
        limit = asyncio.Semaphore(max(1, concurrency or c.max_concurrency))
        # The client's own retries are off: tenacity retries here, honouring Retry-After.
        async with openai.AsyncOpenAI(
            base_url=c.base_url, api_key=c.api_key(), timeout=c.timeout, max_retries=0
        ) as client:

            async def one(call):
                async with limit:
                    return await self._with_retries(lambda: call(client))

            return await asyncio.gather(*(one(call) for call in calls))

    async def _with_retries(self, attempt: Callable[[], Awaitable]):
        from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_random_exponential

        backoff = wait_random_exponential(multiplier=0.5, max=30)

        def wait(state) -> float:
            asked = retry_after(state.outcome.exception())
            return min(asked, _MAX_WAIT) if asked is not None else backoff(state)

        def count(state) -> None:
            self.retried += 1

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.connection.retries),
            wait=wait,
            retry=retry_if_exception(retryable),
            before_sleep=count,
            sleep=self.sleep,
        )
        try:
            async for state in retrying:
                with state:
                    return await attempt()
        except RetryError as err:
            last = err.last_attempt.exception()
            raise ServedError(
                f"{self.connection.where()}: {describe_error(last)} (gave up after {self.connection.retries} attempts)"
            ) from None
        except Exception as err:
            if _is_openai(err):
                raise ServedError(f"{self.connection.where()}: {describe_error(err)}") from None
            raise


def _is_openai(error: BaseException) -> bool:
    import openai

    return isinstance(error, openai.OpenAIError)


def run_requests(connection: Connection, calls: Sequence[Callable], concurrency: int | None = None) -> tuple[list, int]:
    """The results of ``calls`` (each ``async call(client)``), and how many retries they took."""
    requester = Requester(connection)
    return asyncio.run(requester.run(calls, concurrency)), requester.retried
