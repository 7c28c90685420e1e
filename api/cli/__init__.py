"""The `fieldsurvey` command line (click): one module per area, each a thin surface that
parses its options, calls one service function and prints the result.

Adding a command or a group: write a module `api/cli/NAME.py` that defines its click
commands or groups and lists them in `COMMANDS`, e.g.

    import click

    from api.cli._common import cli_connection, fail_on_problem, run, settings_from_env

    @click.group(help="attachment files")
    def attachments() -> None: ...

    @attachments.command(help="move the attachment files to another store")
    @click.option("--to", required=True)
    def move(to: str) -> None:
        settings = settings_from_env()
        run(_move(settings, to))   # an async def that opens cli_connection and calls a service

    COMMANDS = (attachments,)

Every module of this package whose name does not begin with `_` is loaded and its COMMANDS
are added to `fieldsurvey`; nothing else needs editing. Import heavy things (the app,
uvicorn, exporters) inside the command, so `fieldsurvey --help` stays fast. A failure prints
to stderr and exits 1 (`fail_on_problem` does so for a catalogue Problem); wrong usage exits
2 (click). docs/cli.md is generated from these commands (cog) and tests/unit/test_docs.py
fails until a new command is documented there: run `make docs`.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from api import __version__


@click.group(
    name="fieldsurvey",
    help="The fieldsurvey command line.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
# the release in the code itself (api.__version__), so a checkout and its wheel agree
@click.version_option(version=__version__, prog_name="fieldsurvey",
                      message="%(prog)s %(version)s")
def main() -> None:
    pass


def _add_command_modules() -> None:
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for command in module.COMMANDS:
            main.add_command(command)


_add_command_modules()
