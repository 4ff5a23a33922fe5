"""The ``mailgate`` command.

Heavy modules (SQLAlchemy, the runtime, transports, FastAPI) are imported inside the
commands that use them, never here: ``mailgate parse`` must start in a fraction of a
second (tests/test_cli_startup.py checks what importing this module loads).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mailgate.cli import backup as backup_cli
from mailgate.cli import listen as listen_cli
from mailgate.cli.campaigns import app as campaigns_cli
from mailgate.cli.common import (
    clean_errors,
    console,
    err,
    open_app,
    prepare_app,
    transaction,
)
from mailgate.cli.teams import app as teams_cli
from mailgate.cli.users import app as user_cli
from mailgate.errors import ConfigurationError

if TYPE_CHECKING:
    import asyncio

app = typer.Typer(no_args_is_help=True, help="mailgate: a self-hosted email gateway.")
apikey = typer.Typer(no_args_is_help=True, help="API keys (scoped to a workspace).")
transport = typer.Typer(no_args_is_help=True, help="Mail servers (transports).")
workspace = typer.Typer(no_args_is_help=True, help="Workspaces (tenants).")
app.add_typer(apikey, name="apikey")
app.add_typer(transport, name="transport")
app.add_typer(workspace, name="workspace")
secrets_cli = typer.Typer(no_args_is_help=True, help="Stored secrets and MAILGATE_SECRET_KEY.")
app.add_typer(secrets_cli, name="secrets")
app.command("backup")(backup_cli.backup)  # cli/backup.py
app.add_typer(user_cli, name="user")  # console users (cli/users.py)
app.add_typer(campaigns_cli, name="campaign")  # bulk campaigns (cli/campaigns.py)
app.add_typer(teams_cli, name="team")  # teams (cli/teams.py)
app.command("listen")(listen_cli.listen)  # the listener alone (cli/listen.py)

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]


@app.command()
@clean_errors
def init(
    workspace_name: Annotated[
        str, typer.Option("--workspace", help="First workspace.")
    ] = "default",
) -> None:
    """Create the data directory, key and schema, and a first workspace (capture transport)."""
    from mailgate.services import tenancy
    from mailgate.services import transports as tsvc

    mg = prepare_app()
    with transaction(mg.sessions) as session:
        ws = tenancy.ensure_workspace(session, workspace_name)
        if not tsvc.visible(session, ws.id):
            tsvc.create(
                session,
                mg.secrets,
                ws.id,
                {
                    "name": "capture",
                    "kind": "capture",
                    "default": True,
                    "mode": "immediate",
                    "sender": f"noreply@{mg.settings.hostname}.localdomain"
                    if "." not in mg.settings.hostname
                    else f"noreply@{mg.settings.hostname}",
                },
            )
    console.print(f"data directory: [bold]{mg.settings.data_dir}[/bold]")
    console.print(f"workspace: [bold]{ws.name}[/bold] (a capture transport is its default)")
    mg.dispose()


@app.command()
@clean_errors
def serve(
    workers: Annotated[bool, typer.Option(help="Run delivery workers in this process.")] = True,
    smtp: Annotated[bool, typer.Option(help="Run the SMTP/LMTP listener (MAILGATE_SMTP).")] = True,
) -> None:
    """Run the HTTP API and console, with delivery workers, in one process."""
    import asyncio

    import uvicorn

    from mailgate.api.app import create_app
    from mailgate.api.ops import listener_started, listener_starting
    from mailgate.cli.graceful import GracefulServer
    from mailgate.runtime.process import prepare as prepare_process
    from mailgate.runtime.worker import Worker
    from mailgate.web.app import install as install_console

    mg = open_app()
    host, port = mg.settings.http
    api = create_app(mg)
    install_console(api, mg)  # the console beside /v1 (web/app.py)
    server = GracefulServer(  # stops on SIGTERM, then the listener, worker and store
        uvicorn.Config(api, host=host, port=port, log_level="warning", lifespan="off")
    )
    prepare_process(mg.settings, answers_metrics=True)  # JSON logs, metrics dir (after uvicorn's)

    try:
        http_socket = socket.create_server((host, port))
    except OSError as e:
        raise ConfigurationError(
            "MAILGATE_HTTP", f"cannot listen on {host}:{port}: {e.strerror}"
        ) from None

    async def main() -> None:
        stop = asyncio.Event()
        listener = None
        listeners = None  # more listener processes on the port (runtime/listeners.py)
        if smtp:
            from mailgate.runtime.listeners import ListenerProcesses, open_listener

            listener_starting(api)  # /readyz answers 503 until it is up
            more = mg.settings.listener_processes - 1  # MAILGATE_LISTENER_PROCESSES
            listener = await open_listener(mg, reuse_port=more > 0)
            if more:
                listeners = ListenerProcesses(more, listener.host, listener.port)
                listeners.start()
                supervisor = asyncio.create_task(listeners.supervise())
            listener_started(api)
            protocol = "LMTP" if mg.settings.smtp_lmtp else "SMTP"
            console.print(
                f"{protocol} on [bold]{listener.host}:{listener.port}[/bold] "
                f"({mg.settings.listener_processes} processes)"
            )
        tasks = [asyncio.create_task(server.serve(sockets=[http_socket]))]
        helpers = None  # more delivery workers in their own processes (runtime/children.py)
        if workers:
            tasks.append(asyncio.create_task(Worker(mg).run(stop)))
            if mg.settings.worker_processes:  # MAILGATE_WORKER_PROCESSES
                from mailgate.runtime.children import ChildProcesses

                helpers = ChildProcesses("worker", mg.settings.worker_processes)
                helpers.start()
                tasks.append(asyncio.create_task(helpers.supervise()))
        console.print(f"mailgate listening on [bold]http://{host}:{port}[/bold]")
        console.print("get an API key: [bold]mailgate apikey create --workspace default[/bold]")
        console.print(  # the console (web/): its first user comes from the CLI
            f"console: sign in at [bold]http://{host}:{port}/[/bold] (first user: "
            "[bold]mailgate user create --email you@example.com --operator[/bold])"
        )
        await tasks[0]  # uvicorn handles SIGINT/SIGTERM and returns
        if listener is not None:
            await listener.stop()
        if listeners is not None:
            supervisor.cancel()
            await asyncio.to_thread(listeners.stop)
        if helpers is not None:
            await asyncio.to_thread(helpers.stop)  # each commits what it delivered
        stop.set()
        await asyncio.gather(*tasks[1:])
        await mg.aclose()

    asyncio.run(main())
    mg.dispose()


async def _stop_with_parent(parent: int, stop: asyncio.Event) -> None:
    """A worker started by ``serve`` stops when that serve is gone (SIGKILL)."""
    import asyncio

    from mailgate.runtime.children import parent_gone

    while not stop.is_set():
        await asyncio.sleep(1.0)
        if parent_gone(parent):
            stop.set()


@app.command()
@clean_errors
def worker(
    once: Annotated[bool, typer.Option(help="Deliver what is due now, then exit.")] = False,
    lanes: Annotated[int, typer.Option(help="Batches in flight at once.")] = 3,
    parent: Annotated[
        int | None, typer.Option(hidden=True, help="The serve that started it; stop with it.")
    ] = None,
) -> None:
    """Run delivery workers only (more processes or machines sharing PostgreSQL)."""
    import asyncio

    from mailgate.runtime.process import prepare as prepare_process
    from mailgate.runtime.worker import Worker

    mg = open_app()
    prepare_process(mg.settings, answers_metrics=False)  # JSON logs, metrics beside serve's

    async def main() -> None:
        w = Worker(mg, lanes=lanes)
        if once:
            await w.drain()
        else:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            watch = None if parent is None else asyncio.create_task(_stop_with_parent(parent, stop))
            if watch is None:
                err.print(f"worker {w.owner} running; Ctrl-C stops it")
            await w.run(stop)
            if watch is not None:
                watch.cancel()
        await mg.aclose()

    asyncio.run(main())
    mg.dispose()


@workspace.command("create")
@clean_errors
def workspace_create(
    name: str,
    domain: Annotated[
        list[str] | None,
        typer.Option("--domain", "-d", help="Receiving domain to assign (repeatable)."),
    ] = None,
) -> None:
    """Create a workspace, with the receiving domains it alone receives mail for."""
    from mailgate.services import receiving_domains, tenancy

    mg = open_app()
    with transaction(mg.sessions) as session:
        ws = tenancy.create_workspace(session, name)
        domains = [receiving_domains.assign(session, ws.id, d).domain for d in domain or []]
    console.print(f"workspace {ws.name} created ({ws.id})")
    for d in domains:
        console.print(f"receiving domain {d}")


@workspace.command("add-domain")
@clean_errors
def workspace_add_domain(name: str, domain: str) -> None:
    """Assign a receiving domain to a workspace (a domain belongs to one workspace)."""
    from mailgate.services import receiving_domains, tenancy

    mg = open_app()
    with transaction(mg.sessions) as session:
        ws = tenancy.workspace_by_name(session, name)
        row = receiving_domains.assign(session, ws.id, domain)
    console.print(f"receiving domain {row.domain} assigned to {ws.name} ({row.id})")


@workspace.command("list")
@clean_errors
def workspace_list() -> None:
    """Workspaces and their receiving domains."""
    from mailgate.services import receiving_domains, tenancy

    mg = open_app()
    table = Table("id", "name", "receiving domains", "created")
    with mg.sessions() as session:
        for ws in tenancy.list_workspaces(session):
            domains = ", ".join(r.domain for r in receiving_domains.listing(session, ws.id))
            table.add_row(ws.id, ws.name, domains, ws.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@apikey.command("create")
@clean_errors
def apikey_create(
    workspace_name: WorkspaceOpt = "default",
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    create_workspace: Annotated[
        bool, typer.Option(help="Create the workspace if missing.")
    ] = False,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator", help="An operator key: the installation and every workspace."
        ),
    ] = False,
) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    from mailgate.services import tenancy

    mg = open_app()
    with transaction(mg.sessions) as session:
        if operator:
            _, plaintext = tenancy.create_api_key(session, None, name, operator=True)
            label = "[bold]operator[/bold] key"
        else:
            if create_workspace:
                ws = tenancy.ensure_workspace(session, workspace_name)
            else:
                ws = tenancy.workspace_by_name(session, workspace_name)
            _, plaintext = tenancy.create_api_key(session, ws.id, name)
            label = f"API key for workspace [bold]{ws.name}[/bold]"
    err.print(f"{label} (shown once, store it now):")
    print(plaintext)


@apikey.command("list")
@clean_errors
def apikey_list(
    workspace_name: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this workspace's keys.")
    ] = None,
) -> None:
    """API keys: id, prefix, name, role, created, last used, revoked (never the key)."""
    from mailgate.services import tenancy

    mg = open_app()
    table = Table("id", "prefix", "name", "workspace", "created", "last used", "revoked")
    with mg.sessions() as session:
        ws_id = tenancy.workspace_by_name(session, workspace_name).id if workspace_name else None
        names = {w.id: w.name for w in tenancy.list_workspaces(session)}
        for k in tenancy.list_keys(session, ws_id):
            table.add_row(
                k.id,
                k.prefix,
                k.name,
                "(operator)" if k.operator else names.get(k.workspace_id or "", ""),
                k.created_at.strftime("%Y-%m-%d %H:%M"),
                k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never",
                k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
            )
    console.print(table)


@apikey.command("revoke")
@clean_errors
def apikey_revoke(key_id: str) -> None:
    """Revoke a key at once: its next request gets 401."""
    from mailgate.services import tenancy

    mg = open_app()
    with transaction(mg.sessions) as session:
        row = tenancy.get_key(session, None, key_id)
        tenancy.revoke_key(session, row)
    console.print(f"API key {row.id} ({row.prefix}…) revoked")


@transport.command("add")
@clean_errors
def transport_add(
    name: str,
    kind: Annotated[str, typer.Option(help="smtp | sendmail | capture")] = "smtp",
    workspace_name: Annotated[str | None, typer.Option("--workspace", "-w")] = None,
    config: Annotated[str, typer.Option(help='JSON config, e.g. \'{"host": "127.0.0.1"}\'')] = "{}",
    sender: Annotated[str | None, typer.Option()] = None,
    default: Annotated[bool, typer.Option()] = False,
    mode: Annotated[str, typer.Option(help="immediate | queued")] = "queued",
    sender_policy: Annotated[str, typer.Option()] = "as_is",
    bounce_address: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a transport to a workspace, or a system-wide one without --workspace."""
    from mailgate.errors import InvalidInput
    from mailgate.services import tenancy
    from mailgate.services import transports as tsvc

    try:
        cfg = json.loads(config)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"--config is not JSON: {e}", field="config") from None
    mg = open_app()
    with transaction(mg.sessions) as session:
        ws_id = tenancy.workspace_by_name(session, workspace_name).id if workspace_name else None
        row = tsvc.create(
            session,
            mg.secrets,
            ws_id,
            {
                "name": name,
                "kind": kind,
                "scope": "workspace" if ws_id else "system",
                "config": cfg,
                "sender": sender,
                "default": default,
                "mode": mode,
                "sender_policy": sender_policy,
                "bounce_address": bounce_address,
            },
            allow_system=True,
        )
    console.print(f"transport {row.name} added: [bold]{row.id}[/bold]")


