"""``mailgate team``: the teams of a workspace (team-bound mail servers need one)."""

from __future__ import annotations

from typing import Annotated

import typer

from mailgate.cli.common import clean_errors, console, open_app

app = typer.Typer(no_args_is_help=True, help="Teams of a workspace (own team mail servers).")
Workspace = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]


@app.command("create")
@clean_errors
def create(name: str, workspace: Workspace) -> None:
    """Create a team; its id goes into a transport's or an address's ``team``."""
    from mailgate.services import teams, tenancy
    from mailgate.store.db import transaction

    mg = open_app()
    with transaction(mg.sessions) as session:
        ws = tenancy.workspace_by_name(session, workspace)
        team = teams.create(session, ws.id, name)
        console.print(team.id)


@app.command("list")
@clean_errors
def listing(workspace: Workspace) -> None:
    """The workspace's teams, with what belongs to each."""
    from rich.table import Table

    from mailgate.services import teams, tenancy

    mg = open_app()
    table = Table("id", "name", "mail servers", "addresses", "conversations")
    with mg.sessions() as session:
        ws = tenancy.workspace_by_name(session, workspace)
        for team in teams.listing(session, ws.id):
            row = teams.public(session, team)
            table.add_row(
                row["id"],
                row["name"],
                str(row["transports"]),
                str(row["addresses"]),
                str(row["conversations"]),
            )
    console.print(table)


@app.command("delete")
@clean_errors
def delete(team_id: str, workspace: Workspace) -> None:
    """Delete a team (refused while it still has mail servers)."""
    from mailgate.services import teams, tenancy
    from mailgate.store.db import transaction

    mg = open_app()
    with transaction(mg.sessions) as session:
        ws = tenancy.workspace_by_name(session, workspace)
        teams.delete(session, ws.id, team_id)
    console.print(f"deleted {team_id}")
