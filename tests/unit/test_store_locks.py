"""The SQLite writer lock: one holder at a time across threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from retentio.store.locks import WriterLock, writer_lock


def _hold(lock_path: str, log_path: str, name: str, rounds: int) -> None:
    lock = WriterLock(Path(lock_path))
    for _ in range(rounds):
        with lock:
            with open(log_path, "a") as log:
                log.write(f"{name} in\n")
            time.sleep(0.01)  # long enough for the other holder to barge in, if it could
            with open(log_path, "a") as log:
                log.write(f"{name} out\n")
    lock.close()


def _assert_never_overlapped(log: Path, holders: int, rounds: int) -> None:
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * holders * rounds
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.endswith(" in") and leave == enter.replace(" in", " out"), lines


def test_processes_take_turns(tmp_path: Path) -> None:
    lock, log = tmp_path / "db.writer", tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_hold, args=(str(lock), str(log), f"p{i}", 15)) for i in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    _assert_never_overlapped(log, 3, 15)


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    log = tmp_path / "log"
    lock = WriterLock(tmp_path / "db.writer")
    seen: list[str] = []

    def hold(name: str) -> None:
        for _ in range(10):
            with lock:
                seen.append(f"{name} in")
                time.sleep(0.002)
                seen.append(f"{name} out")

    threads = [threading.Thread(target=hold, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.write_text("\n".join(seen) + "\n")
    _assert_never_overlapped(log, 4, 10)
    lock.close()


def test_an_error_inside_releases_the_lock(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "db.writer")
    with pytest.raises(RuntimeError), lock:
        raise RuntimeError("boom")
    acquired = threading.Event()

    def take() -> None:
        with lock:
            acquired.set()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(timeout=5)
    assert acquired.is_set()
    lock.close()


def test_the_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    lock = writer_lock(engine)
    with lock:
        pass
    lock.close()
    assert (tmp_path / "shop.db.writer").exists()
    memory = writer_lock(create_engine("sqlite://"))
    with memory:  # a thread lock only: nothing on disk
        pass
    postgres = writer_lock(create_engine("postgresql+psycopg://u@localhost/db"))
    with postgres:  # PostgreSQL locks rows itself: a no-op
        pass
