"""tf.distribute for real, no mocks: MirroredStrategy on two logical CPU devices against the
default strategy, and MultiWorkerMirroredStrategy workers on 127.0.0.1 running the train CLI.

What the mirrored tests compare (tests/strategy_worker.py computes it in a subprocess,
because the CPU is split into two logical devices before TensorFlow starts):
- One train step (`fit`, one batch of 8 rows per task, same seed and initial weights)
  under each strategy. The global batch is split, 4 rows per task to each replica.
- Batch norm normalizes with per-replica statistics, so on an arbitrary batch a
  mirrored step is *not* the default step on the whole batch. On a batch whose
  rows 4-7 repeat rows 0-3, each replica's half has exactly the whole batch's
  statistics; there the loss, every trainable weight and every BN moving
  statistic must match the default strategy. A wrong loss scale (gradients
  summed over replicas without dividing the loss) would double the update.
- On a batch of distinct rows the mirrored step must equal the mean of two
  default steps, one on each half ("ghost batches"): the first SGD step is
  affine in the gradient, so this checks that the replicas' gradients are
  averaged, not one replica's taken.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import keras
import ml_collections
import numpy as np
import pytest

from dvn_tf import experiment, strategies
from dvn_tf.model import DVNModel
from dvn_tf.units import UnitPlan

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored") / "report.json"
    run = subprocess.run([sys.executable, os.path.join(REPO, "tests", "strategy_worker.py"),
                          str(out)], cwd=REPO, capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_mirrored_gives_each_replica_half_of_every_task_batch(mirrored):
    assert mirrored["replicas"] == 2
    assert mirrored["duplicated"]["rows_default"] == 8
    assert mirrored["duplicated"]["rows_mirrored"] == 4


@pytest.mark.slow
def test_mirrored_first_step_matches_default_where_bn_statistics_agree(mirrored):
    step = mirrored["duplicated"]
    assert step["loss_mirrored"] == pytest.approx(step["loss_default"], abs=TOLERANCE)
    assert step["weights_max_diff"] <= TOLERANCE
    assert step["replica_spread"] <= TOLERANCE


@pytest.mark.slow
def test_mirrored_step_equals_default_on_distinct_rows(mirrored):
    step = mirrored["distinct"]  # halves with other statistics: needs synchronized BN
    assert step["loss_mirrored"] == pytest.approx(step["loss_default"], abs=TOLERANCE)
    assert step["weights_max_diff"] <= TOLERANCE
    assert step["replica_spread"] <= TOLERANCE


@pytest.mark.slow
def test_mirrored_metrics_summed_over_replicas_are_exact(mirrored):
    accuracy = mirrored["evaluation"]
    for key, value in accuracy["default"].items():
        assert accuracy["default_summed"][key] == pytest.approx(value, abs=1e-6)
        assert accuracy["mirrored_summed"][key] == pytest.approx(value, abs=1e-6)


@pytest.mark.slow
def test_mirrored_evaluate_matches_default(mirrored):
    accuracy = mirrored["evaluation"]
    for key, value in accuracy["default"].items():
        assert accuracy["mirrored"][key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_mirrored_confusion_matrices_sum_the_replicas_and_skip_padding(mirrored):
    confusion = mirrored["confusion"]
    for key, counts in confusion["default"].items():
        assert confusion["mirrored"][key] == counts, key
        assert sum(map(sum, counts)) == mirrored["held_out_sizes"][key.split("_L")[0]], key
        hits = sum(counts[c][c] for c in range(len(counts)))
        assert hits / sum(map(sum, counts)) == pytest.approx(mirrored["evaluation"]["default"][key])


def local_ports(count):
    """Distinct free ports on 127.0.0.1, below the ephemeral range.

    A port from bind(0) comes from the ephemeral range, where any connection
    opened before a worker binds it (the workers' own gRPC clients among them)
    can take it; ports below that range are only ever taken on purpose.
    """
    with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
        ephemeral_low = int(file.read().split()[0])
    ports = []
    while len(ports) < count:
        port = random.randrange(10000, ephemeral_low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


class LocalCluster:
    """Train CLI workers of one multi-worker run on 127.0.0.1, each logging to files of its own.

    Output goes to files, not pipes, so a worker never blocks on a full pipe
    and both workers' logs can be shown when a test fails.
    """

    def __init__(self, workdir, logs, args):
        self.workdir, self.logs, self.args = workdir, logs, args
        self.workers, self.starts = {}, 0
        logs.mkdir()

    def start(self, size=2, indices=None):
        """Start workers `indices` (default all) of a fresh cluster of `size` workers."""
        self.starts += 1
        self.addresses = [f"127.0.0.1:{port}" for port in local_ports(size)]
        env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
        for index in range(size) if indices is None else indices:
            tf_config = {"cluster": {"worker": self.addresses},
                         "task": {"type": "worker", "index": index}}
            with open(self.log(index, "out"), "w") as out, open(self.log(index, "err"), "w") as err:
                self.workers[index] = subprocess.Popen(
                    [sys.executable, "-m", "dvn_tf.train", f"--workdir={self.workdir}",
                     "--config.strategy=multi_worker", *self.args],
                    cwd=REPO, env={**env, "CI": "1", "TF_CONFIG": json.dumps(tf_config)},
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        return [self.workers[index] for index in sorted(self.workers)]

    def log(self, index, stream):
        return self.logs / f"start{self.starts}_worker{index}.{stream}"

    def read(self, index, stream):
        return self.log(index, stream).read_text()

    def tails(self):
        """The last lines of every worker's stdout and stderr, for a failure message."""
        parts = []
        for path in sorted(self.logs.iterdir()):
            lines = path.read_text().splitlines()[-25:]
            parts.append(f"--- {path.name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def error_lines(self, index):
        return [line for line in self.read(index, "err").splitlines() if line.strip()]

    def kill(self, index):
        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait()

    def stop(self):
        for worker in self.workers.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


@pytest.fixture
def cluster(tmp_path):
    def make(*args):
        made.append(LocalCluster(tmp_path / "run", tmp_path / "logs", args))
        return made[-1]

    made = []
    yield make
    for each in made:
        each.stop()


def wait_for(condition, seconds, cluster, what):
    """Poll condition() until it holds; fail with every worker's log tail when it does not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds} s\n{cluster.tails()}")


def finished_epochs(workdir):
    path = workdir / "checkpoints" / "training_metadata.json"
    return json.loads(path.read_text() or "{}").get("epoch", 0) if path.exists() else 0


LIMIT = 30  # --config.worker_timeout of the killed-worker test, seconds


@pytest.mark.slow
def test_two_local_workers_train_survive_a_killed_worker_and_resume(cluster, tmp_path):
    """Two workers train the digits run; killing one ends the other with one line; a restart resumes.

    Three things a multi-worker user relies on, in one run so the cluster is
    paid for once: training completes on two workers (only the chief writes the
    workdir), a dead worker never leaves the chief waiting, and the run picks
    up from the last finished epoch when started again.
    """
    workers = cluster("--config.epochs=2", f"--config.worker_timeout={LIMIT}",
                      "--config.base_width=8", "--config.batch_size=64")
    chief, _ = workers.start()
    wait_for(lambda: finished_epochs(tmp_path / "run") >= 1 or chief.poll() is not None, 420,
             workers, "the chief did not finish epoch 1")
    assert chief.poll() is None and finished_epochs(tmp_path / "run") == 1, workers.tails()

    killed_at = time.monotonic()
    workers.kill(1)
    address = workers.addresses[1]
    try:
        chief.wait(timeout=LIMIT + 60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the chief still waits {LIMIT + 60} s after worker 1 died\n{workers.tails()}")
    seconds = time.monotonic() - killed_at
    print(f"the chief stopped {seconds:.1f} s after worker 1 was killed: "
          f"{workers.error_lines(0)}")
    assert chief.returncode == 1, workers.tails()
    assert workers.error_lines(0) == [
        f"dvn_tf.train: error: worker {address} (/job:worker/task:1) did not answer within the "
        f"{LIMIT} s limit (--config.worker_timeout) or stopped; start the run again on every "
        f"worker to resume from the last finished epoch"], workers.tails()
    assert seconds <= LIMIT, workers.tails()
    assert not (tmp_path / "run" / "results.json").exists()

    restarted = workers.start()
    for worker in restarted:
        try:
            worker.wait(timeout=420)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the restarted run did not finish\n{workers.tails()}")
    assert [worker.returncode for worker in restarted] == [0, 0], workers.tails()
    for index in (0, 1):  # the non-chief resumes from its copy of the chief's checkpoint
        out = workers.read(index, "out")
        assert "Resuming from epoch 1 of 2" in out and "Epoch 1/2" not in out, workers.tails()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["scenario"] == "digits"
    assert {(e["task"], e["level"]) for e in results["entries"]} == {
        ("low", 1), ("low", 2), ("high", 1), ("high", 2)}
    assert all(0.0 <= e["accuracy"] <= 1.0 for e in results["entries"])


@pytest.mark.slow
def test_a_worker_that_never_comes_up_ends_the_chief_with_one_line(cluster):
    workers = cluster("--config.epochs=1", "--config.worker_timeout=5")
    started = time.monotonic()
    (chief,) = workers.start(size=2, indices=[0])
    try:
        chief.wait(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the chief still waits for worker 1 after 300 s\n{workers.tails()}")
    print(f"the chief gave up on worker 1 after {time.monotonic() - started:.1f} s, "
          f"start-up included")
    assert chief.returncode == 1, workers.tails()
    (line,) = workers.error_lines(0)
    assert line.startswith(f"dvn_tf.train: error: worker {workers.addresses[1]} "
                           f"(/job:worker/task:1) did not answer within the 5 s limit"), line


def test_unknown_strategy_or_precision_names_the_allowed_values():
    with pytest.raises(ValueError, match="strategy must be one of default, mirrored, "
                                         "multi_worker, tpu, got 'horovod'"):
        strategies.make_strategy("horovod")
    with pytest.raises(ValueError, match="precision must be one of float32, mixed_bfloat16, "
                                         "mixed_float16, got 'float16'"):
        experiment.set_precision(ml_collections.ConfigDict({"precision": "float16"}))


@pytest.mark.parametrize("precision, compute, optimizer", [
    ("mixed_bfloat16", "bfloat16", "SGD"),
    ("mixed_float16", "float16", "LossScaleOptimizer"),
])
@pytest.mark.slow
def test_mixed_precision_trains_with_float32_weights_and_logits(precision, compute, optimizer):
    try:
        experiment.set_precision(ml_collections.ConfigDict({"precision": precision}))
        model = DVNModel(["a"], [3], UnitPlan.from_rule(1, 2, "nearest"), (8, 8, 1),
                         backbone="resnet-8", base_width=4)
        model.build()
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    images = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype("float32")
    assert model.stages[0](images, task=0, level=2).dtype == compute
    assert model(images, task=0, level=1).dtype == "float32"
    assert {v.dtype for v in model.weights} == {"float32"}
    assert type(model.optimizer).__name__ == optimizer
    logs = model.train_on_batch({"a": (images, np.arange(8, dtype="int32") % 3)}, return_dict=True)
    assert np.isfinite(logs["loss"])


@pytest.mark.slow
def test_mixed_bfloat16_trains_a_digits_epoch(tmp_path):
    from configs import digits
    from dvn_tf.train import run

    config = digits.get_config()
    config.update({"epochs": 1, "precision": "mixed_bfloat16", "base_width": 8, "batch_size": 64})
    try:
        results = run(config, str(tmp_path))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(results))
    assert all(0.0 <= e["accuracy"] <= 1.0 for e in results["entries"])
