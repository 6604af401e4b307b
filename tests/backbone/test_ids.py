"""Identifiers: valid ULIDs that sort in the order one thread made them, unique across threads."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from ulid import ULID

from cxstack.kit.ids import new_id, new_ulid


def test_an_id_is_a_ulid_of_now_behind_its_prefix() -> None:
    before = datetime.now(UTC)
    prefix, _, value = new_id("cus").partition("_")
    after = datetime.now(UTC)
    assert prefix == "cus" and len(value) == 26
    made_at = ULID.from_str(value).datetime
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= made_at <= after


def test_ids_of_one_thread_sort_in_the_order_they_were_made() -> None:
    made = [new_ulid() for _ in range(20_000)]  # many share a millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert len({value[:10] for value in made}) < len(made)  # the test did cover ids of one millisecond


def test_ids_made_by_threads_at_once_are_all_distinct() -> None:
    made: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def make(into: list[str]) -> None:
        start.wait()
        into.extend(new_ulid() for _ in range(10_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for into in made for value in into]
    assert len(set(every)) == len(every)
    assert all(ULID.from_str(value).milliseconds <= time.time_ns() // 1_000_000 for value in every[::500])
