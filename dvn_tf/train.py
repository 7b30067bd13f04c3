"""Train a scenario: python -m dvn_tf.train --scenario=NAME --workdir=DIR [--config.KEY=VALUE ...]

With no flags it trains the embedded `digits` scenario into runs/digits.
`--images=[NAME=]PATH` (repeatable) trains the `images` scenario on your own
folders of images instead: one task per folder of CLASS sub-folders, two
(coarse and fine) per GROUP/CLASS tree.
Writes DIR/results.json, DIR/results.md, DIR/model.keras, DIR/config.json,
per-epoch checkpoints (a killed run resumes) and TensorBoard logs.
"""

import importlib
import json
import os
import shutil
import sys
import tempfile

DEFAULT_SCENARIO = "digits"
IMAGES_SCENARIO = "images"


def print_error(message):
    """The CLI's one error line, on stderr."""
    print(f"dvn_tf.train: error: {message}", file=sys.stderr, flush=True)


def fail(message, status=2):
    """Exit with a one-line error; status 2 for bad input, 1 for a run that failed."""
    print_error(message)
    sys.exit(status)


def abandon_cluster(message):
    """Exit at once with a one-line error, status 1, after a worker of the cluster was lost.

    A normal exit shuts TensorFlow's cluster down, and that waits for the lost
    worker: measured 50 s after the line was printed. The last finished epoch's
    checkpoint is on disk already, so nothing is lost by not waiting.
    """
    print_error(message)
    sys.stdout.flush()
    os._exit(1)


def scenario_from_argv(argv):
    """The --scenario value, read before flags are defined (the config flag depends on it).

    Without one, `images` when --images is given, else the default scenario.
    """
    scenario = flag_value(argv, "scenario")
    if scenario is not None:
        return scenario
    if any(arg == "--images" or arg.startswith("--images=") for arg in argv):
        return IMAGES_SCENARIO
    return DEFAULT_SCENARIO


def flag_value(argv, name):
    """The value of --NAME=VALUE or --NAME VALUE in argv, read before flags are defined, or None."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def known_scenarios():
    """The scenario names: the modules in configs/."""
    return sorted(f[:-3] for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "configs"))
                  if f.endswith(".py") and not f.startswith("_") and f != "common.py")


def load_scenario_config(name):
    """get_config() of configs/NAME.py, or a one-line error naming the known scenarios."""
    known = known_scenarios()
    if name not in known:
        fail(f"unknown scenario {name!r}; choose one of: {', '.join(known)}")
    return importlib.import_module(f"configs.{name}").get_config()


def finished_run_config(run, argv):
    """The config of the finished run that --from=RUN grows: RUN's saved fields over its
    scenario's defaults, for the command line's --config overrides to apply to."""
    from dvn_tf.grow import GrowError, finished_run_config as saved_config
    if flag_value(argv, "scenario") is not None:
        fail(f"--from={run} trains RUN's scenario; drop --scenario")
    try:
        saved = saved_config(run)
    except GrowError as error:
        fail(str(error))
    config = load_scenario_config(saved["scenario"])
    for key, value in saved.items():
        config[key] = value
    return config


def check_writable(workdir):
    """Create workdir, or fail with one line if it cannot be written."""
    try:
        os.makedirs(workdir, exist_ok=True)
        # A private probe: the workers of a multi-worker run check one shared workdir at once.
        with tempfile.TemporaryFile(dir=workdir):
            pass
    except OSError as error:
        fail(f"cannot write to workdir {workdir!r} ({error.strerror}); pass a writable --workdir")


def holds_another_run(config, workdir):
    """Whether workdir holds a run (finished or not) of a config other than `config`."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return False
    from dvn_tf.files import read_json  # no TensorFlow yet: its start-up stays quiet
    saved, current = read_json(path), json.loads(config.to_json())
    defaults = json.loads(load_scenario_config(config.scenario).to_json())
    # A field added to the project after the run was saved changes nothing at its default.
    added = {key: value for key, value in current.items() if key not in saved}
    return ({key: value for key, value in current.items() if key in saved} != saved
            or any(key not in defaults or defaults[key] != value for key, value in added.items()))


def check_same_run(config, workdir):
    """Refuse to resume a workdir that holds a run of another config."""
    if holds_another_run(config, workdir):
        fail(f"{workdir} holds a run with another config; pass a new --workdir "
             f"or delete {workdir} to start over")


def private_copy(workdir):
    """A temporary copy of workdir's checkpoints and finished stages, for a non-chief worker.

    Only the chief writes the workdir; every other worker writes a private copy
    and resumes from the chief's last finished epoch, which the copy holds when
    the workdir is on a filesystem every worker sees.
    """
    private = tempfile.mkdtemp(prefix="dvn-worker-")
    if os.path.isdir(workdir):
        shutil.copytree(workdir, private, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("tensorboard", ".tmp-*"))
    return private


def run(config, workdir):
    """Train, evaluate and report one scenario into workdir."""
    from dvn_tf.strategies import worker_failures

    with worker_failures(config.strategy, config.worker_timeout):
        return train_and_report(config, workdir)


