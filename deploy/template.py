"""template.yaml offline: load it, set CodeUri, translate the SAM, cfn-lint and checkov it."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from deploy.config import CHECKOV_CONFIG, CHECKOV_VENV, ROOT, TEMPLATE, TRANSLATED


def template_load(path: Path = TEMPLATE) -> dict:
    """The template as plain data, CloudFormation short tags (!Ref, !Sub...) in long form."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def template_with_code(template: dict, code_uri: str) -> dict:
    """The template with every function's CodeUri an S3 URI, as `sam package` would write it."""
    packaged = copy.deepcopy(template)
    packaged["Globals"]["Function"]["CodeUri"] = code_uri
    return packaged


def template_translate(template: dict, *, region: str = "us-east-1") -> dict:
    """SAM -> plain CloudFormation with samtranslator, offline (what CloudFormation does first)."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # samtranslator picks the partition
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    return translator.translate(
        copy.deepcopy(template), parameter_values={}, get_managed_policy_map=lambda: {}
    )


def template_write(template: dict, path: Path = TRANSLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template, indent=1, sort_keys=True))
    return path


def cfn_lint(path: Path) -> subprocess.CompletedProcess:
    """cfn-lint on a (translated) template; exit 0 means no errors or warnings."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
        capture_output=True,
        text=True,
    )


def checkov_ensure(venv: Path = CHECKOV_VENV) -> Path:
    """checkov in its own virtualenv (its pins clash with ours), installed on first use."""
    from deploy.config import requirements

    executable = venv / "bin" / "checkov"
    pins = requirements("checkov", base=False)
    stamp = venv / ".requirements"
    if executable.exists() and stamp.exists() and stamp.read_text() == "\n".join(pins):
        return executable
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *pins,
        ],
        check=True,
    )
    stamp.write_text("\n".join(pins))
    return executable


def checkov(path: Path | list[Path], *, executable: Path | None = None) -> tuple[int, dict]:
    """checkov --skip-download on a template (or several, in one run) with our skip list:
    (exit code, summary counts over all of them)."""
    executable = executable or checkov_ensure()
    paths = path if isinstance(path, list) else [path]
    result = subprocess.run(
        [
            str(executable),
            "--skip-download",
            "--config-file",
            str(CHECKOV_CONFIG),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            *(argument for one in paths for argument in ("--file", str(one))),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )
    report = json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else {}
    if isinstance(report, list):  # one report per framework
        report = report[0] if report else {}
    summary = report.get("summary", {})
    failed = [
        f"{check['check_id']} {check['resource']}"
        + (f" ({Path(check['file_path']).name})" if len(paths) > 1 and "file_path" in check else "")
        + f": {check['check_name']}"
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    return result.returncode, {**summary, "failed_list": failed, "stderr": result.stderr[-2000:]}
