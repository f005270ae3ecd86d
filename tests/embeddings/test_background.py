"""Start-up work in threads: errors reach the caller, and a model is loaded once however many ask."""

from __future__ import annotations

import threading
import time

import pytest

from embeddings.background import BackgroundTask


def test_an_error_in_the_thread_is_raised_by_join_once():
    def fail():
        raise ValueError("broken vocabulary")

    task = BackgroundTask(fail, name="test")
    with pytest.raises(ValueError, match="broken vocabulary"):
        task.join()
    task.join()  # reported once; joining again is harmless


def test_join_waits_for_the_work():
    done = []
    task = BackgroundTask(lambda: (time.sleep(0.05), done.append(1)), name="test")
    task.join()
    assert done == [1]


def test_a_session_asked_for_by_two_threads_is_created_once(monkeypatch, tmp_path):
    from embeddings.model import onnx_runtime

    created = []
    started = threading.Event()

    def slow_create(self):
        started.set()
        time.sleep(0.1)  # as ONNX Runtime does, off the GIL
        created.append(self)
        self._session = object()
        return self._session

    monkeypatch.setattr(onnx_runtime.OnnxModel, "_create_session", slow_create)
    model = onnx_runtime.OnnxModel(tmp_path / "model.onnx")
    warm_up = BackgroundTask(model.session, name="test")
    started.wait()
    first_batch = model.session()  # arrives while the warm-up is still creating it
    warm_up.join()
    assert len(created) == 1 and first_batch is model.session()
