"""The rollout's side of the one-writer protocol: numbered commands to the deployment, durable acks.

The DeploymentWorkflow alone changes instances and router weights; the rollout signals it a
`RolloutCommand` and waits (durably, across worker crashes) for the `command_done` signal carrying
the same sequence number. Events need no answer. The sequence number is carried over
continue-as-new, so an ack for a command of the previous run is never taken for a new one.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from coderunner.models.rollout import RolloutPhase
    from coderunner.models.rollout_api import CommandAck, CommandKind, RolloutCommand


class ParentChannel:
    def __init__(self, rollout_id: str, parent_workflow_id: str, seq: int) -> None:
        self.rollout_id = rollout_id
        self.parent_workflow_id = parent_workflow_id
        self.seq = seq
        self._acks: dict[int, CommandAck] = {}

    def acked(self, ack: CommandAck) -> None:
        """From the rollout's `command_done` signal handler."""
        self._acks[ack.seq] = ack

    async def call(self, kind: CommandKind, phase: RolloutPhase, **fields: object) -> CommandAck:
        self.seq += 1
        seq = self.seq
        command = RolloutCommand(seq=seq, rollout_id=self.rollout_id, kind=kind, phase=phase,
                                 **fields)  # type: ignore[arg-type]
        parent = workflow.get_external_workflow_handle(self.parent_workflow_id)
        await parent.signal("rollout_command", command)
        if kind == CommandKind.EVENT:
            return CommandAck(seq=seq)
        await workflow.wait_condition(lambda: seq in self._acks,
                                      timeout_summary=f"deployment applies {kind.value}")
        return self._acks.pop(seq)