@transport.command("list")
@clean_errors
def transport_list(workspace_name: WorkspaceOpt = "default") -> None:
    """List the transports a workspace can use."""
    from mailgate.services import tenancy
    from mailgate.services import transports as tsvc

    mg = open_app()
    table = Table("id", "name", "kind", "scope", "default", "mode", "enabled", "sender")
    with mg.sessions() as session:
        ws = tenancy.workspace_by_name(session, workspace_name)
        for r in tsvc.visible(session, ws.id):
            table.add_row(
                r.id,
                r.name,
                r.kind,
                r.scope,
                "yes" if r.is_default else "",
                r.mode,
                "yes" if r.enabled else "no",
                r.sender or "",
            )
    console.print(table)


@transport.command("test")
@clean_errors
def transport_test(transport_id: str) -> None:
    """Connect, TLS, authenticate, then MAIL FROM the sender and RSET: the *test* button."""
    import asyncio

    from mailgate.services import transports as tsvc

    mg = open_app()
    with mg.sessions() as session:
        row = tsvc.get(session, None, transport_id)

    async def check() -> Any:
        try:
            return await mg.transports.check(row, tsvc.probe_sender(row))
        finally:
            await mg.aclose()

    result = asyncio.run(check())
    for line in result.transcript:
        console.print(f"[dim]{line}[/dim]", highlight=False)
    if result.ok:
        console.print(f"[green]{result.message}[/green]")
    else:
        err.print(f"[red]{result.stage}:[/red] {result.message}")
        raise typer.Exit(1)


