"""Fail loudly unless the PostgreSQL and NATS JetStream the test suite was pointed at answer."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import nats


async def check_postgres(url: str) -> str:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return f"PostgreSQL {version} at {url}"


async def check_nats(url: str) -> str:
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        info = await client.jetstream().account_info()
    finally:
        await client.close()
    return f"NATS JetStream at {url} ({info.streams} streams)"


async def main() -> int:
    checks = {
        "CXSTACK_TEST_DATABASE_URL": check_postgres,
        "CXSTACK_TEST_NATS_URL": check_nats,
    }
    failed = False
    for variable, check in checks.items():
        url = os.environ.get(variable)
        if not url:
            print(f"FAIL {variable} is not set", file=sys.stderr)
            failed = True
            continue
        try:
            print("ok  ", await check(url))
        except Exception as error:
            print(f"FAIL {variable}={url} does not answer: {error!r}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
