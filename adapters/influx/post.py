"""One POST of a line-protocol body to the write endpoint, and the one-shot `write_points` helper."""

from __future__ import annotations

import gzip
from collections.abc import Sequence

import aiohttp

from adapters.influx.response import Outcome, Response, classify, error_text
from adapters.influx.settings import Endpoint, InfluxSettings

__all__ = ["WriteError", "compress", "encode_body", "post_body", "write_points"]

MAX_ERROR_BODY = 64 * 1024
"""At most this much of an error response is read."""

GZIP_LEVEL = 1
"""Level 1 compresses journaled line protocol ~11x (bench/influx_write.py) at a fraction of level 9's CPU."""


class WriteError(Exception):
    """A one-shot write the server did not accept (status 0: no response)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"InfluxDB write failed: HTTP {response.status}: {response.text}")
        self.response = response


def compress(raw: bytes, use_gzip: bool) -> bytes:
    """The request body from UTF-8 line protocol: gzip-compressed when asked."""
    return gzip.compress(raw, compresslevel=GZIP_LEVEL) if use_gzip else raw


def encode_body(text: str, use_gzip: bool) -> bytes:
    """The request body from line-protocol text."""
    return compress(text.encode("utf-8"), use_gzip)


async def post_body(
    session: aiohttp.ClientSession, endpoint: Endpoint, body: bytes, use_gzip: bool, request_timeout: float
) -> Response:
    """POST one body; a connection error or timeout comes back as status 0 with its description."""
    headers = {**endpoint.headers, "Content-Type": "text/plain; charset=utf-8"}
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    try:
        async with session.post(
            endpoint.url,
            params=endpoint.params,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=request_timeout),
            allow_redirects=False,
        ) as resp:
            text = "" if resp.status == 204 else await _read_text(resp)
            return Response(resp.status, text, resp.headers.get("Retry-After"))
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        return Response(0, f"{type(err).__name__}: {err}"[:1000])


async def _read_text(resp: aiohttp.ClientResponse) -> str:
    """The server's error message from a bounded read of the body."""
    raw = await resp.content.read(MAX_ERROR_BODY)
    return error_text(raw.decode("utf-8", errors="replace"))


async def write_points(
    settings: InfluxSettings, lines: Sequence[str], session: aiohttp.ClientSession | None = None
) -> None:
    """Write lines once, in batches of `batch_size`, without retries (for best-effort metrics); raise WriteError."""
    endpoint = settings.endpoint()
    own = session is None
    client = aiohttp.ClientSession() if session is None else session
    try:
        for start in range(0, len(lines), settings.batch_size):
            body = encode_body("\n".join(lines[start : start + settings.batch_size]), settings.gzip)
            response = await post_body(client, endpoint, body, settings.gzip, settings.timeout)
            if classify(response) is not Outcome.LANDED:
                raise WriteError(response)
    finally:
        if own:
            await client.close()