@app.command()
@clean_errors
def send(
    to: Annotated[list[str], typer.Option("--to", help="Recipient (repeatable).")],
    subject: Annotated[str, typer.Option()] = "",
    text: Annotated[str | None, typer.Option(help="Plain body; '-' reads stdin.")] = None,
    html: Annotated[str | None, typer.Option()] = None,
    from_: Annotated[str | None, typer.Option("--from")] = None,
    workspace_name: WorkspaceOpt = "default",
    transport_id: Annotated[str | None, typer.Option("--transport")] = None,
    attach: Annotated[list[Path] | None, typer.Option(help="File to attach (repeatable).")] = None,
    mode: Annotated[str | None, typer.Option(help="immediate | queued")] = None,
) -> None:
    """Send a message through the workspace's transport."""
    import asyncio
    import base64
    import mimetypes

    from mailgate.services import journal as journal_service
    from mailgate.services import messages as msvc
    from mailgate.services import tenancy

    if text == "-":
        text = sys.stdin.read()
    attachments = []
    for path in attach or []:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        attachments.append(
            {
                "filename": path.name,
                "content_type": ctype,
                "content_base64": base64.b64encode(path.read_bytes()).decode(),
            }
        )
    mg = open_app()
    with mg.sessions() as session:
        ws = tenancy.workspace_by_name(session, workspace_name)
    req = msvc.SendRequest(
        to=to,
        subject=subject,
        text=text,
        html=html,
        from_=from_,
        transport=transport_id,
        attachments=attachments,
        mode=mode,
    )

    async def run() -> Any:
        try:
            return (await msvc.accept(mg, ws, [req]))[0]
        finally:
            await mg.aclose()

    answer = asyncio.run(run())
    if answer.error is not None:
        raise answer.error
    with mg.sessions() as session:
        detail = journal_service.public(session, journal_service.get(session, ws.id, answer.id))
    detail["status"] = answer.status  # queued, or this attempt's outcome
    _print_message(detail)
    if detail["status"] == "failed":
        raise typer.Exit(1)


