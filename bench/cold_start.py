"""Cold start: the import of the Lambda entry point (`import app`) in fresh processes, against the
baseline `import boto3` plus a DynamoDB client, measured in the same run. Prints medians and ratio.

    PYTHONPATH=. .venv/bin/python bench/cold_start.py [--runs 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMER = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
SUBJECTS = {
    "baseline: import boto3 + DynamoDB client": "import boto3; boto3.client('dynamodb', region_name='us-east-1')",
    "import app (Livedrop entry point)": "import app",
    "import app + first DynamoDB-backed service": (
        "import app; from chalicelib.bootstrap import services; services()"),
}


def measure(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    output = subprocess.run([sys.executable, "-c", TIMER.format(code=code)], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for code in SUBJECTS.values():  # warm the OS file cache and .pyc files once, like a warm Lambda host
        measure(code)
    medians = {}
    for name, code in SUBJECTS.items():
        samples = [measure(code) for _ in range(args.runs)]
        medians[name] = statistics.median(samples)
        print(f"{name:48s} median {medians[name] * 1000:7.1f} ms  (min {min(samples) * 1000:.1f}, "
              f"max {max(samples) * 1000:.1f}, n={args.runs})")
    baseline = medians["baseline: import boto3 + DynamoDB client"]
    for name in list(SUBJECTS)[1:]:
        print(f"ratio {name} / baseline: {medians[name] / baseline:.2f}")


if __name__ == "__main__":
    main()
