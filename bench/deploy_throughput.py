"""Deploy-workflow throughput vs a bare hello workflow on the same server, same run.

    python bench/deploy_throughput.py [--deployments 20] [--hello 200]

A deployment (1 instance of the demo app: create, health wait with backoff, router, store, audit)
is measured from start to RUNNING; the baseline is a workflow that runs one trivial activity.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEMO_APP, bench_stack, run_main
from bench.hello import HelloWorkflow, say_hello
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings


async def main(deployments: int, hello: int) -> None:
    async with bench_stack([HelloWorkflow], [say_hello]) as stack:
        client, cr = stack.env.client, stack.cr
        start = time.perf_counter()
        await asyncio.gather(
            *(
                client.execute_workflow(HelloWorkflow.run, str(n), id=f"hello-{n}", task_queue="bench")
                for n in range(hello)
            )
        )
        hello_s = time.perf_counter() - start
        hello_rate = hello / hello_s

        timings = DeploymentTimings(sweep_interval_s=30, health_deadline_s=120)
        specs = [
            DeploymentSpec(name=f"bench{n}", command=["python", str(DEMO_APP)], replicas=1)
            for n in range(deployments)
        ]
        start = time.perf_counter()
        await asyncio.gather(*(cr.deploy(s, timings) for s in specs))
        results = await asyncio.gather(*(cr.wait_settled(s.name, timeout_s=300) for s in specs))
        deploy_s = time.perf_counter() - start
        running = sum(r.status.value == "running" for r in results)
        deploy_rate = deployments / deploy_s
        await asyncio.gather(*(cr.delete(s.name) for s in specs))

    print(f"hello workflows:   {hello} in {hello_s:.2f}s = {hello_rate:.1f}/s")
    print(f"deploy workflows:  {deployments} in {deploy_s:.2f}s = {deploy_rate:.2f}/s ({running} running)")
    print(
        f"ratio deploy/hello throughput: {deploy_rate / hello_rate:.3f} "
        f"(one deployment costs {hello_rate / deploy_rate:.1f} hello workflows)"
    )


if __name__ == "__main__":
    run_main(__doc__, main, deployments=20, hello=200)
