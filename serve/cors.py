"""Cross-origin access for web pages on other origins (`build_app(cors=...)`).

The ingress answers CORS preflights itself (Starlette's `CORSMiddleware` around the app), so an
`OPTIONS` never reaches, let alone activates, an agent; other responses to an allowed origin carry
`Access-Control-Allow-Origin`, refusals by the gate included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection

from agents.errors import Rejected
from serve import gate
from serve.http import AGENT_METHODS


@dataclass(frozen=True)
class Cors:
    """Which origins may call the ingress from a browser, and with what."""

    #: Allowed origins, e.g. ["https://app.example.com"]; ["*"] allows any.
    origins: Sequence[str]
    methods: Sequence[str] = AGENT_METHODS
    #: Request headers a page may send besides Accept, Accept-Language, Content-Language and
    #: Content-Type (always allowed); "*": any.
    headers: Sequence[str] = ("Authorization",)
    #: Whether pages may send cookies and `Authorization` with `credentials: "include"`.
    credentials: bool = False
    #: Seconds a browser may cache a preflight's answer.
    max_age: int = 600

    @classmethod
    def of(cls, setting: Cors | Sequence[str] | None) -> Cors | None:
        """`build_app`'s `cors=`: settings, or just the allowed origins."""
        if setting is None or isinstance(setting, Cors):
            return setting
        return cls(origins=(setting,) if isinstance(setting, str) else tuple(setting))

    def __post_init__(self) -> None:
        if self.credentials and "*" in self.origins:
            raise ValueError(
                "cors: credentials=True needs the origins listed ('*' would let any site act as its users)"
            )

    def allows(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins

    def checked_sockets(self, hook: gate.Hook | None) -> gate.Hook:
        """`hook` behind an Origin check for WebSockets: browsers apply no CORS to them, so a page
        of an origin not allowed could otherwise open one with its user's cookies."""

        async def check(conn: HTTPConnection, agent_type: str, agent_id: str) -> gate.Verdict:
            origin = conn.headers.get("origin")
            if origin is not None and not self.allows(origin):
                raise Rejected(403, f"origin {origin} may not connect")
            return await gate.admit(hook, conn, agent_type, agent_id)

        return check

    def middleware(self) -> Middleware:
        return Middleware(
            CORSMiddleware,
            allow_origins=list(self.origins),
            allow_methods=list(self.methods),
            allow_headers=list(self.headers),
            allow_credentials=self.credentials,
            max_age=self.max_age,
        )
