"""A single background thread that runs controller jobs in order, so inference never blocks the Tk loop.

The Tk thread submits callables and polls :meth:`JobWorker.poll` from ``root.after``; only the worker thread
touches the controller while a job runs, and only the Tk thread touches widgets.
"""
import logging
import queue
import threading
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class JobResult:
    """Outcome of one job: ``value`` (ok) or ``error`` (an exception), with wall time in seconds."""
    name: str
    ok: bool
    value: object
    error: BaseException | None
    seconds: float
    on_error: str


class JobWorker:
    """Runs submitted jobs one at a time, in submission order, on a daemon thread."""

    def __init__(self):
        self._jobs = queue.Queue()
        self._results = queue.Queue()
        self.pending = 0  # touched by the submitting (Tk) thread only
        self._thread = threading.Thread(target=self._run, name="isegm-inference", daemon=True)
        self._thread.start()

    @property
    def busy(self):
        """True while a submitted job has not been collected by :meth:`poll`."""
        return self.pending > 0

    def submit(self, name, fn, on_error="status"):
        """Queue ``fn()``; ``on_error`` ('status' or 'dialog') tells the view how to report a failure."""
        self.pending += 1
        self._jobs.put((name, fn, on_error))

    def poll(self):
        """Finished jobs since the last call (list of :class:`JobResult`), oldest first."""
        done = []
        while True:
            try:
                done.append(self._results.get_nowait())
            except queue.Empty:
                break
        self.pending -= len(done)
        return done

    def stop(self):
        """Ask the thread to finish after the queued jobs."""
        self._jobs.put((None, None, None))

    def _run(self):
        while True:
            name, fn, on_error = self._jobs.get()
            if fn is None:
                return
            start = time.perf_counter()
            try:
                value = fn()
                result = JobResult(name, True, value, None, time.perf_counter() - start, on_error)
            except Exception as exc:  # reported to the view; the worker keeps serving
                if not isinstance(exc, (ValueError, FileExistsError, FileNotFoundError)):
                    logger.exception("job %s failed", name)
                result = JobResult(name, False, None, exc, time.perf_counter() - start, on_error)
            self._results.put(result)
