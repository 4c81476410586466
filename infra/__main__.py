"""`python -m infra template` prints the CloudFormation template of the tables;
`python -m infra create` creates the tables named by the environment (as the app reads them)
against whatever DynamoDB endpoint the environment points at."""
from __future__ import annotations

import argparse
import json
import sys

from infra.tables import cloudformation_template, create_tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra")
    parser.add_argument("command", choices=["template", "create"])
    args = parser.parse_args(argv)
    if args.command == "template":
        json.dump(cloudformation_template(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    import boto3

    from chalicelib.settings import Settings

    settings = Settings.from_env()
    created = create_tables(boto3.client("dynamodb", region_name=settings.region), dict(settings.tables))
    print(f"tables ready: {sorted(settings.tables.values())} (created {len(created)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
