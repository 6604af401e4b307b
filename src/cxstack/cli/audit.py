"""``cxstack audit list``: a tenant's audit log, newest first, filtered as ``GET /v1/audit`` is."""

from __future__ import annotations

from datetime import datetime

import typer

from cxstack.cli.database import run_db
from cxstack.cli.tenants import JsonOption, TenantOption, print_listing, read_all, when
from cxstack.governance.audit.schemas import AuditEntryOut
from cxstack.governance.audit.service import list_audit_page
from cxstack.governance.tenants.service import find_tenant
from cxstack.kit.clock import utc
from cxstack.kit.pagination import MAX_PAGE_SIZE
from cxstack.runtime import Runtime

audit_app = typer.Typer(help="The audit log: who did what to which record.", no_args_is_help=True)


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (2026-01-31 or 2026-01-31T09:00:00+01:00)", param_hint=option
        ) from None


@audit_app.command("list")
def audit_list(
    tenant: str = TenantOption,
    actor: str | None = typer.Option(None, help="Only entries by this actor (api_key:<id>, cli:<user>…)."),
    action: str | None = typer.Option(None, help="Only entries of this action (api_key.revoked…)."),
    subject: str | None = typer.Option(None, help="Only entries about this record (its id)."),
    since: str | None = typer.Option(
        None, help="Only entries at or after this time (ISO 8601; UTC if no offset)."
    ),
    until: str | None = typer.Option(None, help="Only entries before this time (ISO 8601)."),
    limit: int = typer.Option(100, min=1, help="Show at most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's audit entries, newest first."""
    since_at, until_at = _time(since, "--since"), _time(until, "--until")

    async def work(runtime: Runtime) -> list[AuditEntryOut]:
        tenant_id = await runtime.db.read(lambda session: find_tenant(session, tenant=tenant).id)
        return await read_all(
            runtime,
            lambda session, cursor: list_audit_page(
                session,
                tenant_id=tenant_id,
                actor=actor,
                action=action,
                subject=subject,
                since=since_at,
                until=until_at,
                cursor=cursor,
                limit=MAX_PAGE_SIZE,
            ),
            limit,
        )

    print_listing(
        run_db(work),
        as_json=as_json,
        columns=("at", "actor", "action", "subject"),
        row=lambda entry: (when(entry.at), entry.actor, entry.action, entry.target_id),
        detail=lambda entry: ", ".join(f"{k}={v}" for k, v in entry.detail.items()),
        nothing="no audit entries",
    )
