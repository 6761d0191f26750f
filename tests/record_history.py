"""Record a DeploymentWorkflow history for the replay test: `python -m tests.record_history`.

Re-record only when a change to the workflow is *meant* to be incompatible (and then guard running
workflows with `workflow.patched`). Recorded without the payload codec so the file replays anywhere.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from starter.tools.harness import DEMO_APP, HostProcess
from tests.recording import local_stack

OUT = Path(__file__).parent / "histories" / "deployment_lifecycle.json"
TIMINGS = DeploymentTimings(sweep_interval_s=0.5, health_deadline_s=20, drain_s=0.1)


async def record() -> None:
    home = Path(tempfile.mkdtemp(prefix="record-"))
    host = HostProcess(home).start()
    try:
        async with local_stack(home, host, "record") as cr:
            spec = DeploymentSpec(name="replayed", command=["python", str(DEMO_APP)], replicas=2)
            await cr.deploy(spec, TIMINGS)
            await cr.wait_settled("replayed")
            await cr.scale("replayed", 3, reason="record")
            await cr.restart("replayed", reason="record")
            await asyncio.sleep(1.5)  # a few sweeps
            await cr.delete("replayed", reason="record")
            history = await cr.handle("replayed").fetch_history()
            OUT.write_text(history.to_json())
            print(f"wrote {OUT} ({len(history.events)} events)")
    finally:
        host.cleanup()


if __name__ == "__main__":
    asyncio.run(record())
