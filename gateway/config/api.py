"""The `api` section of edge.yaml: the gateway's HTTP API (health, readiness, metrics, status, back-channel)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from gateway.config.base import ExistingFile, FieldError, Section, http_url
from gateway.config.secret import Secret


class ApiConfig(Section):
    """HTTP API: /healthz and /readyz for supervisors, the rest behind a bearer token."""

    host: str = Field(default="127.0.0.1", description="Address to bind; 127.0.0.1 keeps it on the box.")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port (0 = any free port).")
    token: Secret | None = Field(
        default=None,
        description='Bearer token for everything beyond health ("env:NAME"/"file:PATH"); absent = health only.',
    )
    public_url: str | None = Field(
        default=None,
        description="The address the dispatch platform reaches this API at, e.g. https://edge-07.city.example:8443; "
        "makes the clip URLs in incident evidence absolute (relative paths when absent).",
    )
    tls_cert: ExistingFile | None = Field(default=None, description="PEM certificate to serve HTTPS.")
    tls_key: ExistingFile | None = Field(default=None, description="PEM private key of tls_cert.")

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        """An http(s) base URL without credentials, query or fragment; no trailing slash."""
        if value is None:
            return None
        parts = urlsplit(http_url(value))
        if parts.query or parts.fragment:
            raise ValueError("must be a base URL without ?query or #fragment, e.g. https://edge-07.example:8443")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        """A certificate needs its key and the other way round."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise FieldError("tls_cert", "tls_cert and tls_key go together; set both or neither")
        return self
