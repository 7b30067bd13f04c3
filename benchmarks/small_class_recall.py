"""Each class's held-out recall, per (task, level), of finished runs: does the small class get learned?

Reads the per-class results that training writes into each workdir's
`results.json` and prints, per task and level, every class's recall and the
overall accuracy; the last line is one JSON object with every figure. The
imbalanced folder of docs/choices.md ("Small classes") is made and trained by:

  python -m dvn_tf.data.fashion_folders /tmp/imb30 --flat --format=png \\
      --classes=T-shirt-top,Trouser,Sneaker,Shirt --train-count=Shirt=20 --held-out-per-class=200
  python -m dvn_tf.train --images=/tmp/imb30 --workdir=runs/imb30_none --config.balance=none
  python -m dvn_tf.train --images=/tmp/imb30 --workdir=runs/imb30_auto
  python benchmarks/small_class_recall.py runs/imb30_none runs/imb30_auto
"""

import argparse
import json
import os


def per_class(workdir):
    """[{task, level, labels, recall, accuracy}] of one finished run's results.json."""
    path = os.path.join(workdir, "results.json")
    if not os.path.exists(path):
        raise SystemExit(f"small_class_recall: {workdir} has no results.json; pass a finished run")
    with open(path, encoding="utf-8") as file:
        results = json.load(file)
    labels = {task["name"]: task.get("labels") for task in results["tasks"]}
    if not all("per_class" in entry for entry in results["entries"]):
        raise SystemExit(f"small_class_recall: {path} has no per-class results (trained before "
                         "they were written); train the run again")
    return [{"task": e["task"], "level": e["level"], "labels": labels[e["task"]],
             "recall": e["per_class"]["recall"], "accuracy": round(e["accuracy"], 4)}
            for e in results["entries"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+")
    figures = {}
    for workdir in parser.parse_args().workdirs:
        figures[workdir] = per_class(workdir)
        for row in figures[workdir]:
            recalls = ", ".join(f"{label} {'-' if recall is None else f'{recall:.3f}'}"
                                for label, recall in zip(row["labels"], row["recall"]))
            print(f"{workdir} {row['task']} level {row['level']}: accuracy "
                  f"{row['accuracy']:.4f}; recall {recalls}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
