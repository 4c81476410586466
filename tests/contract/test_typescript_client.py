"""TypeScript types generated from the OpenAPI document type-check a realistic client under `tsc --strict`.

openapi-typescript (default options, as a front-end team runs it) turns the document into `types.ts`;
tests/contract/client.ts is written against those types with `satisfies` and annotations that state
what a client relies on (optional fields of a PATCH are optional, the Idempotency-Key header is typed,
`Idempotent-Replayed` is declared, a Problem's `field` is optional, owner and public views differ).
The npm packages are pinned in tests/contract/package-lock.json; `make install` runs `npm ci` there.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.contract.conftest import CONTRACT_DIR

pytestmark = pytest.mark.contract

TOOLS = ("openapi-typescript", "tsc")


def npx(*args: str) -> subprocess.CompletedProcess:
    # `--no`: never download a package; only the pinned ones in tests/contract/node_modules run.
    return subprocess.run(["npx", "--no", "--", *args], cwd=CONTRACT_DIR, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "npm_config_update_notifier": "false"})


def require_npm_tools() -> None:
    missing = [tool for tool in TOOLS if not (CONTRACT_DIR / "node_modules" / ".bin" / tool).exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed in tests/contract/node_modules: run `make install` "
                    "(it runs `npm ci --prefix tests/contract` from the committed lockfile)", pytrace=False)


def test_typescript_client_type_checks_against_the_document(tmp_path):
    require_npm_tools()
    from app import app  # noqa: F401  (registers every route the document describes)
    from chalicelib.api.openapi import openapi_document

    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(openapi_document()))
    generated = npx("openapi-typescript", str(document), "--output", str(tmp_path / "types.ts"))
    assert generated.returncode == 0, f"openapi-typescript failed:\n{generated.stdout}{generated.stderr}"
    for name in ("client.ts", "tsconfig.json"):
        shutil.copy(CONTRACT_DIR / name, tmp_path / name)

    checked = npx("tsc", "--project", str(tmp_path / "tsconfig.json"), "--strict", "--noEmit")
    assert checked.returncode == 0, (
        "tests/contract/client.ts does not type-check against the types generated from the document:\n"
        + checked.stdout + checked.stderr)
