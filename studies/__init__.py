"""Studies: several methods trained over seeds, exported, and reported with their spread.

A study drives training (dvn_tf) and export (export), so it sits above both;
neither imports it. `python -m studies --study=NAME` runs one (studies.runner),
configs/studies/NAME.py defines it (studies.plan), and studies.report writes
its study.md and plots.
"""
