"""The single `jq2qmt` entry point.

Each subcommand lives in its own module and is imported only when it is used, so a
slow or optional dependency of one command never slows down or breaks another.
"""

import importlib

import click

from jq2qmt import __version__

# command name -> "module:attribute" of a click command or group
COMMANDS = {
    "plan": "jq2qmt.cli.plan:plan",
    "follow": "jq2qmt.cli.follow:follow",
    "export": "jq2qmt.cli.export:export",
    "init": "jq2qmt.cli.init:init",
    "serve": "jq2qmt.cli.serve:serve",
    "db": "jq2qmt.cli.db:db",
    "keys": "jq2qmt.cli.keys:keys",
    "token": "jq2qmt.cli.token:token",
    "password": "jq2qmt.cli.password:password",
    "notify": "jq2qmt.cli.notify:notify",
    "import-original": "jq2qmt.cli.import_original:import_original",
    "demo": "jq2qmt.cli.demo:demo",
    "account": "jq2qmt.cli.account:account",
    "sessions": "jq2qmt.cli.sessions:sessions",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, cmd_name):
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jq2qmt")
def main():
    """jq2qmt：把聚宽策略持仓同步到 QMT 实盘账户。

    Mirror JoinQuant strategies onto QMT accounts. Run `jq2qmt COMMAND --help`
    for the options of each command.
    """
