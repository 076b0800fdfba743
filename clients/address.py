"""Where the server is: its base URL and WebSocket from `--url` or the config's `[server]`."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from server.config import Config

WILDCARDS = ("", "0.0.0.0", "::", "[::]")


def base_url(config: Config | None, override: str | None = None) -> str:
    """The server's HTTP base URL: `--url`, else `public_url`, else `[server] host:port`.

    A wildcard listen address (`0.0.0.0`, `::`) is dialled as the local host.
    """
    if override:
        return _http(override)
    if config is None:
        return "http://127.0.0.1:8080"
    if config.server.public_url:
        return config.server.public_url.rstrip("/")
    host = config.server.host
    host = "127.0.0.1" if host in WILDCARDS else host
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{host}:{config.server.port}"


def ws_url(config: Config | None, override: str | None = None) -> str:
    """The server's WebSocket endpoint (`/ws` on the base URL, `ws:` or `wss:`)."""
    if override and urlsplit(override).scheme in ("ws", "wss"):
        return override
    parts = urlsplit(base_url(config, override))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


def _http(url: str) -> str:
    """A `--url` as an HTTP base: `ws://h:p/ws` becomes `http://h:p`."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/").removesuffix("/ws") if parts.scheme in ("ws", "wss") \
        else parts.path.rstrip("/")
    return urlunsplit((scheme, parts.netloc, path, "", ""))