def train_and_report(config, workdir):
    """run(), with the distribution strategy's failures left as TensorFlow raises them."""
    import keras

    from dvn_tf import experiment
    from dvn_tf.data import load_tasks
    from dvn_tf.expected_time import expected_time_line
    from dvn_tf.files import write_text_atomically
    from dvn_tf.methods import run_method
    from dvn_tf.strategies import make_strategy

    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    strategy = make_strategy(config.strategy, config.worker_timeout)
    if not strategy.extended.should_checkpoint:  # a non-chief worker: the chief writes workdir
        workdir = private_copy(workdir)
    experiment.set_precision(config)
    if config.get("grown_from"):
        from dvn_tf.grow import run_grown
        write_text_atomically(os.path.join(workdir, "config.json"), config.to_json(indent=2))
        results = run_grown(config, workdir, strategy)
    else:
        tasks = load_tasks(config, workdir)
        write_text_atomically(os.path.join(workdir, "config.json"), config.to_json(indent=2))
        print(f"{config.scenario}: method {config.method}, tasks "
              f"{', '.join(t.name for t in tasks)}, backbone {config.backbone}, k={config.units}")
        expected = expected_time_line(config, tasks)
        if expected:
            print(expected)
        results = run_method(config, tasks, workdir, strategy)
    markdown = experiment.results_markdown(results)
    write_text_atomically(os.path.join(workdir, "results.json"), json.dumps(results, indent=2))
    write_text_atomically(os.path.join(workdir, "results.md"), markdown)
    print(markdown)
    return results


def prepare_images(config, workdir, image_flags, grown_from=None, task_flags=()):
    """Set the tasks of --images (and --from, --task) and decode the folders that the workdir
    does not hold yet.

    Every check (task names, folder layouts, readable images, the workdir's
    run, what --from allows) comes before anything is written; returns the
    PreparedFolders to save.
    """
    from dvn_tf.data.folder_cache import FolderError, image_flag_tasks, prepare_folders
    from dvn_tf.grow import GrowError, finished_run_config as saved_config, grow_config
    try:
        if grown_from:
            new_specs = image_flag_tasks(image_flags or ()) + [task_spec(t) for t in task_flags]
            grow_config(config, grown_from, saved_config(grown_from), new_specs, workdir)
        elif task_flags:
            fail("--task adds a task to a finished run: use it with --from=RUN (a scenario's "
                 "tasks are --config.tasks)")
        elif image_flags:
            if config.scenario != IMAGES_SCENARIO:
                fail(f"--images sets the tasks of the {IMAGES_SCENARIO} scenario; drop "
                     f"--scenario={config.scenario}")
            config.tasks = tuple(image_flag_tasks(image_flags))
        elif config.scenario == IMAGES_SCENARIO and not config.tasks:
            fail("the images scenario trains on your folders: pass --images=PATH, a folder "
                 "with one sub-folder of images per class")
        decodes = prepare_folders(config, workdir)
        check_same_run(config, workdir)
        return [decode() for decode in decodes]
    except (FolderError, GrowError) as error:
        fail(str(error))


def task_spec(text):
    """The task spec dict of a --task=JSON value."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"--task={text}: not JSON ({error.msg}); pass e.g. --task='{{\"name\": "
             f"\"shoes\", \"dataset\": \"fashion_mnist\", \"classes\": [5, 7, 9]}}'")
    if not isinstance(spec, dict) or not {"name", "dataset"} <= set(spec):
        fail(f"--task={text}: a task spec is a JSON object with at least name and dataset")
    return spec


def main(argv):
    """Entry point after flag parsing."""
    from absl import flags, logging
    if not flags.FLAGS["verbosity"].present:  # no library INFO lines (tfds logs each split it opens)
        logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; flags look like --scenario=NAME --config.KEY=VALUE")
    config = flags.FLAGS.config
    workdir = flags.FLAGS.workdir or os.path.join("runs", config.scenario)
    prepared = prepare_images(config, workdir, flags.FLAGS.images, flags.FLAGS["from"].value,
                              flags.FLAGS.task or ())
    check_writable(workdir)
    for folder in prepared:
        folder.save()
    from dvn_tf.quiet import import_tensorflow_quietly
    import_tensorflow_quietly()
    from dvn_tf.data import DataNotPreparedError
    from dvn_tf.strategies import WorkerLostError
    try:
        run(config, workdir)
    except (DataNotPreparedError, ValueError) as error:
        fail(str(error).splitlines()[0])
    except WorkerLostError as error:
        abandon_cluster(str(error))


def cli():
    """Define flags for the scenario named on the command line, then run."""
    from absl import app, flags
    from ml_collections import config_flags

    grown_from = flag_value(sys.argv[1:], "from")
    config = (finished_run_config(grown_from, sys.argv[1:]) if grown_from
              else load_scenario_config(scenario_from_argv(sys.argv[1:])))
    flags.DEFINE_string("scenario", DEFAULT_SCENARIO, "Scenario: a module in configs/.")
    flags.DEFINE_string(
        "from", None, "A finished run's workdir: add the tasks of --images and --task to it "
        "as a sequential stage (Eq. 4), into a new --workdir; RUN is never written.")
    flags.DEFINE_multi_string(
        "task", None, "With --from: a task spec as JSON, as in a config (e.g. a tfds dataset); "
        "repeatable.")
    flags.DEFINE_string("workdir", None, "Output directory (default runs/SCENARIO).")
    flags.DEFINE_multi_string(
        "images", None, "[NAME=]PATH of a folder with one sub-folder of images per class "
        "(or GROUP/CLASS sub-folders): a task of the images scenario; repeatable.")
    try:  # ml_collections reads --config.KEY overrides from sys.argv already here
        config_flags.DEFINE_config_dict(
            "config", config, "Scenario config; override fields with --config.KEY=VALUE.")
        argv = flags.FLAGS(sys.argv)
    except (AttributeError, KeyError, TypeError, IndexError) as error:
        fail(f"unknown config field {str(error).strip(chr(34))}; the fields are: "
             f"{', '.join(sorted(config.keys()))}")
    except (flags.Error, ValueError) as error:
        fail(f"{error}; see --helpfull for the flags")
    app.run(main, flags_parser=lambda _: argv)  # parsing again would repeat tuple overrides


if __name__ == "__main__":
    cli()
