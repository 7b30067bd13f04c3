"""Several tasks in one process under one memory budget: one level per task, switched live.

The same BudgetPolicy as for one task chooses a step on a ladder of joint
configurations: from every task at its lowest level to every task at its top
level, each step raising one task by one level, the task that is lowest first
(ties: the order the tasks were given). A step costs the sum of its levels'
memory costs. Tasks switch make-before-break one at a time, the ones that go
down before the ones that go up, so the budget is never exceeded by more than
one task's switch.
"""

import logging
import threading

from dvn_runtime.cutout import SharedFiles
from dvn_runtime.policy import DOWNGRADE, UPGRADE, BudgetPolicy
from dvn_runtime.runtime import (INITIAL, MemoryMonitor, MemoryWatched, TaskRuntime,
                                 read_available_memory)

log = logging.getLogger(__name__)


def joint_ladder(levels):
    """[{task: level}] from every task's lowest level to every task's top one.

    `levels` maps each task to its levels; each step raises the task whose
    level is lowest in its own list (ties: the first task in `levels`).
    """
    positions = {task: 0 for task in levels}
    ladder = [{task: levels[task][0] for task in levels}]
    while any(positions[task] < len(levels[task]) - 1 for task in levels):
        task = min((t for t in levels if positions[t] < len(levels[t]) - 1),
                   key=lambda t: positions[t])
        positions[task] += 1
        ladder.append({**ladder[-1], task: levels[task][positions[task]]})
    return ladder


class JointPolicy:
    """A BudgetPolicy over the joint ladder of several tasks: each reading gives {task: level}.

    Its JS and Java ports (web_demo/src/policy.js, the Android core's JointPolicy)
    pass the same tests/fixtures/joint_ladder_vectors.json.

    Args:
      costs: {task: {level: memory cost in bytes}} of the levels each task may
        use, tasks in priority order for ties on the ladder.
      policy_options: BudgetPolicy's margins and upgrade rule, over the ladder's
        steps, each costing the sum of its levels' costs.
    """

    def __init__(self, costs, **policy_options):
        self.ladder = joint_ladder({task: sorted(levels) for task, levels in costs.items()})
        self.step_costs = {step: sum(costs[task][level] for task, level in config.items())
                           for step, config in enumerate(self.ladder, 1)}
        self.policy = BudgetPolicy(self.step_costs, **policy_options)

    def update(self, available):
        """Feeds one reading of available bytes; returns {task: level} to serve now."""
        return self.ladder[self.policy.update(available) - 1]


class MultiTaskRuntime(MemoryWatched):
    """Classifies for several tasks at once, with the joint levels that fit one memory budget.

    Args:
      manifest: a loaded Manifest.
      tasks: task names, in priority order for ties on the ladder.
      read_available: function returning available bytes (injectable for tests).
      num_threads: LiteRT threads per interpreter.
      cap, floor: highest and lowest level any task may use.
      policy_options: BudgetPolicy's margins and upgrade rule (margin_fraction,
        margin_bytes, headroom_bytes, upgrade_after), over the ladder's steps,
        whose costs are the summed ``arena_bytes`` of their levels.
    """

    def __init__(self, manifest, tasks, read_available=read_available_memory, num_threads=None,
                 cap=None, floor=None, **policy_options):
        if not tasks or len(set(tasks)) != len(tasks):
            raise ValueError(f"give one or more distinct tasks, got {list(tasks)}")
        self.manifest = manifest
        self._shared_files = SharedFiles()
        self.runtimes = {name: TaskRuntime(manifest, name, read_available=read_available,
                                           num_threads=num_threads,
                                           shared_files=self._shared_files)
                         for name in tasks}
        allowed = {name: [lv for lv in sorted(manifest.models_for(name))
                          if (cap is None or lv <= cap) and (floor is None or lv >= floor)]
                   for name in tasks}
        for name, levels in allowed.items():
            if not levels:
                raise ValueError(f"no level is allowed for task {name!r}: levels "
                                 f"{sorted(manifest.models_for(name))}, floor={floor!r}, "
                                 f"cap={cap!r}.")
        costs = {name: manifest.costs(name) for name in tasks}
        self.joint = JointPolicy({name: {level: costs[name][level] for level in levels}
                                  for name, levels in allowed.items()}, **policy_options)
        self.ladder, self.policy = self.joint.ladder, self.joint.policy
        self.switches = []
        self._lock = threading.Lock()
        self._read_available = read_available
        self._monitor = MemoryMonitor(self.observe, read_available, "+".join(tasks))

    @property
    def levels(self):
        """{task: level served now (None before the first reading)}."""
        return {name: runtime.level for name, runtime in self.runtimes.items()}

    def observe(self, available):
        """Feeds one memory reading to the policy and switches the tasks it moves; returns their SwitchEvents."""
        with self._lock:
            target = self.joint.update(available)
            current = self.levels
            order = sorted(target, key=lambda name: current[name] is not None
                           and target[name] > current[name])
            events = []
            for name in order:
                if current[name] is None:
                    reason = INITIAL
                elif target[name] != current[name]:
                    reason = DOWNGRADE if target[name] < current[name] else UPGRADE
                else:
                    continue
                event = self.runtimes[name].serve(target[name], reason, available)
                if event is not None:
                    events.append(event)
            self.switches.extend(events)
            return events

    def classify(self, task, image, top_k=5):
        """Classifies `image` for `task`: ([(label, score)] best first, level)."""
        if task not in self.runtimes:
            raise ValueError(f"task {task!r} is not served; served tasks: {list(self.runtimes)}")
        if self.runtimes[task].level is None:
            self.observe(self._read_available())
        return self.runtimes[task].classify(image, top_k)

    def close(self):
        """Stops monitoring and frees every served model."""
        self.stop()
        for runtime in self.runtimes.values():
            runtime.close()
        self._shared_files.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
