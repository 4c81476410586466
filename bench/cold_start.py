"""Cold start: the import of the Lambda entry point (`import app`) in fresh processes, against the
baseline `import boto3` plus a DynamoDB client, measured in the same run. Prints medians and ratio.

`import app` is Lambda's init phase: it also makes the container's botocore session and DynamoDB
client, its services and the crowd's models (chalicelib/bootstrap.prepare), so that a first
request costs about what a second does (bench/first_requests.py). The third line is the libraries
alone (botocore with its client, Chalice, pydantic, PynamoDB, Powertools), to show what of the
ratio is Livedrop's own code.

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
TIMER = "import time; t = time.process_time(); {code}; print(time.process_time() - t)"  # CPU: the machine is shared
SUBJECTS = {
    "baseline: import boto3 + DynamoDB client": "import boto3; boto3.client('dynamodb', region_name='us-east-1')",
    "import app (Livedrop entry point)": "import app",
    "libraries alone: botocore + client, chalice...": (
        "import botocore.session; botocore.session.get_session().create_client('dynamodb', "
        "region_name='us-east-1'); import chalice, pydantic, pynamodb.models, aws_lambda_powertools.logging"),
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
        print(f"{name:48s} median {medians[name] * 1000:7.1f} ms CPU  (min {min(samples) * 1000:.1f}, "
              f"max {max(samples) * 1000:.1f}, n={args.runs})")
    baseline = medians["baseline: import boto3 + DynamoDB client"]
    for name in list(SUBJECTS)[1:]:
        print(f"ratio {name} / baseline: {medians[name] / baseline:.2f}")


if __name__ == "__main__":
    main()
