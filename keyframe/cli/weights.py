"""``keyframe weights add | list``: install the torch hub weights keyframe uses from files you bring."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from keyframe.assets import ASSETS, add_weights, installed_weights
from keyframe.cli.app import EXIT_OK, JsonOption, app, info, print_json, console

weights_app = typer.Typer(
    no_args_is_help=True,
    help=f"Weights from files you bring (nothing is downloaded): {', '.join(f'{a.name} ({a.filename})' for a in ASSETS.values())}.",
)
app.add_typer(weights_app, name="weights")


@weights_app.command("add")
def weights_add(
    name: Annotated[str, typer.Argument(help=f"Which weights: {' | '.join(ASSETS)}.")],
    file: Annotated[Path, typer.Argument(help="The file you brought, e.g. alexnet-owt-7be5be79.pth.")],
) -> int:
    """Verify FILE by the SHA-256 prefix in torchvision's file name and copy it into $TORCH_HOME/hub/checkpoints/."""
    installed = add_weights(name, file)
    info(f"{name}: verified and installed at {installed}")
    return EXIT_OK


@weights_app.command("list")
def weights_list(as_json: JsonOption = False) -> int:
    """Show each weights file keyframe can use, where it goes and whether it is installed."""
    rows = installed_weights()
    if as_json:
        print_json(rows)
        return EXIT_OK
    table = Table()
    for column in ("name", "for", "installed", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = "[green]yes[/]" if row["verified"] else "[red]wrong file[/]" if row["installed"] else "no"
        table.add_row(row["name"], row["purpose"], state, row["path"])
    console().print(table)
    return EXIT_OK
