"""tf.distribute strategies by name, and a multi-worker cluster that never waits forever."""

import contextlib
import os
import re

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# Errors of a collective op or of the coordination service when a peer is gone or silent.
LOST_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                    tf.errors.AbortedError, tf.errors.CancelledError)


class WorkerLostError(RuntimeError):
    """A worker of the cluster died, never came up, or stopped answering within the time limit."""


class KerasMultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3's fit passes it.

    Under this strategy Keras 3 reduces a whole (nested) data batch before
    training, and each step's scalar logs with `axis=0`; the stock strategy
    rejects both (keras-team/keras#20585, tensorflow/tensorflow#72388). Here a
    nest is reduced leaf by leaf, and `axis` is ignored for scalars.
    """

    def reduce(self, reduce_op, value, axis=None):
        parent = super()

        def reduce_one(leaf):
            shape = getattr(self.experimental_local_results(leaf)[0], "shape", ())
            rank = shape.rank if isinstance(shape, tf.TensorShape) else len(shape)
            return parent.reduce(reduce_op, leaf, None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_one, value)


def make_strategy(name, worker_timeout=600):
    """The tf.distribute strategy named by `--config.strategy`.

    - default: no distribution, one device.
    - mirrored: one replica per local GPU, or on the CPU alone when there is none
      (one per logical CPU device, if the process configured several).
    - multi_worker: one replica per GPU (or the CPU) of every worker of the
      cluster in TF_CONFIG; build it before TensorFlow runs anything else.
      Every worker must come up, and every collective op must complete, within
      `worker_timeout` seconds; otherwise the run fails (see `worker_failures`).
    - tpu: the TPU named by TPU_NAME, or the TPU VM's own.
    The global batch (`--config.batch_size` per task) is split across all replicas.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return multi_worker_strategy(worker_timeout)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(os.environ.get("TPU_NAME"))
    except ValueError as error:
        raise ValueError(f"strategy 'tpu': no TPU found ({error}); set TPU_NAME or run on a "
                         f"TPU VM") from error
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def multi_worker_strategy(worker_timeout):
    """KerasMultiWorkerStrategy over TF_CONFIG's cluster, with both of its waits bounded."""
    if worker_timeout <= 0:
        raise ValueError(f"worker_timeout must be a positive number of seconds, "
                         f"got {worker_timeout}")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if resolver.task_type in ("chief", "worker"):
        bound_cluster_registration(resolver.cluster_spec(), worker_timeout)
    try:
        return KerasMultiWorkerStrategy(
            cluster_resolver=resolver,
            communication_options=tf.distribute.experimental.CommunicationOptions(
                timeout_seconds=worker_timeout))
    except RuntimeError as error:  # TensorFlow already set up its devices
        raise ValueError(f"strategy 'multi_worker' must be created before TensorFlow runs "
                         f"anything ({error})") from error


def bound_cluster_registration(cluster_spec, seconds):
    """Make the coordination service give up on a worker that has not come up after `seconds`.

    MultiWorkerMirroredStrategy configures this service with TensorFlow's default
    register timeout of an hour, unless one is configured already; no public API
    sets it, so this configures it as the strategy would, with the time limit.
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=cluster_spec.num_tasks(job))
            for job in ("chief", "worker") if job in cluster_spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster_spec),
        coordinated_jobs=jobs, cluster_register_timeout_in_ms=int(seconds * 1000))
    # Without the barrier, registration never times out; later waits take up to an hour.
    context.context().coordination_service.cluster_register_with_barrier = True


def silent_peer(error, cluster_spec, own_task):
    """'ADDRESS (/job:J/task:I)' of the first other task the error names; else of every other task."""
    tasks = cluster_spec.as_dict()
    others = [(job, index) for job, addresses in tasks.items() for index in range(len(addresses))
              if (job, index) != own_task]
    named = [(job, int(index)) for job, index in
             re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", str(error))]
    peers = [peer for peer in named if peer in others][:1] or others
    return ", ".join(f"{tasks[job][index]} (/job:{job}/task:{index})" for job, index in peers)


@contextlib.contextmanager
def worker_failures(strategy_name, worker_timeout):
    """Turn a lost or silent worker of a multi-worker run into a one-line WorkerLostError."""
    if strategy_name != "multi_worker":
        yield
        return
    try:
        yield
    except LOST_PEER_ERRORS as error:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        peer = silent_peer(error, resolver.cluster_spec(), (resolver.task_type, resolver.task_id))
        raise WorkerLostError(
            f"worker {peer} did not answer within the {worker_timeout:g} s limit "
            f"(--config.worker_timeout) or stopped; start the run again on every worker "
            f"to resume from the last finished epoch") from None
