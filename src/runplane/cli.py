"""The `runplane` command: serve, worker, migrate, key create, secrets rotate.

Other tools script against these commands, so their flags and outputs are a contract:
`key create` prints the key alone on stdout.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runplane.core.access import Role
from runplane.settings import Settings, load_settings

if TYPE_CHECKING:
    from runplane.core.secret_rotation import RotationReport

app = typer.Typer(
    help="runplane: run scripts and services over REST.", no_args_is_help=True,
    add_completion=False,
)
key_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")
inventory_app = typer.Typer(help="Manage the inventory (devices and pools).",
                            no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
secrets_app = typer.Typer(help="Manage the key that encrypts credentials' secrets.",
                          no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="sqlite:///file.db or postgresql://user@host/db "
                 "[env RUNPLANE_DATABASE; default sqlite:///runplane.db]"),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="task slots: scripts run at once by this process "
                 "[env RUNPLANE_WORKERS; default 2 per core]"),
]


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ValueError as error:
        typer.echo(f"runplane: invalid settings: {error}", err=True)
        raise typer.Exit(2) from error


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Newer alembic (1.20 here) logs a line per plugin it sets up, on every start: noise.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _migrate(settings: Settings) -> None:
    from runplane.store.database import parse_database_url
    from runplane.store.migrate import migrate

    try:
        parse_database_url(settings.database)
        migrate(settings.database)
    except Exception as error:
        typer.echo(f"runplane: cannot migrate {settings.database}: {error}", err=True)
        raise typer.Exit(1) from error


@app.command()
def migrate(database: DatabaseOption = None) -> None:
    """Bring the database schema up to date and make the instance `default` if absent
    (serve and worker do it too)."""
    settings = _settings(database=database)
    _migrate(settings)
    typer.echo(f"runplane: schema of {settings.database} is up to date", err=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="[env RUNPLANE_HOST; default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="[env RUNPLANE_PORT; default 8000]")] = None,
    database: DatabaseOption = None,
    workers: WorkersOption = None,
) -> None:
    """Serve the API with embedded workers (use --workers 0 for an API-only process)."""
    import uvicorn

    from runplane.api.app import create_app

    settings = _settings(host=host, port=port, database=database, workers=workers)
    _configure_logging(settings.log_level)
    _migrate(settings)
    first = asyncio.run(_bootstrap(settings))
    base = f"http://{settings.host}:{settings.port}"
    if first is not None:
        typer.echo(
            f"\nrunplane: first start of this database (its instance is "
            f"'{first.instance_name}'). An account admin key, shown only this once:\n\n"
            f"    {first.admin_key}\n\n"
            f"Try it:\n"
            f"    curl -H 'X-API-KEY: {first.admin_key}' {base}/v1.1/instances/\n"
        )
    else:
        typer.echo(
            f"runplane: to call the API, make a key with: "
            f"runplane key create --database {settings.database}\n"
            f"    then: curl -H 'X-API-KEY: <key>' {base}/v1.1/instances/", err=True,
        )
    typer.echo(f"runplane: serving {base} (API docs at {base}/docs), "
               f"database {settings.database}, {settings.workers} worker slot(s)", err=True)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port,
        log_level=settings.log_level.lower(), access_log=False, timeout_graceful_shutdown=30,
        timeout_keep_alive=settings.keep_alive_seconds,
    )


async def _bootstrap(settings: Settings):  # type: ignore[no-untyped-def]
    from runplane.core.context import open_core
    from runplane.core.keys import bootstrap

    core = await open_core(settings, pooled=False)
    try:
        return await bootstrap(core)
    finally:
        await core.database.close()


@app.command()
def worker(database: DatabaseOption = None, workers: WorkersOption = None) -> None:
    """Run workers only (no API): more hosts on one PostgreSQL database."""
    settings = _settings(database=database, workers=workers)
    _configure_logging(settings.log_level)
    _migrate(settings)
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    from runplane.api.batch_door.actions import batch_actions
    from runplane.core.context import open_core, start_listening
    from runplane.process import start_sender, start_worker

    core = await open_core(settings)
    core.batch_jobs = batch_actions()
    listener = start_listening(core)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await start_worker(core)
    sender = await start_sender(core)
    logging.getLogger("runplane").info("worker running; stop with SIGTERM or Ctrl-C")
    await stop.wait()
    await running.stop()
    await sender.stop()
    if listener is not None:
        await listener.stop()
    await core.database.close()


@key_app.command("create")
def key_create(
    instance: Annotated[str | None, typer.Option(
        help="the instance the key is for (omit for an account key, valid everywhere)")] = None,
    role: Annotated[str, typer.Option(help="admin | write | run | read")] = "admin",
    description: Annotated[str, typer.Option(help="a note on what the key is for")] = "",
    database: DatabaseOption = None,
) -> None:
    """Create an API key and print it alone on stdout (it is shown only this once)."""
    settings = _settings(database=database)
    try:
        chosen = Role.parse(role)
    except ValueError as error:
        typer.echo(f"runplane: {error}", err=True)
        raise typer.Exit(2) from error
    _migrate(settings)
    typer.echo(asyncio.run(_create_key(settings, chosen, instance, description)))


async def _create_key(
    settings: Settings, role: Role, instance: str | None, description: str
) -> str:
    from runplane.core.context import open_core
    from runplane.core.keys import create_key
    from runplane.errors import NotFound

    core = await open_core(settings, pooled=False)
    try:
        return await create_key(core, role=role, instance_name=instance, description=description)
    except NotFound as error:
        typer.echo(f"runplane: no instance named {instance!r}", err=True)
        raise typer.Exit(1) from error
    finally:
        await core.database.close()


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new Fernet key alone on stdout (for RUNPLANE_SECRET_KEY)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@secrets_app.command("rotate")
def secrets_rotate(database: DatabaseOption = None) -> None:
    """Re-encrypt every credential's secrets with a new key.

    With a key file: a new key is made, every secret re-encrypted (the old key readable
    until then), and the old key removed from the file. With RUNPLANE_SECRET_KEY: put the
    new key first (`runplane secrets new-key`), the old ones after it, run this, then drop
    the old ones from every process's setting.
    """
    from runplane.errors import SecretsUnavailable

    settings = _settings(database=database)
    _migrate(settings)
    try:
        report = asyncio.run(_rotate(settings))
    except SecretsUnavailable as error:
        typer.echo(f"runplane: {error.message}", err=True)
        raise typer.Exit(1) from error
    where = f"the key file {report.key_file} now holds the new key alone" if report.key_file \
        else "every secret reads with the first key of RUNPLANE_SECRET_KEY: drop the others"
    typer.echo(f"re-encrypted {report.reencrypted} credential(s); {where}")


async def _rotate(settings: Settings) -> RotationReport:
    from runplane.core.context import open_core
    from runplane.core.secret_rotation import rotate

    core = await open_core(settings, pooled=False)
    try:
        return await rotate(core)
    finally:
        await core.database.close()


@app.command("webhook-secret")
def webhook_secret(
    instance: Annotated[str, typer.Option(help="the instance whose callbacks it signs")
                        ] = "default",
    database: DatabaseOption = None,
) -> None:
    """Print the instance's callback signing secret (Standard Webhooks, `whsec_...`) alone on
    stdout, made on first use: what a receiver verifies `webhook-signature` with."""
    settings = _settings(database=database)
    _migrate(settings)
    typer.echo(asyncio.run(_webhook_secret(settings, instance)))


async def _webhook_secret(settings: Settings, instance: str) -> str:
    from runplane.core.batches import webhook_secret as secret_of
    from runplane.core.context import open_core
    from runplane.errors import NotFound

    core = await open_core(settings, pooled=False)
    try:
        return await secret_of(core, None, instance)
    except NotFound as error:
        typer.echo(f"runplane: no instance named {instance!r}", err=True)
        raise typer.Exit(1) from error
    finally:
        await core.database.close()


@inventory_app.command("import")
def inventory_import(
    file: Annotated[Path, typer.Argument(help="a .json, .csv, .yaml or .yml file")],
    instance: Annotated[str, typer.Option(help="the instance to import into")] = "default",
    type: Annotated[str | None, typer.Option(
        "--type", help="device | pool: what a list (or a CSV file) holds [default device]",
    )] = None,
    database: DatabaseOption = None,
) -> None:
    """Import devices and pools; bad rows are reported and the good ones kept.

    Exit code 0 if every row was imported, 1 if some were refused, 2 if nothing could be read.
    """
    from runplane.core.inventory_import import KINDS, UnreadableFile, read_inventory_file

    if type is not None and type not in KINDS:
        typer.echo(f"runplane: --type is one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    settings = _settings(database=database)
    try:
        rows = read_inventory_file(file, type)
    except UnreadableFile as error:
        typer.echo(f"runplane: cannot import {file}: {error}", err=True)
        raise typer.Exit(2) from error
    _migrate(settings)
    report = asyncio.run(_import_inventory(settings, instance, rows))
    for row_error in report.errors:
        typer.echo(f"runplane: {row_error}", err=True)
    typer.echo(report.summary)
    raise typer.Exit(1 if report.errors else 0)


async def _import_inventory(settings: Settings, instance: str, rows):  # type: ignore[no-untyped-def]
    from runplane.core.context import open_core
    from runplane.core.instances import find
    from runplane.core.inventory_import import import_inventory
    from runplane.errors import NotFound

    core = await open_core(settings, pooled=False)
    try:
        target = await find(core, instance)  # migrate (run first) made `default`
        return await import_inventory(core, target, devices=rows.devices, pools=rows.pools)
    except NotFound as error:
        typer.echo(f"runplane: no instance named {instance!r}", err=True)
        raise typer.Exit(2) from error
    finally:
        await core.database.close()


def main() -> None:
    app()