def _print_message(detail: dict[str, Any]) -> None:
    console.print(f"[bold]{detail['id']}[/bold] {detail['status']}  <{detail['message_id']}>")
    table = Table("recipient", "status", "code", "text")
    for r in detail.get("recipients", []):
        table.add_row(r["address"], r["status"], str(r["code"] or ""), r["text"] or "")
    console.print(table)


@app.command()
@clean_errors
def journal(
    workspace_name: WorkspaceOpt = "default",
    status: Annotated[str | None, typer.Option(help="sent | pending | deferred | failed")] = None,
    limit: Annotated[int, typer.Option()] = 20,
) -> None:
    """The journals: what was sent, what is still due, what failed."""
    from mailgate.services import journal as journal_service
    from mailgate.services import tenancy

    mg = open_app()
    table = Table("id", "status", "created", "from", "subject", "attempts", "last error")
    with mg.sessions() as session:
        ws = tenancy.workspace_by_name(session, workspace_name)
        rows, _ = journal_service.journal(session, ws.id, status=status, limit=limit)
        for r in rows:
            table.add_row(
                r.id,
                r.status,
                r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.from_addr,
                r.subject[:40],
                str(r.attempts),
                (r.last_error or "")[:60],
            )
    console.print(table)


@app.command()
def parse(
    files: Annotated[list[Path], typer.Argument(help="Message files (.eml); '-' reads stdin.")],
) -> None:
    """Print one JSON object per message (JSON Lines), as DESIGN.md's contract says."""
    from mailgate.core.parse import parse_message

    failed = False
    for path in files:
        try:
            raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        except OSError as e:
            err.print(f"[red]{path}:[/red] {e.strerror}")
            failed = True
            continue
        sys.stdout.write(json.dumps(parse_message(raw).to_json(), ensure_ascii=False) + "\n")
    if failed:
        raise typer.Exit(1)


