"""Wait for a rollout workflow to end, on behalf of a deployment run that did not start it.

A DeploymentWorkflow that continues-as-new while its canary rollout runs keeps the rollout (started
with parent-close ABANDON) but loses the child handle that would tell it how the rollout ended. The
new run re-links with this activity: it waits on the rollout workflow's result through the worker's
Temporal client and heartbeats meanwhile, so a lost worker is noticed within the heartbeat timeout
and a closed deployment run (continued-as-new again, or deleted) cancels it.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from coderunner.models.rollout import RolloutLink, RolloutPhase
from coderunner.models.rollout_api import RolloutResult

HEARTBEAT_EVERY_S = 2.0


class RolloutWatchActivities:
    @activity.defn(name="await_rollout")
    async def await_rollout(self, link: RolloutLink) -> RolloutResult:
        handle = activity.client().get_workflow_handle(link.workflow_id, result_type=RolloutResult)
        beats = asyncio.create_task(_heartbeat())
        try:
            result: RolloutResult = await handle.result()
            return result
        except WorkflowFailureError as err:
            outcome = f"rollout workflow ended abnormally: {err.cause}"
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            outcome = f"rollout workflow {link.workflow_id} not found"
        finally:
            beats.cancel()
        return RolloutResult(workflow_id=link.workflow_id, phase=RolloutPhase.FAILED, outcome=outcome)

    def all(self) -> list:
        return [self.await_rollout]


async def _heartbeat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY_S)
