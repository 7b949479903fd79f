"""Running independent jobs on local processes or on a Dask cluster, and yielding results as they finish.

:func:`run_jobs` is the execution engine of the lab's studies. The jobs are
independent calls of one function, each on one value (a small frozen dataclass
naming the job's inputs, e.g. a batch and the arms to evaluate on it); where
they run is the caller's choice:

- ``client=None`` and ``n_jobs=1``: one after the other, in this process;
- ``client=None`` and ``n_jobs != 1``: joblib's active backend (local processes
  by default, or whatever ``joblib.parallel_config(backend=...)`` sets);
- a ``distributed.Client`` (``client=`` or an active
  ``joblib.parallel_config(backend="dask")``): the workers of that Dask cluster.

Workers return their results to the caller, which alone writes files: the
cluster needs no shared filesystem, only the same versions of causalattn and
torch on every worker. A long job can run as a chain of shorter ones
(``follow=``): each returns its state (e.g. a training checkpoint) to the
caller, which saves it and hands it to the next link, so an interrupted chain
resumes from its last saved link.

Progress goes through a channel handed to every job as ``report``: the job
calls ``report(n)`` after each ``n`` units of work (for a training run, each
update) and the caller's progress bar moves while the job runs. The channel is
the simplest robust one of each backend: a direct call in this process, a
``multiprocessing.Manager`` queue drained by a thread for joblib's process
backends, and Dask's structured events (``get_worker().log_event`` on a
topic the client subscribes to) on a cluster. Reports are batched to at most
a few messages per second per job.

Dask (``pip install "causalattn[distributed]"``) is imported only when a
cluster is used.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from joblib import Parallel, delayed
from joblib.parallel import get_active_backend

from causalattn._validation import check_integer, check_positive_int

__all__ = ["DISTRIBUTED_INSTALL", "check_engine_options", "import_distributed", "resolve_client", "run_jobs"]

DISTRIBUTED_INSTALL = 'pip install "causalattn[distributed]"'
REPORT_INTERVAL = 0.25  # seconds between two progress messages of one job


def import_distributed():
    """The ``distributed`` module, or an ImportError naming the install command."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"running on a Dask cluster needs dask.distributed, an optional extra: {DISTRIBUTED_INSTALL}"
        ) from exc
    return distributed


def resolve_client(client: Any) -> Any:
    """The Dask client to run on: ``client``, else that of an active joblib Dask backend, else None (local).

    Raises TypeError if ``client`` is neither None nor a ``distributed.Client``.
    """
    if client is None:
        backend, _ = get_active_backend()
        return getattr(backend, "client", None)  # only joblib's Dask backend has one
    if not isinstance(client, import_distributed().Client):
        raise TypeError(f"`client` must be a distributed.Client or None, got {type(client).__name__}")
    return client


