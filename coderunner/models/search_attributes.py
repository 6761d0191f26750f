"""Custom search attributes: registered at server start, upserted by workflows, filtered in the Web UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

DEPLOYMENT = SearchAttributeKey.for_keyword("CodeRunnerDeployment")
ENVIRONMENT = SearchAttributeKey.for_keyword("CodeRunnerEnvironment")
VERSION = SearchAttributeKey.for_keyword("CodeRunnerVersion")
STATUS = SearchAttributeKey.for_keyword("CodeRunnerStatus")
ROLLOUT_PHASE = SearchAttributeKey.for_keyword("CodeRunnerRolloutPhase")
CANARY_WEIGHT = SearchAttributeKey.for_int("CodeRunnerCanaryWeight")
BUDGET_LEVEL = SearchAttributeKey.for_int("CodeRunnerBudgetLevel")
PIPELINE = SearchAttributeKey.for_keyword("CodeRunnerPipeline")
PIPELINE_STAGE = SearchAttributeKey.for_keyword("CodeRunnerPipelineStage")  # pm, dev, integration, done
PIPELINE_DEAD_LETTERS = SearchAttributeKey.for_int("CodeRunnerPipelineDeadLetters")  # waiting for a person

ALL: tuple[SearchAttributeKey, ...] = (
    DEPLOYMENT,
    ENVIRONMENT,
    VERSION,
    STATUS,
    ROLLOUT_PHASE,
    CANARY_WEIGHT,
    BUDGET_LEVEL,
    PIPELINE,
    PIPELINE_STAGE,
    PIPELINE_DEAD_LETTERS,
)

_CLI_TYPE_NAMES = {"KEYWORD": "Keyword", "INT": "Int", "TEXT": "Text", "DOUBLE": "Double", "BOOL": "Bool"}


def dev_server_args() -> list[str]:
    """`--search-attribute NAME=Type` flags for `temporal server start-dev`."""
    args: list[str] = []
    for key in ALL:
        args += ["--search-attribute", f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type.name]}"]
    return args
