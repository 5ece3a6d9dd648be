"""The InfluxDB output's settings and the write endpoint they describe (v1 `/write` or v2 `/api/v2/write`)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal

from yarl import URL

__all__ = ["Endpoint", "InfluxSettings"]

MAX_BATCH_SIZE = 100_000
"""A batch larger than this makes request bodies of tens of MB that servers refuse (413)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to POST a line-protocol body: URL, query parameters and headers."""

    url: URL
    params: dict[str, str]
    headers: dict[str, str] = field(repr=False)

    def describe(self) -> str:
        """The URL with its query, for logs: it carries no secret (credentials travel in headers)."""
        return str(self.url.with_query(self.params))


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """How to reach one InfluxDB (v2 API: org/bucket/token; v1 API: db/rp/username/password) and how to batch.

    Times are in seconds. `token` and `password` never appear in repr, logs or errors.
    """

    version: Literal[1, 2] = 2
    url: str = "http://127.0.0.1:8086"
    org: str = ""
    bucket: str = ""
    token: str = field(default="", repr=False)
    db: str = ""
    retention_policy: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    batch_size: int = 5000
    flush_interval: float = 1.0
    gzip: bool = True
    timeout: float = 10.0
    max_retry_delay: float = 30.0
    retry_delay: float = 0.5
    """The first retry's delay (at most `max_retry_delay`); each retry doubles it, up to `max_retry_delay`."""

    def __post_init__(self) -> None:
        problems = [*self._url_problems(), *self._target_problems(), *self._batch_problems()]
        if problems:
            raise ValueError("influx settings: " + "; ".join(problems))

    def _url_problems(self) -> list[str]:
        """Problems with `url`: scheme, host, embedded credentials."""
        try:
            url = URL(self.url)
        except ValueError as err:
            return [f"url: not a URL ({err})"]
        problems = []
        if url.scheme not in {"http", "https"} or not url.host:
            problems.append("url: must be http:// or https:// with a host, e.g. http://127.0.0.1:8086")
        if url.user or url.password:
            problems.append("url: must not embed credentials; use username/password or token")
        if url.query_string:
            problems.append("url: must not carry a query; use org/bucket or db/retention_policy")
        return problems

    def _target_problems(self) -> list[str]:
        """Problems with the API version and what it needs (org/bucket for v2, db for v1)."""
        if self.version not in {1, 2}:
            return [f"version: must be 1 or 2, not {self.version!r}"]
        if self.version == 2:
            missing = [name for name in ("org", "bucket") if not getattr(self, name)]
            return [f"{name}: required with version 2" for name in missing]
        problems = [] if self.db else ["db: required with version 1"]
        if self.password and not self.username:
            problems.append("password: given without username")
        return problems

    def _batch_problems(self) -> list[str]:
        """Problems with batching, timeouts and retry delays."""
        problems = []
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            problems.append(f"batch_size: must be 1..{MAX_BATCH_SIZE}, not {self.batch_size}")
        if self.flush_interval < 0:
            problems.append("flush_interval: must be >= 0 seconds")
        if self.timeout <= 0:
            problems.append("timeout: must be > 0 seconds")
        if self.retry_delay <= 0:
            problems.append("retry_delay: must be > 0 seconds")
        if self.max_retry_delay <= 0:
            problems.append("max_retry_delay: must be > 0 seconds")
        return problems

    def endpoint(self) -> Endpoint:
        """The write endpoint: URL, query and auth header for this API version, precision ns."""
        base = URL(self.url)
        root = base.path.rstrip("/")
        if self.version == 2:
            params = {"org": self.org, "bucket": self.bucket, "precision": "ns"}
            headers = {"Authorization": f"Token {self.token}"} if self.token else {}
            return Endpoint(base.with_path(f"{root}/api/v2/write"), params, headers)
        params = {"db": self.db, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        headers = {}
        if self.username:
            raw = f"{self.username}:{self.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        return Endpoint(base.with_path(f"{root}/write"), params, headers)
