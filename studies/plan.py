"""What a study plans: its checked runs, where each trains, and where its exports go.

A study (configs/studies/NAME.py) is a list of (scenario, method label, config
overrides) runs, repeated over seeds. Each run trains into
DIR/SCENARIO/LABEL/seedS; a run named in the study's `int8` or `float` list is
also exported into that directory's tflite_int8/ or tflite_float/. Both the
runner (which fills this layout) and the report (which reads it) use this module.
"""

import importlib
import os

STUDIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "studies")
# A study's optional export fields, each a list of run labels, and the --quantize of each.
EXPORTS = {"int8": "int8", "float": "none"}


class StudyError(Exception):
    """Bad input, reported as one line."""


def known_studies():
    """The study names: the modules in configs/studies/."""
    return sorted(f[:-3] for f in os.listdir(STUDIES)
                  if f.endswith(".py") and not f.startswith("_") and f != "common.py")


def load_study(name):
    """The checked study dict of configs/studies/NAME.py: {'seeds', 'int8', ['float',] 'runs'}."""
    if name not in known_studies():
        raise StudyError(f"unknown study {name!r}; choose one of: {', '.join(known_studies())}")
    study = importlib.import_module(f"configs.studies.{name}").get_study()
    check_study(study)
    return study


def check_study(study):
    """Raise StudyError unless every run names a known scenario, a label and config fields."""
    from dvn_tf.train import known_scenarios

    labels = set()
    for scenario, label, overrides in study["runs"]:
        if scenario not in known_scenarios():
            raise StudyError(f"run {label!r}: unknown scenario {scenario!r}; choose one of: "
                             f"{', '.join(known_scenarios())}")
        if (scenario, label) in labels:
            raise StudyError(f"run {label!r} of {scenario} appears twice; give each run a label")
        labels.add((scenario, label))
        config = scenario_config(scenario)
        unknown = sorted(set(overrides) - set(config.keys()))
        if unknown:
            raise StudyError(f"run {label!r}: unknown config fields {', '.join(unknown)}")
    named = {label for _, label in labels}
    for field in EXPORTS:
        unknown = sorted(set(study.get(field, ())) - named)
        if unknown:
            raise StudyError(f"{field} names {', '.join(map(repr, unknown))}, which no run has")
    for pair in study.get("pairs", ()):
        unknown = sorted(set(pair) - named)
        if unknown:
            raise StudyError(f"pair {' - '.join(pair)} names {', '.join(map(repr, unknown))}, "
                             f"which no run has")


def scenario_config(scenario):
    """get_config() of configs/SCENARIO.py."""
    return importlib.import_module(f"configs.{scenario}").get_config()


def run_config(scenario, label, overrides, seed):
    """The config of one run: the scenario's, with the overrides, the method and the seed."""
    config = scenario_config(scenario)
    config.update({"method": label, **overrides, "seed": seed})
    return config


def run_dir(workdir, scenario, label, seed):
    """Where one run of a study trains."""
    return os.path.join(workdir, scenario, label, f"seed{seed}")


def is_finished(directory):
    """Whether a run finished: it writes results.json last."""
    return os.path.isfile(os.path.join(directory, "results.json"))


def planned_runs(study, seeds, workdir):
    """[(seed, scenario, label, config, directory)], seed by seed, in the study's order."""
    return [(seed, scenario, label, run_config(scenario, label, overrides, seed),
             run_dir(workdir, scenario, label, seed))
            for seed in range(seeds) for scenario, label, overrides in study["runs"]]


def export_manifest(directory, field):
    """Where a run's export for a study field ('int8', 'float') writes its manifest, last."""
    return os.path.join(directory, f"tflite_{field}", "manifest.json")


def pending_exports(study, label, directory):
    """The study's export fields that name this run's label and have no manifest yet."""
    return [field for field in EXPORTS if label in study.get(field, ())
            and not os.path.isfile(export_manifest(directory, field))]
