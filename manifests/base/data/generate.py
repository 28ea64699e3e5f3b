#!/usr/bin/env python3
"""Regenerates training.csv: 200 rows of y = 3x + 2 + noise, deterministic (fixed seed).

The CSV is the source of truth in Git (kustomize turns it into the ConfigMap the trainer
reads); this script only documents how the first version was made. Edit the CSV freely:
a data change in Git is a new model at the next trainer run.

    python3 manifests/base/data/generate.py > manifests/base/data/training.csv
"""
import random

rng = random.Random(20261128)
print("x,y")
for i in range(200):
    x = round(i * 0.05 + rng.uniform(-0.02, 0.02), 4)
    y = round(3.0 * x + 2.0 + rng.gauss(0.0, 0.1), 4)
    print(f"{x},{y}")
