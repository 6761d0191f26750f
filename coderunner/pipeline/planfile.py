"""Reading a plan file: YAML, then complete validation (every error at once), nothing started."""

from __future__ import annotations

from pathlib import Path

import yaml

from coderunner.models.pipeline import PlanError, PlanSpec, check_plan


class PlanInvalid(ValueError):
    """Every problem of a plan, one per line; the CLI prints it and exits 2."""

    def __init__(self, path: str, errors: list[PlanError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"plan {path} has {len(errors)} error(s):\n{lines}")


def load_plan(path: str | Path) -> tuple[PlanSpec, Path]:
    """The validated plan and the absolute project directory it names."""
    file = Path(path)
    if not file.is_file():
        raise PlanInvalid(str(path), [PlanError(task="-", field="-", message="file not found")])
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise PlanInvalid(
            str(path), [PlanError(task="-", field="-", message=f"not valid YAML: {err}")]
        ) from err
    plan, errors = check_plan(raw)
    project = (
        (file.resolve().parent / str(raw.get("project", ""))).resolve() if isinstance(raw, dict) else None
    )
    if project is not None and isinstance(raw, dict) and "project" in raw and not project.is_dir():
        errors.append(PlanError(task="-", field="project", message=f"{project} is not a directory"))
    if errors or plan is None or project is None:
        raise PlanInvalid(str(path), errors)
    return plan, project
