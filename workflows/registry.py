"""Every workflow a worker registers, in one list, so worker.py and the tests cannot drift apart."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.autoscaler import AutoscalerWorkflow
from workflows.deployment import DeploymentWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.rollout import CanaryRolloutWorkflow

# Models (and the activity classes workflows name) are data, not workflow code: every one of them is
# passed through the sandbox, whatever imports it, so a model class is one class inside and outside
# (a model module re-imported inside the sandbox would make a second `ConfigRef` that pydantic refuses).
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("coderunner.models", "activities")
)

WORKFLOWS: list[type] = [DeploymentWorkflow, AutoscalerWorkflow, CanaryRolloutWorkflow, PipelineWorkflow]
