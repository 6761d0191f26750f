"""Every workflow a worker registers, in one list, so worker.py and the tests cannot drift apart."""

from __future__ import annotations

from workflows.autoscaler import AutoscalerWorkflow
from workflows.deployment import DeploymentWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.rollout import CanaryRolloutWorkflow

WORKFLOWS: list[type] = [DeploymentWorkflow, AutoscalerWorkflow, CanaryRolloutWorkflow, PipelineWorkflow]
