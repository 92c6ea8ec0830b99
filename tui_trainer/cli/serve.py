"""`tui-trainer serve`: the app in a browser, through textual-serve, behind a token.

textual-serve starts one app process per browser connection (its websocket) and ends it when the
tab closes, so the served app starts runs as detached work (training/detached_run.py) and only
attaches to them. The app can start, stop and delete runs, so the page and the websocket both
need the token printed at start: in the URL once, then in a cookie the websocket request carries
(textual-serve's page builds the websocket URL itself, with no room for a query of ours).
"""
from __future__ import annotations

import argparse
import hmac
import secrets
import shlex
import sys
from pathlib import Path

from .. import locations
from ..ports import bind_problem
from .common import EXIT_FAILED, UsageError, data_options, runs_option

LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "tui_trainer_token"
MIN_TOKEN = 16  # below it, --token gets a warning: the random one is 24 characters


def app_command(data: str, runs: Path, device: str, preset: str | None = None) -> str:
    """The command each browser connection runs: this app, with runs detached from its process."""
    args = [sys.executable, "-m", "tui_trainer", "--data", data, "--runs", str(Path(runs).resolve()),
            "--device", device, "--detach-runs", "--no-bell"] + (["--preset", preset] if preset else [])
    return shlex.join(args)


def make_server(command: str, host: str, port: int, token: str):  # noqa: ANN201 - a textual_serve Server
    from aiohttp import web
    from textual_serve.server import Server

    def allowed(request: web.Request) -> tuple[bool, bool]:
        """(token right, came in the URL)."""
        given = request.query.get("token")
        if given is not None:
            return hmac.compare_digest(given, token), True
        return hmac.compare_digest(request.cookies.get(COOKIE, ""), token), False

    @web.middleware
    async def check_token(request: web.Request, handler):  # noqa: ANN001, ANN202
        if request.path.startswith("/static/"):
            return await handler(request)  # the page's scripts and fonts: nothing of ours
        ok, in_url = allowed(request)
        if not ok:
            return web.Response(status=403, text="tui-trainer: this needs the token that `tui-trainer serve` "
                                                 "printed: open the URL it printed (…/?token=…)\n")
        response = await handler(request)
        if in_url and request.path == "/":
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    class TokenServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(check_token)
            return app

    return TokenServer(command, host=host, port=port, title="tui-trainer")


def serve(*, host: str, port: int, data: str, runs: Path, device: str, token: str | None = None,
          preset: str | None = None) -> int:
    token = token or secrets.token_urlsafe(18)
    if len(token) < MIN_TOKEN:
        print(f"tui-trainer serve: WARNING: a {len(token)}-character --token is easy to guess; whoever guesses it can "
              f"start, stop and delete runs. Leave --token out for a random one, or give {MIN_TOKEN} characters or more.",
              file=sys.stderr)
    if host not in LOOPBACK:
        print(f"tui-trainer serve: WARNING: serving on {host}, not only this machine: whoever reaches it with the "
              f"token can start, stop and delete runs. Prefer an SSH tunnel to 127.0.0.1.", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    print(f"tui-trainer: the app is at http://{shown}:{port}/?token={token}", flush=True)
    print("  (Ctrl-C stops the server; runs started from the browser go on training)", flush=True)
    make_server(app_command(data, runs, device, preset), host, port, token).serve()
    return 0


def add_parser(sub) -> None:  # noqa: ANN001 - the subparsers
    sv = sub.add_parser("serve", help="serve the app to a web browser (textual-serve), behind a token")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument("--token", help="the URL's token (default: a new random one)")
    sv.add_argument("--preset", help="the app opens with this preset (name or .toml file) loaded")
    data_options(sv)
    runs_option(sv)
    sv.set_defaults(run=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"tui-trainer serve: --port {args.port} is invalid: expected 1 to 65535")
    import importlib.util

    if importlib.util.find_spec("textual_serve") is None:
        print("tui-trainer serve: textual-serve is not installed: pip install 'tui-trainer[serve]'", file=sys.stderr)
        return EXIT_FAILED
    if problem := bind_problem(args.port, args.host):
        raise UsageError(f"tui-trainer serve: --port {args.port} on {args.host}: {problem}; choose another --port")
    return serve(host=args.host, port=args.port, data=args.data or locations.default_data(), runs=args.runs,
                 device=args.device, token=args.token, preset=args.preset)
