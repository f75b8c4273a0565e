"""The HTTP server process ``storygate serve`` becomes once its start-up checks are done.

``cmd_serve`` loads the backends, probes the CPU, makes the demo account — work that imports
most of storygate — and then replaces itself (``exec``) with this module, which imports only
the settings and the ASGI server. granian's supervisor therefore stays small, and the server
processes it forks import the app once, themselves; nothing the checks loaded stays resident.
Settings arrive through the environment (``export_env``), command-line flags included.
"""

from __future__ import annotations

import sys

from gateway.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"storygate: error: {exc}", file=sys.stderr)
        return 2
    if settings.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "gateway.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
            lifespan="on",
        )
        return 0
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "gateway.app:app_from_env",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        backlog=2048,
        log_access=False,
    ).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
