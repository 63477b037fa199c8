"""The ``localrouter`` command line: argument parsing only; each command lives in ``commands/``.

Imports are lazy: ``localrouter validate`` must not pay for the server's imports.
Exit codes: 0 ok, 1 a check failed, 2 usage (bad arguments, missing config). Every argument has
a ``help=`` (``tests/test_cli_basics.py`` walks the parser); ``python -m localrouter`` runs this.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMANDS = {
    "serve": "localrouter.commands.serve",
    "validate": "localrouter.commands.validate",
    "check": "localrouter.commands.validate",
    "explain": "localrouter.commands.explain",
    "diff": "localrouter.commands.diff",
    "schema": "localrouter.commands.schema",
    "init": "localrouter.commands.init",
    "migrate": "localrouter.commands.migrate",
    "keys": "localrouter.commands.keys",
    "secrets": "localrouter.commands.secrets_cmd",
    "stats": "localrouter.commands.stats",
    "models": "localrouter.commands.models",
    "mcp": "localrouter.commands.mcp_cmd",
}

FORMAT_HELP = "output format (default: text)"
CLIENT_HELP = "the client's name, as under `clients:` in the config"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help="config file or directory")
    p = argparse.ArgumentParser(
        prog="localrouter",
        description="LocalRouter: a local LLM gateway compiled from YAML.",
    )
    from localrouter import __version__

    p.add_argument(
        "--version",
        action="version",
        version=f"localrouter {__version__}",
        help="print the version",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", help="what to do")
    sub.required = True

    sv = sub.add_parser("serve", parents=[common], help="run the gateway")
    sv.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="listen port (default: server.port, 3625)")
    sv.add_argument(
        "--http-server",
        choices=("hypercorn", "uvicorn", "granian"),  # server/http_servers.py: HTTP_SERVERS
        help="the HTTP server under the gateway (default: server.http_server)",
    )
    sv.add_argument("--no-watch", action="store_true", help="do not reload on config changes")

    v = sub.add_parser("validate", parents=[common], help="compile the config and run its tests")
    v.add_argument("path", nargs="?", metavar="PATH", help="config file or directory")
    v.add_argument(
        "--format",
        choices=["text", "concise", "json", "github"],
        default="text",
        help="text (with source excerpts), concise (a line each), json, or github (Actions "
        "annotations); default text",
    )
    v.add_argument("--strict", action="store_true", help="treat warnings as errors")
    v.add_argument(
        "--resolve-secrets",
        action="store_true",
        help="also resolve every ${env:…}/${keyring:…} reference (values are never printed)",
    )

    c = sub.add_parser("check", parents=[common], help="run only the config's routing tests")
    c.add_argument("path", nargs="?", metavar="PATH", help="config file or directory")
    c.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)

    e = sub.add_parser("explain", parents=[common], help="show a routing decision, dry")
    e.add_argument("--client", required=True, help=CLIENT_HELP + " (who sends the request)")
    e.add_argument("--model", help="the request's model (default: auto)")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--prompt", help="a user message to estimate the request's facts from")
    g.add_argument("--request", metavar="FILE.json", help="an OpenAI request body")
    e.add_argument(
        "--now",
        metavar="TIME",
        help="evaluate `now` at this local time (ISO 8601, e.g. 2026-11-23T23:30) instead of now",
    )
    e.add_argument(
        "--no-state",
        action="store_true",
        help="ignore the runtime state saved in state_dir (breakers, health, limits, latency)",
    )
    e.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)

    d = sub.add_parser("diff", parents=[common], help="compare the tables of two configs")
    d.add_argument("old", help="the config before (file or directory)")
    d.add_argument("new", help="the config after (file or directory)")
    d.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    d.add_argument(
        "--replay",
        metavar="ACCESS_LOG",
        help="route the request facts recorded in an access log (file or directory) through "
        "both tables and count the decisions that differ",
    )

    sub.add_parser("schema", parents=[common], help="print the config's JSON Schema")

    i = sub.add_parser("init", parents=[common], help="write a commented starter config")
    i.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="where to write it (default: $LOCALROUTER_CONFIG, else the user config directory, "
        "where the config lookup finds it: ~/.localrouter/routers.yaml on Linux)",
    )
    i.add_argument("--force", action="store_true", help="overwrite an existing file")

    m = sub.add_parser("migrate", parents=[common], help="rewrite a version-1 config as version 2")
    m.add_argument("path", nargs="?", help="the version-1 config (default: --config)")
    m.add_argument("-o", "--output", help="write here ('-' for stdout) instead of in place")

    k = sub.add_parser("keys", parents=[common], help="manage client API keys in the config")
    ks = k.add_subparsers(dest="keys_command", metavar="ACTION", help="what to do")
    ks.required = True
    kc = ks.add_parser("create", parents=[common], help="add a client with a new key")
    kc.add_argument("client", help="the new client's name")
    kc.add_argument("--strategy", help="the client's strategy (default: the only one)")
    kc.add_argument("--model", help="a fixed model (provider/model) instead of a strategy")
    kc.add_argument("--file", help="in a config directory: the file to edit")
    for action, text in (
        ("rotate", "give a client a new key"),
        ("disable", "refuse a client's key (enabled: false)"),
        ("enable", "accept a disabled client's key again"),
        ("delete", "remove a client"),
    ):
        ka = ks.add_parser(action, parents=[common], help=text)
        ka.add_argument("client", help=CLIENT_HELP)
        ka.add_argument("--file", help="in a config directory: the file to edit")
    kl = ks.add_parser("list", parents=[common], help="list clients (never a hash)")
    kl.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)

    se = sub.add_parser("secrets", parents=[common], help="provider secrets in the keychain")
    ses = se.add_subparsers(dest="secrets_command", metavar="ACTION", help="what to do")
    ses.required = True
    ss = ses.add_parser("set", parents=[common], help="store a secret (prompted, or from stdin)")
    ss.add_argument("name", help="the secret's name, as in ${keyring:NAME}")
    ses.add_parser("list", parents=[common], help="names and where each lives, never values")
    sd = ses.add_parser("delete", parents=[common], help="remove a secret")
    sd.add_argument("name", help="the secret's name, as in ${keyring:NAME}")
    st = sub.add_parser("stats", parents=[common], help="usage, cost and latency from the logs")
    st.add_argument("--since", default="24h", help="how far back: 30m, 24h, 7d … (default 24h)")
    st.add_argument("--by", choices=["client", "provider", "model"], help="one row per name")
    st.add_argument("--logs", metavar="DIR", help="read this log directory, not the config's")
    st.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)

    mo = sub.add_parser(
        "models", parents=[common], help="the model catalog: price, context, capabilities, health"
    )
    mo.add_argument("--client", help="only the models this client may use")
    mo.add_argument(
        "--live",
        action="store_true",
        help="health from the running gateway's /health (server.host:port), not from state_dir",
    )
    mo.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)

    mc = sub.add_parser("mcp", parents=[common], help="the MCP gateway: tools clients see")
    mcs = mc.add_subparsers(dest="mcp_command", metavar="ACTION", help="what to do")
    mcs.required = True
    mt = mcs.add_parser(
        "tools", parents=[common], help="the MCP tools a client would see behind /mcp (dry)"
    )
    mt.add_argument("--client", help=CLIENT_HELP + " (default: every client)")
    mt.add_argument(
        "--live",
        action="store_true",
        help="ask the upstream servers for their tools (starts stdio servers) instead of "
        "reading the gateway's cache in state_dir",
    )
    mt.add_argument("--format", choices=["text", "json"], default="text", help=FORMAT_HELP)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    code: int = module.run(args)
    return code


def entry() -> None:
    """The console script: ``main()``; a reader that stops early (``| head``) ends it quietly."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's own advice: point stdout at devnull so the flush at exit cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
