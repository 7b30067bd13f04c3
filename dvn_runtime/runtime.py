"""Live runtime for one task: serves ``classify`` while switching levels with free memory."""

import dataclasses
import logging
import threading
import time

import numpy as np
import psutil

from dvn_runtime.cutout import SharedFiles
from dvn_runtime.model import ModelLoadError, load_model
from dvn_runtime.policy import BudgetPolicy
from dvn_runtime.preprocess import preprocess

log = logging.getLogger(__name__)

INITIAL = "initial"
FORCED = "forced"
RESYNC = "resync"  # back to the policy's level after force_level(None)


def read_available_memory():
    """Bytes of memory available to new allocations, as the OS reports them."""
    return psutil.virtual_memory().available


@dataclasses.dataclass(frozen=True)
class SwitchEvent:
    """One change of the level being served."""
    reason: str  # "initial", "downgrade", "upgrade", "forced" or "resync"
    from_level: object  # int, or None for the first model
    to_level: int
    duration_ms: float  # read (or cut out) + verify + load + warm up + publish the new model
    available: object  # bytes at the reading that caused it, None when forced
    task: object = None  # the task's name


class MemoryMonitor:
    """A daemon thread that feeds a memory reading to `observe` every `interval` seconds."""

    def __init__(self, observe, read_available, name):
        self._observe = observe
        self._read_available = read_available
        self._name = name
        self._thread = None
        self._stop = threading.Event()

    def start(self, interval=1.0):
        """Starts the thread."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}.")
        if self._thread is not None:
            raise RuntimeError("the memory monitor is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, args=(interval,), daemon=True,
                                        name=f"dvn-memory-{self._name}")
        self._thread.start()

    def stop(self):
        """Stops the thread, if running."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _watch(self, interval):
        while not self._stop.is_set():
            try:
                self._observe(self._read_available())
            except Exception:  # the monitor must keep running; the current models stay
                log.exception("%s: memory reading or switch failed", self._name)
            self._stop.wait(interval)


class MemoryWatched:
    """start() and stop() of the runtime's memory monitor (`self._monitor`, a MemoryMonitor)."""

    def start(self, interval=1.0):
        """Starts a daemon thread that reads memory every `interval` seconds."""
        self._monitor.start(interval)

    def stop(self):
        """Stops the memory monitor thread, if running."""
        self._monitor.stop()


class TaskRuntime(MemoryWatched):
    """Classifies images for one task with the level that fits the memory budget.

    A switch loads, allocates and warms up the new interpreter completely
    before publishing it; only then is the old one released, after the
    requests already running on it finish. So a shrinking budget loads the
    smaller model before the larger is freed, and no request fails or sees a
    half-loaded model. A model whose file fails verification is refused for
    the rest of the runtime's life and the next smaller level is used.

    Args:
      manifest: a loaded Manifest.
      task: task name.
      policy: a BudgetPolicy over the task's levels; by default one with the
        manifest's ``arena_bytes`` as costs and default margins.
      read_available: function returning available bytes (injectable for tests).
      num_threads: LiteRT threads per interpreter.
      shared_files: the cutout.SharedFiles that shared-layout levels are cut
        out of (a MultiTaskRuntime passes one for all its tasks); by default its own.
    """

    def __init__(self, manifest, task, policy=None, read_available=read_available_memory,
                 num_threads=None, shared_files=None):
        self.manifest = manifest
        self.task = manifest.task(task)
        self.models = manifest.models_for(task)
        self.policy = policy or BudgetPolicy(manifest.costs(task))
        unknown = set(self.policy.costs) - set(self.models)
        if unknown:
            raise ValueError(f"policy has levels {sorted(unknown)} that task {task!r} does "
                             f"not have; its levels are {sorted(self.models)}.")
        self.switches = []
        self._read_available = read_available
        self._num_threads = num_threads
        self._active = None
        self._active_lock = threading.Lock()  # guards the _active reference only
        self._switch_lock = threading.Lock()  # one policy update / switch at a time
        self._refused = set()
        self._forced = None
        self._own_files = shared_files is None
        self._shared_files = SharedFiles() if shared_files is None else shared_files
        self._monitor = MemoryMonitor(self.observe, read_available, self.task.name)

    @property
    def level(self):
        """Level being served now, or None before the first model is loaded."""
        active = self._active
        return active.level if active is not None else None

    def classify(self, image, top_k=5):
        """Image (path, Pillow image or uint8 array) -> ([(label, score)] best first, level)."""
        batch = preprocess(image, self.task.input)
        model = self._retain_active()
        try:
            probabilities = model.predict(batch)
        finally:
            model.release()
        best = np.argsort(-probabilities, kind="stable")[:top_k]
        return [(self.task.labels[i], float(probabilities[i])) for i in best], model.level

    def observe(self, available):
        """Feeds one memory reading to the policy; switches if needed. Returns the SwitchEvent or None."""
        with self._switch_lock:
            level = self.policy.update(available)
            if self._forced is not None:
                return None
            reason = self.policy.reason or (INITIAL if self._active is None else RESYNC)
            return self._switch(level, reason, available)

    def serve(self, level, reason, available=None):
        """Serves `level` (or the next smaller usable one) now, for a caller with its own policy.

        Returns the SwitchEvent, or None when that level is served already.
        """
        with self._switch_lock:
            return self._switch(level, reason, available)

    def force_level(self, level):
        """Serves `level` (or the next smaller usable one) until force_level(None)."""
        if level is not None and level not in self.models:
            raise ValueError(f"task {self.task.name!r} has no level {level!r}; "
                             f"its levels are {sorted(self.models)}.")
        with self._switch_lock:
            self._forced = level
            return self._switch(level, FORCED, None) if level is not None else None

    def close(self):
        """Stops monitoring and frees the served model."""
        self.stop()
        with self._switch_lock:
            with self._active_lock:
                model, self._active = self._active, None
            if model is not None:
                model.close()
        if self._own_files:
            self._shared_files.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _retain_active(self):
        while True:
            with self._active_lock:
                if self._active is not None:
                    self._active.retain()
                    return self._active
            self.observe(self._read_available())

    def _switch(self, level, reason, available):
        current = self._active
        started = time.perf_counter()
        model = self._load_at_or_below(level, current)
        if model is current:
            return None
        with self._active_lock:
            self._active = model
        event = SwitchEvent(reason, current.level if current is not None else None,
                            model.level, (time.perf_counter() - started) * 1000.0, available,
                            self.task.name)
        self.switches.append(event)
        log.info("task %s: %s, level %s -> %s in %.1f ms", self.task.name, reason,
                 event.from_level, event.to_level, event.duration_ms)
        if current is not None:
            current.close()
            log.info("task %s: released level %d", self.task.name, current.level)
        return event

    def _load_at_or_below(self, level, current):
        candidates = sorted((lv for lv in self.models if lv <= level and lv not in self._refused),
                            reverse=True)
        for candidate in candidates:
            if current is not None and candidate == current.level:
                return current
            try:
                model = load_model(self.manifest, self.models[candidate], self._num_threads,
                                   self._shared_files)
            except ModelLoadError as e:
                self._refused.add(candidate)
                log.warning("task %s: refused level %d, falling back to a smaller level: %s",
                            self.task.name, candidate, e)
                continue
            log.info("task %s: loaded level %d", self.task.name, candidate)
            return model
        raise ModelLoadError(f"task {self.task.name!r} has no usable model at level {level} "
                             f"or below (refused levels: {sorted(self._refused)}); "
                             "copy the export again")
