"""The house's rules, checked like any behaviour: layers, lint, types."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command):
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT),
                                                                                   "PATH": str(BIN)})


def test_import_contracts_hold():
    """api -> services -> domain, adapters -> domain; services see ports, never adapters."""
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_import_contracts_can_fail(tmp_path):
    """The contract check notices a service that imports an adapter (so the test above can fail)."""
    config = tmp_path / "contracts.ini"
    config.write_text((ROOT / ".importlinter").read_text().replace(
        "    chalicelib.adapters\n    chalicelib.api\n    boto3", "    chalicelib.domain.ports\n    boto3"))
    result = run(str(BIN / "lint-imports"), "--no-cache", "--config", str(config))
    assert result.returncode != 0 and "BROKEN" in result.stdout.upper()


def test_ruff_finds_nothing():
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_and_services_are_strictly_typed():
    result = run(str(BIN / "mypy"), "--strict", "chalicelib/domain", "chalicelib/services")
    assert result.returncode == 0, result.stdout + result.stderr