def run_jobs(
    function: Callable[..., Any],
    jobs: Sequence[Any],
    *,
    n_jobs: int = 1,
    client: Any = None,
    progress: Any = None,
    torch_threads: int | None = None,
    follow: Callable[[int, Any], Any] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Run ``function(job, report=report)`` for every job; yield ``(index, result)`` as each finishes.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled to the workers). It receives a
        keyword ``report``: ``report(n)`` adds ``n`` to ``progress``.
    jobs : sequence
        The argument of each call (anything but None, picklable to the workers).
    n_jobs : int
        Parallel jobs without a cluster (joblib; -1 for all cores).
    client : distributed.Client, optional
        Run on this Dask cluster; see :func:`resolve_client` (call it first:
        ``run_jobs`` takes the client as given).
    progress : tqdm bar, optional
        Moved by the jobs' reports.
    torch_threads : int, optional
        torch's intra-op thread count in each job (restored afterwards); None
        leaves the worker's setting. Results are bit-identical across
        backends when it is the same.
    follow : callable, optional
        Chains jobs: ``follow(index, result)`` is called in this process when
        job ``index`` returns. A job it returns is run next as job ``index``
        (the next link of the chain, e.g. the next training segment from the
        checkpoint ``result`` carried) and ``result`` is not yielded; None ends
        the chain and ``(index, result)`` is yielded. On a cluster the next
        link starts as soon as ``follow`` returns; with joblib the links of
        all jobs run in rounds.

    Yields
    ------
    (int, object)
        The index of the job in ``jobs`` and its result, in the order the jobs
        finish. Closing the generator early (an error or an interrupt in the
        caller) cancels the jobs not yet finished.

    Examples
    --------
    >>> def square(x, *, report):
    ...     report(1)
    ...     return x * x
    >>> sorted(run_jobs(square, [2, 3]))
    [(0, 4), (1, 9)]

    A chain: square until the value passes 100.

    >>> sorted(run_jobs(square, [2, 3], follow=lambda index, x: x if x < 100 else None))
    [(0, 256), (1, 6561)]
    """
    jobs, n_jobs, torch_threads = _run_jobs_iv(function, jobs, n_jobs, torch_threads, follow)
    if client is not None:
        yield from _run_dask(client, function, jobs, progress, torch_threads, follow)
    else:
        yield from _run_joblib(function, jobs, n_jobs, progress, torch_threads, follow)


def _run_jobs_iv(function, jobs, n_jobs, torch_threads, follow) -> tuple[list[Any], int, int | None]:
    if not callable(function):
        raise TypeError(f"`function` must be callable, got {type(function).__name__}")
    if follow is not None and not callable(follow):
        raise TypeError(f"`follow` must be callable or None, got {type(follow).__name__}")
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Sequence):
        raise TypeError(f"`jobs` must be a sequence of jobs, got {type(jobs).__name__}")
    jobs = list(jobs)
    if any(job is None for job in jobs):
        raise TypeError("`jobs` must not hold None (None is how `follow` ends a chain)")
    return (jobs, *check_engine_options(n_jobs, torch_threads))


def check_engine_options(n_jobs: Any, torch_threads: Any) -> tuple[int, int | None]:
    """``n_jobs`` (a non-zero integer) and ``torch_threads`` (None or a positive integer), checked."""
    if check_integer("n_jobs", n_jobs) == 0:
        raise ValueError("`n_jobs` must be a non-zero integer (-1: all cores), got 0")
    if torch_threads is not None:
        torch_threads = check_positive_int("torch_threads", torch_threads)
    return int(n_jobs), torch_threads


def _call(index: int, function: Callable[..., Any], job: Any, report: _Report,
          torch_threads: int | None) -> tuple[int, Any]:
    """One job, on its worker: set the torch threads, run, send the last progress, restore the threads."""
    previous = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    try:
        return index, function(job, report=report)
    finally:
        report.flush()
        torch.set_num_threads(previous)


def _next_link(follow, index: int, result: Any) -> Any:
    """The job that follows job ``index`` (None: it was the last, ``result`` is yielded)."""
    return None if follow is None else follow(index, result)


def _run_joblib(function, jobs, n_jobs, progress, torch_threads, follow) -> Iterator[tuple[int, Any]]:
    """joblib jobs, chains in rounds; in parallel with a bar, their reports reach it through a manager queue."""
    with contextlib.ExitStack() as stack:
        if n_jobs == 1 or progress is None:  # in this process, or nothing to report
            channel = functools.partial(_Direct, progress)
        else:
            channel = functools.partial(_QueueReport, stack.enter_context(_progress_queue(progress)))
        pending = dict(enumerate(jobs))
        while pending:
            current, pending = pending, {}
            calls = (delayed(_call)(index, function, job, channel(), torch_threads)  # one channel per job
                     for index, job in current.items())
            for index, result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls):
                job = _next_link(follow, index, result)
                if job is None:
                    yield index, result
                else:
                    pending[index] = job


@contextlib.contextmanager
def _progress_queue(progress):
    """A manager queue whose counts a thread of this process adds to ``progress`` until the context ends."""
    with multiprocessing.Manager() as manager:
        queue = manager.Queue()
        drain = threading.Thread(target=_drain, args=(queue, progress), daemon=True)
        drain.start()
        try:
            yield queue
        finally:
            queue.put(None)
            drain.join()


def _drain(queue, progress) -> None:
    while (n := queue.get()) is not None:
        progress.update(n)


def _run_dask(client, function, jobs, progress, torch_threads, follow) -> Iterator[tuple[int, Any]]:
    """Dask futures, yielded as they finish; a chain's next link is submitted as soon as its result is in."""
    distributed = import_distributed()
    topic = f"causalattn-progress-{uuid.uuid4().hex}"
    report = _Direct(None) if progress is None else _EventReport(topic)
    if progress is not None:
        client.subscribe_topic(topic, lambda event: progress.update(event[1]))

    def submit(index: int, job: Any):
        future = client.submit(_call, index, function, job, report, torch_threads, pure=False)
        running.add(future)
        return future

    running: set = set()  # the futures not yet consumed; a consumed one is dropped so its result leaves the worker
    finished = distributed.as_completed([submit(index, job) for index, job in enumerate(jobs)])
    try:
        for future in finished:
            running.discard(future)
            index, result = future.result()
            job = _next_link(follow, index, result)
            if job is None:
                yield index, result
            else:
                finished.add(submit(index, job))
    finally:
        client.cancel(list(running))
        if progress is not None:
            client.unsubscribe_topic(topic)


class _Report:
    """Progress channel of a job: ``report(n)`` counts ``n`` units of work, sent in batches."""

    def __init__(self) -> None:
        self._pending = 0
        self._sent_at = 0.0

    def __call__(self, n: int = 1) -> None:
        self._pending += n
        if time.monotonic() - self._sent_at >= REPORT_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Send the units counted since the last message."""
        if self._pending:
            self._send(self._pending)
            self._pending = 0
        self._sent_at = time.monotonic()

    def _send(self, n: int) -> None:
        raise NotImplementedError


class _Direct(_Report):
    """In this process: move the bar directly."""

    def __init__(self, progress) -> None:
        super().__init__()
        self._progress = progress

    def _send(self, n: int) -> None:
        if self._progress is not None:
            self._progress.update(n)


class _QueueReport(_Report):
    """In a joblib worker: put the count on a manager queue that a thread of the caller drains."""

    def __init__(self, queue) -> None:
        super().__init__()
        self._queue = queue

    def _send(self, n: int) -> None:
        self._queue.put(n)


class _EventReport(_Report):
    """On a Dask worker: a structured event on the topic the client subscribes to."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self._topic = topic

    def _send(self, n: int) -> None:
        import_distributed().get_worker().log_event(self._topic, n)
