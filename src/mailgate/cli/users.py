"""``mailgate user``: console accounts (operators, workspace admins and agents)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailgate.cli.common import clean_errors, console, err, open_app

app = typer.Typer(no_args_is_help=True, help="Console users (sign in at http://127.0.0.1:8025/).")


@app.command("create")
@clean_errors
def create(
    email: Annotated[str, typer.Option("--email", help="The address the user signs in with.")],
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator: the installation, every workspace.")
    ] = False,
    workspace_name: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Workspace name (admins, agents).")
    ] = None,
    role: Annotated[str, typer.Option("--role", help="admin or agent (with --workspace).")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    language: Annotated[str | None, typer.Option(help="zh_CN or en (else the browser's).")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone, e.g. Asia/Shanghai.")] = None,
) -> None:
    """Create a console user; the password is prompted for, or read with --password-stdin."""
    from mailgate.services import tenancy, users
    from mailgate.store.db import transaction

    if operator == (workspace_name is not None):
        err.print("[red]error:[/red] give either --operator or --workspace NAME --role admin|agent")
        raise typer.Exit(2)
    if operator and role not in ("", "operator"):
        err.print("[red]error (role):[/red] an operator has no --role")
        raise typer.Exit(2)
    if not operator and role not in ("admin", "agent"):
        err.print("[red]error (role):[/red] --role must be admin or agent")
        raise typer.Exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    mg = open_app()
    try:
        with transaction(mg.sessions) as session:
            ws_id = (
                None if operator else tenancy.workspace_by_name(session, workspace_name or "").id
            )
            user = users.create_user(
                session,
                email,
                password,
                "operator" if operator else role,
                ws_id,
                language=language,
                timezone=timezone,
            )
            label = "operator" if operator else f"{role} of {workspace_name}"
            console.print(f"user [bold]{user.email}[/bold] ({label}) created")
    finally:
        mg.dispose()


@app.command("list")
@clean_errors
def list_(
    workspace_name: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this workspace's users.")
    ] = None,
) -> None:
    """Console users: e-mail, role, workspace (never a password hash)."""
    from rich.table import Table

    from mailgate.services import tenancy, users

    mg = open_app()
    try:
        table = Table("id", "email", "role", "workspace", "language", "time zone", "disabled")
        with mg.sessions() as session:
            ws = tenancy.workspace_by_name(session, workspace_name) if workspace_name else None
            ws_id = ws.id if ws else None
            names = {w.id: w.name for w in tenancy.list_workspaces(session)}
            for u in users.list_users(session, ws_id):
                table.add_row(
                    u.id,
                    u.email,
                    u.role,
                    names.get(u.workspace_id or "", ""),
                    u.language or "",
                    u.timezone or "",
                    u.disabled_at.strftime("%Y-%m-%d %H:%M") if u.disabled_at else "",
                )
        console.print(table)
    finally:
        mg.dispose()


@app.command("disable")
@clean_errors
def disable(
    email: Annotated[str, typer.Option("--email", help="The user's sign-in address.")],
) -> None:
    """Sign a user out for good (their sessions end); their conversations become unassigned."""
    from mailgate.services import users
    from mailgate.store.db import transaction

    mg = open_app()
    try:
        with transaction(mg.sessions) as session:
            user = users.disable_user(session, None, users.user_by_email(session, email).id)
            console.print(f"user [bold]{user.email}[/bold] disabled")
    finally:
        mg.dispose()
