"""Run many re-scores: local worker processes, or a Dask cluster (one task per session).

Local: ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (the
engine runs threads; forking a process that has threads is unsafe). ``workers=0`` runs in
this process (debugging). Dask: ``--scheduler ADDRESS`` connects to a running scheduler
(workers started with ``dask worker ADDRESS --nthreads 1``: one session per process, as
each session's log handler is process-wide); ``--scheduler local:N`` starts a
``LocalCluster`` of N single-threaded worker processes for this batch.

Whatever the backend, a session that fails (its own error, or its worker dying) comes
back as a ``RescoreResult`` with ``error`` set; the batch goes on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rig.errors import ConfigError
from rig.rescore.engine import RESCORE_KEY, rescore_session
from rig.rescore.model import RescoreResult, RescoreTask

log = logging.getLogger(__name__)

ResultCallback = Callable[[RescoreResult], None]


@dataclass(frozen=True, slots=True)
class Scheduler:
    """Where a batch runs: local processes (``address`` None), a Dask LocalCluster
    (``local_workers`` set) or a Dask scheduler at ``address``."""

    workers: int = 1
    address: str | None = None
    local_workers: int | None = None

    @property
    def is_dask(self) -> bool:
        return self.address is not None or self.local_workers is not None

    def describe(self) -> str:
        if self.local_workers is not None:
            return f"Dask LocalCluster, {self.local_workers} worker process(es)"
        if self.address is not None:
            return f"Dask scheduler {self.address}"
        if self.workers == 0:
            return "this process"
        return f"{self.workers} local worker process(es)"


def parse_scheduler(scheduler: str | None, workers: int | None) -> Scheduler:
    """``--scheduler`` / ``--workers`` -> Scheduler (validated, nothing started)."""
    if scheduler is None:
        n = workers if workers is not None else min(4, os.cpu_count() or 1)
        if n < 0:
            raise ConfigError(f"--workers: must be >= 0, got {n}")
        return Scheduler(workers=n)
    if workers is not None:
        raise ConfigError("--workers: not with --scheduler (the cluster has its own workers)")
    text = scheduler.strip()
    if text.lower().startswith("local"):
        _, _, count = text.partition(":")
        try:
            n = int(count) if count else (os.cpu_count() or 1)
        except ValueError:
            raise ConfigError(f"--scheduler: use local:N with N a number, got {scheduler!r}") from None
        if n < 1:
            raise ConfigError(f"--scheduler: local:N needs N >= 1, got {n}")
        return Scheduler(local_workers=n)
    if not text:
        raise ConfigError("--scheduler: give an address such as tcp://10.0.0.5:8786 or local:N")
    return Scheduler(address=text)


# ----------------------------------------------------------------------------- sessions
def is_session_dir(path: Path) -> bool:
    return (path / "session.json").is_file()


def is_rescored(session_dir: Path) -> bool:
    import json

    try:
        header = json.loads((session_dir / "session.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(header, dict) and bool(header.get(RESCORE_KEY))


def find_sessions(paths: Iterable[Path], *, include_rescored: bool = False) -> list[Path]:
    """Session folders named directly, or found anywhere under the folders given (sorted,
    each once). Re-scored sessions found under a tree are left out unless asked for."""
    found: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{path}: no such folder")
        if is_session_dir(path):
            found[path] = None
            continue
        if not path.is_dir():
            raise ConfigError(f"{path}: not a session folder or a folder of sessions")
        for root, dirs, files in os.walk(path):
            dirs.sort()
            if "session.json" in files:
                candidate = Path(root)
                if include_rescored or not is_rescored(candidate):
                    found[candidate] = None
                dirs[:] = []  # a session folder holds no sessions (its report/ is not one)
    return sorted(found)


# ----------------------------------------------------------------------------- running
def _failed(task: RescoreTask, err: BaseException) -> RescoreResult:
    return RescoreResult(task.session_dir, error=f"worker failed: {type(err).__name__}: {err}")


def run_batch(
    tasks: Sequence[RescoreTask], scheduler: Scheduler, on_result: ResultCallback | None = None
) -> list[RescoreResult]:
    """Run every task; results in the order of ``tasks``; ``on_result`` as each finishes."""
    results: dict[int, RescoreResult] = {}

    def done(i: int, result: RescoreResult) -> None:
        results[i] = result
        if on_result is not None:
            on_result(result)

    if not tasks:
        return []
    if scheduler.is_dask:
        _run_dask(tasks, scheduler, done)
    elif scheduler.workers == 0:
        for i, task in enumerate(tasks):
            done(i, rescore_session(task))
    else:
        _run_local(tasks, scheduler.workers, done)
    return [results[i] for i in range(len(tasks))]


def _run_local(tasks: Sequence[RescoreTask], workers: int, done: Callable[[int, RescoreResult], None]) -> None:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(rescore_session, task): i for i, task in enumerate(tasks)}
        try:
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                try:
                    result = future.result()
                except Exception as err:  # the worker process died (BrokenProcessPool...)
                    result = _failed(tasks[i], err)
                done(i, result)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


def _run_dask(tasks: Sequence[RescoreTask], scheduler: Scheduler, done: Callable[[int, RescoreResult], None]) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError(
            "--scheduler: Dask is not installed here: pip install 'optorig[cluster]'"
        ) from None
    import logging

    # distributed logs every connection at INFO through its own handler; keep the batch's
    # progress lines readable unless the user asked for more (rig -v).
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core", "distributed.http.proxy"):
            logging.getLogger(name).setLevel(logging.WARNING)
    cluster = None
    if scheduler.local_workers is not None:
        import dask

        # The worker's statistical profiler samples every thread's stack every 10 ms under
        # the GIL; with the engine's own threads that slowed each session ~2-3x here.
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(
                n_workers=scheduler.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler.address, timeout=30)
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"--scheduler: cannot reach the Dask scheduler at {scheduler.address}: {err}") from err
        log.info("Dask dashboard (progress of every task): %s", client.dashboard_link)
    try:
        futures = {}
        for i, task in enumerate(tasks):
            key = f"rescore-{i}-{Path(task.session_dir).name}"
            futures[client.submit(rescore_session, task, key=key, pure=False)] = i
        for future in as_completed(list(futures)):
            i = futures[future]
            try:
                result = future.result()
            except Exception as err:  # KilledWorker, lost connection, unpicklable...
                result = _failed(tasks[i], err)
            done(i, result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- report
def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _test_phase(result: RescoreResult) -> tuple[float | None, float | None]:
    """(stim %, PI) of the second phase (the test of baseline/test/post), else the only one."""
    if not result.phases:
        return None, None
    phase = result.phases[1] if len(result.phases) > 1 else result.phases[0]
    return phase[1], phase[2]


def format_results_table(results: Sequence[RescoreResult]) -> str:
    """The end-of-batch table: one line per session, failed ones with their error."""
    header = f"{'session':<44} {'animal':<10} {'result':<10} {'frames':>7} {'stim%':>6} {'PI':>6} {'diff':>6} {'wall s':>7}  new folder / error"
    lines = [header, "-" * len(header)]
    for r in results:
        stim_pct, pi = _test_phase(r)
        status = ("ok" if r.end_reason == "completed" else r.end_reason[:10]) if r.ok else "FAILED"
        where = str(r.output_dir) if r.ok else (r.error or r.end_reason)
        lines.append(
            f"{Path(r.session_dir).name[:44]:<44} {r.animal_id[:10]:<10} {status:<10} {r.frames:>7} "
            f"{_fmt(stim_pct, '.1f'):>6} {_fmt(pi, '+.2f'):>6} {_fmt(r.difference_score_pct, '+.1f'):>6} "
            f"{r.wall_s:>7.1f}  {where}"
        )
    n_ok = sum(r.ok for r in results)
    lines.append(f"{n_ok} of {len(results)} session(s) re-scored" + (
        f"; {len(results) - n_ok} failed" if n_ok < len(results) else ""
    ))
    lines.append("stim% and PI: second phase (the test phase of a baseline/test/post protocol); diff: test - baseline stim %")
    return "\n".join(lines)
