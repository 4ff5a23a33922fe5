"""``mailgate campaign create|upload|start|status``: the store directly, like the other commands.

Heavy modules are imported inside the commands (``mailgate parse`` must start fast).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from mailgate.cli.common import clean_errors, console, open_app, transaction

app = typer.Typer(no_args_is_help=True, help="Bulk campaigns (docs/campaigns.md).")

WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name.")]
_CHUNK = 1 << 16


def _read(path: Path | None, text: str | None) -> str | None:
    return path.read_text(encoding="utf-8") if path is not None else text


@app.command("create")
@clean_errors
def create(
    workspace: WorkspaceOpt,
    name: Annotated[str, typer.Option(help="The campaign's name.")],
    from_: Annotated[str, typer.Option("--from", help="From (may be a template).")],
    subject: Annotated[str, typer.Option(help="Subject template.")],
    text: Annotated[str | None, typer.Option(help="Text template.")] = None,
    text_file: Annotated[Path | None, typer.Option(help="Text template file.")] = None,
    html_file: Annotated[Path | None, typer.Option(help="HTML template file.")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Reply-To.")] = None,
    transport: Annotated[list[str] | None, typer.Option(help="Transport id (repeat).")] = None,
    rate: Annotated[int | None, typer.Option(help="At most this many a minute.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone of --send-at.")] = "UTC",
    send_at: Annotated[str | None, typer.Option(help="ISO date and time to begin.")] = None,
) -> None:
    """Create a draft campaign; prints its id."""
    from datetime import datetime

    from mailgate.services import campaigns as svc
    from mailgate.services import tenancy

    mg = open_app()
    try:
        with transaction(mg.sessions) as session:
            ws = tenancy.workspace_by_name(session, workspace)
            row = svc.create(
                session,
                ws,
                svc.CampaignRequest(
                    name=name,
                    from_=from_,
                    subject=subject,
                    text=_read(text_file, text),
                    html=_read(html_file, None),
                    reply_to=reply_to,
                    transports=transport or [],
                    send_at=datetime.fromisoformat(send_at) if send_at else None,
                    timezone=timezone,
                    rate=rate,
                ),
            )
        console.print(row.id)
    finally:
        mg.dispose()


@app.command("upload")
@clean_errors
def upload(
    workspace: WorkspaceOpt,
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    file: Annotated[Path, typer.Argument(help="CSV (header row with email) or .jsonl/.ndjson.")],
) -> None:
    """Add recipients from a file, with a progress bar; prints the report as JSON."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from mailgate.services import campaigns as svc
    from mailgate.services import tenancy

    kind = "application/x-ndjson" if file.suffix in (".jsonl", ".ndjson") else "text/csv"
    size = file.stat().st_size
    mg = open_app()
    try:
        with mg.sessions() as session:
            ws = tenancy.workspace_by_name(session, workspace)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("uploading", total=size)

            def chunks() -> Iterator[bytes]:
                with file.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        progress.advance(task, len(chunk))
                        yield chunk

            report = svc.upload_recipients(mg, ws.id, campaign, kind, chunks())
        console.print_json(json.dumps(report.public()))
    finally:
        mg.dispose()


@app.command("start")
@clean_errors
def start(
    workspace: WorkspaceOpt, campaign: Annotated[str, typer.Argument(help="Campaign id.")]
) -> None:
    """Schedule the campaign (it sends at --send-at, or now); a running worker picks it up."""
    _act(workspace, campaign, "start")


@app.command("pause")
@clean_errors
def pause(
    workspace: WorkspaceOpt, campaign: Annotated[str, typer.Argument(help="Campaign id.")]
) -> None:
    """Stop sending within one batch."""
    _act(workspace, campaign, "pause")


@app.command("resume")
@clean_errors
def resume(
    workspace: WorkspaceOpt, campaign: Annotated[str, typer.Argument(help="Campaign id.")]
) -> None:
    """Go on where it paused."""
    _act(workspace, campaign, "resume")


def _act(workspace: str, campaign: str, action: str) -> None:
    from mailgate.services import campaigns as svc
    from mailgate.services import tenancy

    mg = open_app()
    try:
        with transaction(mg.sessions) as session:
            ws = tenancy.workspace_by_name(session, workspace)
            row = svc.act(session, ws.id, campaign, action)
            console.print(f"campaign {row.id} is {row.state}")
    finally:
        mg.dispose()


@app.command("status")
@clean_errors
def status(
    workspace: WorkspaceOpt,
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Progress bar to the end.")
    ] = False,
) -> None:
    """Counts per recipient state, rate and ETA; ``--follow`` shows a bar until it ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mailgate.services import campaigns as svc
    from mailgate.services import tenancy

    mg = open_app()
    try:

        def read() -> dict[str, Any]:
            with mg.sessions() as session:
                ws = tenancy.workspace_by_name(session, workspace)
                return svc.public(session, svc.get(session, ws.id, campaign))

        info = read()
        if follow:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(info["state"], total=info["total"])
                while True:
                    done = info["total"] - info["counts"]["pending"] - info["counts"]["deferred"]
                    progress.update(task, completed=done, description=info["state"])
                    if info["state"] in ("done", "cancelled", "draft", "paused"):
                        break
                    time.sleep(1)
                    info = read()
        console.print_json(
            json.dumps(
                {
                    k: info[k]
                    for k in ("id", "state", "total", "counts", "sending_rate", "eta", "waiting")
                }
            )
        )
    finally:
        mg.dispose()
