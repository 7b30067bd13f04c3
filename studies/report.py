"""study.md and study.png of a study: means and spreads over seeds, through dvn_tf.compare.

Accuracy is a mean over the finished seeds with its sample standard deviation
(n - 1). Two methods tie at a budget when their means differ by at most one
standard error of the difference (Welch: sqrt(s1^2/n1 + s2^2/n2)); that is
dvn_tf.compare's rule, which writes the tables and the plot.
"""

import collections
import math
import os

from dvn_runtime.per_class import worst_class
from dvn_tf import compare
from dvn_tf.files import read_json, write_text_atomically
from studies.plan import export_manifest, run_dir

LAST_EPOCHS = 5  # epochs of held-out accuracy that study.md lists per method, to show a plateau
GAIN_EPOCHS = 3  # the gain column: accuracy after the last epoch minus this many epochs before
STATISTIC = ("Accuracy: mean ± sample std (n - 1) over seeds, on held-out data. Winner per "
             "budget: the best mean; another method ties with it when the difference of the "
             "means is at most one standard error of that difference (Welch's "
             "sqrt(s1²/n1 + s2²/n2)), so \"tie\" means the data cannot separate them.")


def mean_std(values):
    """(mean, sample standard deviation; 0 for one value) of a list of numbers."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def mean_cell(values, signed=False):
    """The mean of values over seeds with its spread, as dvn_tf.compare writes it."""
    return compare.spread_cell(*mean_std(values), len(values), signed)


def mean_entries(entry_lists):
    """One entry per (task, level) of the first list: accuracy mean, accuracy_std, seeds."""
    means = []
    for first in entry_lists[0]:
        values = [e["accuracy"] for entries in entry_lists for e in entries
                  if (e["task"], e["level"]) == (first["task"], first["level"])]
        mean, std = mean_std(values)
        means.append({**first, "accuracy": mean, "accuracy_std": std, "seeds": len(values)})
    return means


def finished_runs(study, seeds, workdir):
    """{scenario: [(label, [(seed, results, directory)])]} of the runs that finished, study order."""
    found = {}
    for scenario, label, _ in study["runs"]:
        done = []
        for seed in range(seeds):
            directory = run_dir(workdir, scenario, label, seed)
            if os.path.isfile(os.path.join(directory, "results.json")):
                done.append((seed, read_json(os.path.join(directory, "results.json")), directory))
        if done:
            found.setdefault(scenario, []).append((label, done))
    return found


def mean_results(label, done):
    """A results document of means over seeds, as dvn_tf.compare reads it."""
    first = done[0][1]
    return {"scenario": first["scenario"], "method": label, "entries":
            mean_entries([results["entries"] for _, results, _ in done]),
            "stored_params": first["stored_params"]}


def stage_lines(label, done):
    """Rows of each old task's accuracy after every stage and its forgetting (first - last),
    and rows of the forgetting of every seed in points."""
    stages = [[s["entries"] for s in results["stages"]] for _, results, _ in done]
    lines, seed_lines = [], []
    for first in stages[0][0]:
        key = (first["task"], first["level"])
        per_seed = [[next(e["accuracy"] for e in stage if (e["task"], e["level"]) == key)
                     for stage in run] for run in stages]
        after = [mean_cell(list(column)) for column in zip(*per_seed)]
        forgotten = [run[0] - run[-1] for run in per_seed]
        lines.append(f"| {label} | {key[0]} | {key[1]} | " + " | ".join(after)
                     + f" | {mean_cell(forgotten, signed=True)} |")
        seed_lines.append(f"| {label} | {key[0]} | {key[1]} | "
                          + ", ".join(f"{seed}: {100 * points:.1f}"
                                       for (seed, _, _), points in zip(done, forgotten))
                          + f" | {100 * max(forgotten):.1f} |")
    return lines, seed_lines, len(stages[0])


def stages_section(runs):
    """The old tasks' accuracy after every stage, and the forgetting of every seed, for the
    sequential runs."""
    sequential = [(label, done) for label, done in runs if "stages" in done[0][1]]
    if not sequential:
        return []
    rows, seed_rows, count = [], [], 0
    for label, done in sequential:
        lines, seed_lines, count = stage_lines(label, done)
        rows += lines
        seed_rows += seed_lines
    return (["### Accuracy after every stage and forgetting", "",
             "Forgetting: accuracy after learning the task minus after the last stage, per "
             "seed (positive: forgotten).", "",
             "| method | task | level | " + " | ".join(f"after stage {i + 1}" for i in range(count))
             + " | forgetting |", "| --- | --- | ---: |" + " ---: |" * (count + 1)]
            + rows + ["", "Forgetting of every seed, in points (seed: points), and the worst "
                      "seed's:", "", "| method | task | level | per seed | worst |",
                      "| --- | --- | ---: | --- | ---: |"]
            + seed_rows + [""])


def pairs_section(means, study):
    """Each of the study's (method, against) pairs at every (task, level) they share.

    The difference of the means in points and in Welch standard errors, and
    the verdict by the ties rule of the tables: ahead or behind when the
    difference passes one standard error, else a tie.
    """
    by_label = dict(means)
    rows = []
    for method, against in study.get("pairs", ()):
        if method not in by_label or against not in by_label:
            continue
        theirs = {(e["task"], e["level"]): e for e in by_label[against]["entries"]}
        for entry in by_label[method]["entries"]:
            other = theirs.get((entry["task"], entry["level"]))
            if other is None or min(entry["seeds"], other["seeds"]) < 2:
                continue
            difference = entry["accuracy"] - other["accuracy"]
            error = compare.standard_error_of_difference(entry, other)
            verdict = ("tie" if abs(difference) <= error
                       else f"{method} {'ahead' if difference > 0 else 'behind'}")
            in_errors = f"{difference / error:+.1f}" if error else "-"
            rows.append(f"| {method} - {against} | {entry['task']} | {entry['level']} | "
                        f"{entry['params']:,} / {other['params']:,} | {100 * difference:+.2f} | "
                        f"{in_errors} | {verdict} |")
    if not rows:
        return []
    return (["### Method against method, per budget", "",
             "Difference of the mean accuracies in points, and in Welch standard errors of "
             "that difference; a tie when it is at most one standard error.", "",
             "| pair | task | level | params | difference (points) | in standard errors "
             "| verdict |", "| --- | --- | ---: | ---: | ---: | ---: | --- |"] + rows + [""])


def curves_by_level(done):
    """{(task, level): [each seed's held-out accuracy after every epoch]} of one method's runs."""
    curves = {}
    for _, results, _ in done:
        for e in results["entries"]:
            if e.get("accuracy_by_epoch"):
                curves.setdefault((e["task"], e["level"]), []).append(e["accuracy_by_epoch"])
    return curves


def convergence_section(runs):
    """Per method and (task, level): held-out accuracy after each of the last epochs, and its gain.

    From the accuracies fit's validation measured after every epoch
    (results.json's accuracy_by_epoch), mean over seeds; a gain near 0 says
    the method had stopped learning.
    """
    rows = []
    for label, done in runs:
        for (task, level), per_seed in curves_by_level(done).items():
            epochs = min(map(len, per_seed))
            means = [sum(curve[epoch] for curve in per_seed) / len(per_seed)
                     for epoch in range(max(0, epochs - LAST_EPOCHS), epochs)]
            span = min(GAIN_EPOCHS, epochs - 1)
            gain = (mean_cell([curve[epochs - 1] - curve[epochs - 1 - span] for curve in per_seed],
                              signed=True) if span else "-")
            rows.append(f"| {label} | {task} | {level} | {epochs} | "
                        f"{', '.join(f'{m:.4f}' for m in means)} | {gain} |")
    if not rows:
        return []
    return (["### Held-out accuracy over the last epochs", "",
            f"After each of the last {LAST_EPOCHS} epochs (oldest first), mean over seeds, as "
            f"fit's validation measured it; gain: after the last epoch minus {GAIN_EPOCHS} "
            f"epochs before, per seed (near 0: stopped learning).", "",
            f"| method | task | level | epochs | last {LAST_EPOCHS} epochs | "
            f"gain over the last {GAIN_EPOCHS} |", "| --- | --- | ---: | ---: | --- | ---: |"]
            + rows + [""])


def worst_class_section(runs):
    """Per method and budget: the recall of each seed's worst class, mean ± std, and which class.

    The worst class is each seed's class of lowest held-out recall
    (results.json's per_class); seeds may disagree on which class it is, so
    the last column counts the seeds per class. Runs from before per-class
    results are left out.
    """
    rows = []
    for label, done in runs:
        worst = {}  # (task, level, params) -> [(recall, class name)], one per seed
        for _, results, _ in done:
            labels = {task["name"]: task.get("labels") for task in results.get("tasks", [])}
            for e in results["entries"]:
                index = worst_class(e["per_class"]["recall"]) if "per_class" in e else None
                if index is not None:
                    worst.setdefault((e["task"], e["level"], e["params"]), []).append(
                        (e["per_class"]["recall"][index], labels[e["task"]][index]))
        for (task, level, params), found in worst.items():
            classes = collections.Counter(name for _, name in found).most_common()
            rows.append(f"| {label} | {task} | {level} | {params:,} | "
                        f"{mean_cell([recall for recall, _ in found])} | "
                        f"{', '.join(f'{name} ({count})' for name, count in classes)} |")
    if not rows:
        return []
    return (["### Worst class per budget", "",
             "Held-out recall of each seed's worst class (its class of lowest recall), mean ± "
             "std over seeds; the classes that were worst, with their number of seeds.", "",
             "| method | task | level | params | worst-class recall | worst class (seeds) |",
             "| --- | --- | ---: | ---: | ---: | --- |"] + rows + [""])


def exported_models(label, done, study, field):
    """The "models" lists of the manifests of a label's runs exported for a study field, by seed."""
    if label not in study.get(field, ()):
        return []
    manifests = [export_manifest(directory, field) for _, _, directory in done]
    return [read_json(path)["models"] for path in manifests if os.path.isfile(path)]


def same_model(models, first):
    """The entries of every seed's models list with first's (task, level)."""
    key = (first["task"], first["level"])
    return [m for run in models for m in run if (m["task"], m["level"]) == key]


def int8_section(runs, study):
    """Float vs int8 held-out accuracy per (task, level), mean over seeds, of the int8 exports."""
    lines = []
    for label, done in runs:
        models = exported_models(label, done, study, "int8")
        if not models:
            continue
        lines += [f"### {label}: float vs int8 (post-training, --quantize=int8), "
                  f"{len(models)} seed{'s' if len(models) > 1 else ''}", "",
                  "| task | level | params | float | int8 | int8 - float |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for first in models[0]:
            same = same_model(models, first)
            floats = mean_cell([m["accuracy_keras"] for m in same])
            ints = mean_cell([m["accuracy_tflite"] for m in same])
            drop = mean_cell([m["accuracy_tflite"] - m["accuracy_keras"] for m in same], signed=True)
            lines.append(f"| {first['task']} | {first['level']} | {first['params']:,} | "
                         f"{floats} | {ints} | {drop} |")
        lines.append("")
    return lines


def latency_section(runs, study):
    """LiteRT float32 accuracy, latency and their ratio per (task, level), and the best ratio."""
    levels = {}  # (task, level) -> [(label, table row, accuracy per ms as compare scores it)]
    for label, done in runs:
        models = exported_models(label, done, study, "float")
        for first in models[0] if models else []:
            same = same_model(models, first)
            per_ms = [m["accuracy_tflite"] / m["latency_ms"] for m in same]
            row = (f"| {first['task']} | {first['level']} | {label} | {first['params']:,} | "
                   f"{first['flops']:,} | {mean_cell([m['accuracy_tflite'] for m in same])} | "
                   f"{mean_cell([m['latency_ms'] for m in same])} | {mean_cell(per_ms)} |")
            mean, std = mean_std(per_ms)  # compare's winner rule, on accuracy per ms
            score = {"accuracy": mean, "accuracy_std": std, "seeds": len(per_ms)}
            levels.setdefault((first["task"], first["level"]), []).append((label, row, score))
    if not levels:
        return []
    lines = ["### LiteRT float32 latency and accuracy per millisecond (--quantize=none)", "",
             "Per seed: the held-out accuracy of the exported .tflite through LiteRT and the "
             "median wall time of one invoke (XNNPACK, 1 thread, batch 1, in a fresh process "
             "after the export); accuracy per ms is their ratio; mean ± std over seeds.", "",
             "| task | level | method | params | FLOPs | LiteRT accuracy | latency (ms) | "
             "accuracy per ms |", "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [row for scored in levels.values() for _, row, _ in scored]
    lines += ["", "### Most accuracy per ms per task and level", "",
              "| task | level | winner | accuracy per ms | runner-up (margin) |",
              "| --- | ---: | --- | ---: | --- |"]
    for (task, level), scored in levels.items():
        winner, best, runner_up = compare.describe_winner(sorted(
            ((label, score) for label, _, score in scored), key=lambda s: -s[1]["accuracy"]))
        lines.append(f"| {task} | {level} | {winner} | {best:.4f} | {runner_up} |")
    return lines + [""]


def write(name, study, seeds, workdir):
    """Write workdir/study.md and a plot per scenario from the finished runs; return the paths."""
    found = finished_runs(study, seeds, workdir)
    planned = len(study["runs"]) * seeds
    finished = sum(len(done) for runs in found.values() for _, done in runs)
    lines = [f"# Study {name}: {finished} of {planned} runs finished ({seeds} seeds)", "",
             STATISTIC, ""]
    paths = [os.path.join(workdir, "study.md")]
    for scenario, runs in found.items():
        means = [(label, mean_results(label, done)) for label, done in runs]
        seconds = ", ".join(f"{label} {mean_std([r['train_seconds'] for _, r, _ in done])[0]:.0f} s"
                            for label, done in runs)
        lines += [compare.markdown(means, title=f"## Scenario {scenario}: "
                                   f"{', '.join(label for label, _ in runs)}"),
                  f"Seeds finished: {', '.join(f'{label} {len(done)}' for label, done in runs)}. "
                  f"Training time per run, mean over seeds: {seconds}.", ""]
        lines += (pairs_section(means, study) + worst_class_section(runs)
                  + convergence_section(runs) + stages_section(runs)
                  + int8_section(runs, study)
                  + latency_section(runs, study))
        png = "study.png" if len(found) == 1 else f"study_{scenario}.png"
        paths.append(os.path.join(workdir, png))
        compare.plot(means, paths[-1])
    write_text_atomically(paths[0], "\n".join(lines))
    return paths
