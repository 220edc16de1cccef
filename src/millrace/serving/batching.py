"""Coalescing concurrent requests for one model into one predict call.

A model call costs nearly the same for one row as for fifty, so requests that arrive
while a call is running wait for it to end and then go together. Nothing ever waits for
company: an idle model predicts a lone request at once, so a quiet server adds no
latency, and a busy one turns the wait it would have had anyway into bigger batches.

Each model name has one worker thread; the event loop keeps parsing requests while it
predicts (LightGBM and NumPy release the GIL). A request holds its own model reference,
so a batch only ever groups requests that resolved the same version.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from millrace.serving.metrics import ServingMetrics
from millrace.serving.models import Prediction, TabularModel

__all__ = ["Batcher"]


@dataclass
class _Job:
    model: TabularModel
    x: np.ndarray
    proba: bool
    done: asyncio.Future[Prediction] = field(repr=False)


class Batcher:
    """One queue and one predicting thread per model name."""

    def __init__(self, metrics: ServingMetrics, max_rows: int = 512) -> None:
        self.metrics = metrics
        self.max_rows = max_rows
        self._queues: dict[str, asyncio.Queue[_Job]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._executors: dict[str, ThreadPoolExecutor] = {}

    async def predict(self, model: TabularModel, x: np.ndarray, proba: bool) -> Prediction:
        name = model.name
        if len(x) >= self.max_rows:  # already a batch: straight to the model's thread
            loop = asyncio.get_running_loop()
            self.metrics.batch_rows.labels(name).observe(len(x))
            return await loop.run_in_executor(self._executor(name), model.predict, x, proba)
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = asyncio.Queue()
            self._tasks[name] = asyncio.create_task(self._run(name, queue), name=f"batch-{name}")
        job = _Job(model, x, proba, asyncio.get_running_loop().create_future())
        queue.put_nowait(job)
        return await job.done

    def _executor(self, name: str) -> ThreadPoolExecutor:
        pool = self._executors.get(name)
        if pool is None:
            pool = self._executors[name] = ThreadPoolExecutor(1, thread_name_prefix="predict")
        return pool

    async def _run(self, name: str, queue: asyncio.Queue[_Job]) -> None:
        loop = asyncio.get_running_loop()
        pool = self._executor(name)
        while True:
            jobs = [await queue.get()]
            rows = len(jobs[0].x)
            while rows < self.max_rows and not queue.empty():
                job = queue.get_nowait()
                jobs.append(job)
                rows += len(job.x)
            # Group by the exact model object (a promotion mid-queue splits the batch).
            groups: dict[int, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(id(job.model), []).append(job)
            for group in groups.values():
                await self._call(loop, pool, name, group)

    async def _call(
        self,
        loop: asyncio.AbstractEventLoop,
        pool: ThreadPoolExecutor,
        name: str,
        group: list[_Job],
    ) -> None:
        model = group[0].model
        x = group[0].x if len(group) == 1 else np.vstack([j.x for j in group])
        proba = any(j.proba for j in group)
        self.metrics.batch_rows.labels(name).observe(len(x))
        try:
            result = await loop.run_in_executor(pool, model.predict, x, proba)
        except Exception as exc:  # handed to every waiting request, which answers 500
            for job in group:
                if not job.done.done():
                    job.done.set_exception(exc)
            return
        start = 0
        for job in group:
            end = start + len(job.x)
            part = Prediction(
                result.values[start:end],
                result.proba[start:end] if job.proba and result.proba is not None else None,
            )
            if not job.done.done():
                job.done.set_result(part)
            start = end

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pool in self._executors.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._tasks.clear()
        self._queues.clear()
        self._executors.clear()
