"""The page prefetcher keeps order, bounds its buffer, surfaces producer errors and stops with its consumer."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_kaizala.transfers.kaizala_to_sql import prefetched


def test_pages_arrive_in_order():
    pages = [[{"n": i}] for i in range(50)]
    assert list(prefetched(iter(pages), depth=3)) == pages


def test_producer_error_reaches_the_consumer():
    def pages():
        yield [{"n": 1}]
        raise RuntimeError("page 2 failed")

    stream = prefetched(pages())
    assert next(stream) == [{"n": 1}]
    with pytest.raises(RuntimeError, match="page 2 failed"):
        next(stream)


def test_buffer_is_bounded_and_producer_stops_when_consumer_stops():
    produced = []
    finished = threading.Event()

    def pages():
        try:
            for i in range(1000):
                produced.append(i)
                yield [{"n": i}]
        finally:
            finished.set()

    stream = prefetched(pages(), depth=4)
    assert next(stream) == [{"n": 0}]
    threading.Event().wait(0.3)
    assert len(produced) <= 4 + 2  # the queue, the page being put, the page taken
    stream.close()
    assert finished.wait(5)
    assert len(produced) < 1000