@secrets_cli.command("rotate")
@clean_errors
def secrets_rotate(
    batch: Annotated[int, typer.Option(min=1, help="Rows per committed transaction.")] = 100,
) -> None:
    """Re-encrypt every stored secret under MAILGATE_SECRET_KEY; safe to re-run or interrupt.

    Set the new key as MAILGATE_SECRET_KEY and the old one in MAILGATE_OLD_SECRET_KEYS
    first (docs/secrets.md); drop the old key only after this succeeds.
    """
    from rich.progress import Progress

    from mailgate.services import secrets as secret_service

    mg = open_app()
    with Progress(console=err, transient=False) as progress:
        task = progress.add_task("re-encrypting secrets", total=secret_service.count(mg))
        report = secret_service.rotate_all(
            mg, batch=batch, progress=lambda n: progress.advance(task, n)
        )
    mg.dispose()
    console.print(
        f"{report.rotated} re-encrypted, {report.current} already under the current key"
    )
    if report.unreadable:
        err.print(
            f"[red]{len(report.unreadable)} cannot be decrypted with MAILGATE_SECRET_KEY or "
            "MAILGATE_OLD_SECRET_KEYS[/red] (add the key they were written with to "
            "MAILGATE_OLD_SECRET_KEYS and run again, or set them again):"
        )
        for where in report.unreadable:
            err.print(f"  {where}")
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
