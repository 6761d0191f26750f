"""Plan analysis (the PM stage), pure: file graph + plan -> task DAG, batches, critical path, priorities.

A task depends on another when one of its files imports (at run time, possibly through files no task
owns) a file the other owns, or when it says so in `depends_on`. The same function answers
`coderunner pipeline analyze` offline and the PipelineWorkflow's PM stage.
"""

from __future__ import annotations

from collections import deque

import networkx as nx

from coderunner.models.pipeline import (
    FileGraph,
    ImportKind,
    PlanAnalysis,
    PlanCycle,
    PlanSpec,
    TaskEdge,
)

MAX_CYCLES_SHOWN = 5


def owners(plan: PlanSpec) -> dict[str, str]:
    return {path: task.id for task in plan.tasks for path in task.owns}


def runtime_file_graph(files: FileGraph) -> nx.DiGraph:
    """source -> target for every run-time import (TYPE_CHECKING imports never run)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(files.files)
    for edge in files.edges:
        if edge.kind == ImportKind.RUNTIME:
            graph.add_edge(edge.source, edge.target)
    return graph


def _reached_owned(graph: nx.DiGraph, start: str, owner: dict[str, str], me: str) -> dict[str, list[str]]:
    """Files owned by other tasks that `start` reaches through unowned (or own) files: file -> path."""
    found: dict[str, list[str]] = {}
    seen = {start}
    queue: deque[list[str]] = deque([[start]])
    while queue:
        path = queue.popleft()
        for nxt in graph.successors(path[-1]) if path[-1] in graph else ():
            if nxt in seen:
                continue
            seen.add(nxt)
            holder = owner.get(nxt)
            if holder is not None and holder != me:
                found[nxt] = [*path, nxt]
            else:
                queue.append([*path, nxt])
    return found


def task_edges(plan: PlanSpec, files: FileGraph) -> list[TaskEdge]:
    """Every `task depends on other` with its reason, explicit edges included; sorted, one per pair."""
    owner = owners(plan)
    graph = runtime_file_graph(files)
    edges: dict[tuple[str, str], str] = {}
    for task in plan.tasks:
        for dep in task.depends_on:
            edges[(task.id, dep)] = "depends_on"
        for path in task.owns:
            for target, chain in sorted(_reached_owned(graph, path, owner, task.id).items()):
                edges.setdefault((task.id, owner[target]), " imports ".join(chain))
    return [TaskEdge(task=a, on=b, why=why) for (a, b), why in sorted(edges.items())]


def dag_of(plan: PlanSpec, edges: list[TaskEdge]) -> nx.DiGraph:
    """dependency -> dependent, node attribute `estimate`."""
    graph = nx.DiGraph()
    for task in plan.tasks:
        graph.add_node(task.id, estimate=task.estimate)
    for edge in edges:
        graph.add_edge(edge.on, edge.task, why=edge.why)
    return graph


def shortest_cycles(graph: nx.DiGraph, limit: int = MAX_CYCLES_SHOWN) -> list[list[str]]:
    """Distinct cycles, shortest first: for each node the shortest cycle through it (BFS)."""
    cycles: dict[frozenset[str], list[str]] = {}
    for node in sorted(graph.nodes):
        best: list[str] | None = None
        for succ in graph.successors(node):
            try:
                path = nx.shortest_path(graph, succ, node)
            except nx.NetworkXNoPath:
                continue
            if best is None or len(path) < len(best):
                best = path
        if best is not None:
            cycle = [node, *best[:-1]]
            cycles.setdefault(frozenset(cycle), cycle)
    return sorted(cycles.values(), key=lambda c: (len(c), c))[:limit]


def describe_cycle(graph: nx.DiGraph, cycle: list[str]) -> str:
    """`task b → task a (b.py imports a.py) → task b (a.py imports b.py)`: read along "needs"."""
    chain = list(reversed(cycle))
    first = chain.index(min(chain))
    chain = chain[first:] + chain[:first]
    steps = [f"task {chain[0]}"]
    for n, task in enumerate(chain):
        needed = chain[(n + 1) % len(chain)]
        why = graph.edges[needed, task]["why"]
        because = f"{task}: depends_on" if why == "depends_on" else why
        steps.append(f"→ task {needed} ({because})")
    return " ".join(steps)


def check_acyclic(plan: PlanSpec, edges: list[TaskEdge]) -> nx.DiGraph:
    graph = dag_of(plan, edges)
    if nx.is_directed_acyclic_graph(graph):
        return graph
    cycles = shortest_cycles(graph)
    lines = [f"  {n + 1}. {describe_cycle(graph, c)}" for n, c in enumerate(cycles)]
    raise PlanCycle("the task graph has a dependency cycle (shortest first):\n" + "\n".join(lines))


def priorities(graph: nx.DiGraph) -> dict[str, float]:
    """Longest estimated path from each task to the end of the plan, its own estimate included."""
    prio: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        after = max((prio[s] for s in graph.successors(node)), default=0.0)
        prio[node] = graph.nodes[node]["estimate"] + after
    return prio


def analyze(plan: PlanSpec, files: FileGraph) -> PlanAnalysis:
    """The whole PM stage; raises PlanCycle naming the cycle."""
    edges = task_edges(plan, files)
    graph = check_acyclic(plan, edges)
    prio = priorities(graph)
    desc = {n: len(nx.descendants(graph, n)) for n in graph.nodes}
    order = sorted(graph.nodes, key=lambda n: (-prio[n], -desc[n], n))
    rank = {n: i + 1 for i, n in enumerate(order)}
    batches = [sorted(gen, key=rank.__getitem__) for gen in nx.topological_generations(graph)]
    path: list[str] = []
    frontier = [n for n in order if graph.in_degree(n) == 0][:1]
    while frontier:
        node = frontier[0]
        path.append(node)
        frontier = sorted(graph.successors(node), key=rank.__getitem__)[:1]
    owner = owners(plan)
    type_only = [
        e
        for e in files.edges
        if e.kind == ImportKind.TYPE_CHECKING
        and owner.get(e.source, e.source) != owner.get(e.target, e.target)
    ]
    return PlanAnalysis(
        tasks=order,
        edges=edges,
        batches=batches,
        critical_path=path,
        critical_path_s=prio[path[0]] if path else 0.0,
        total_work_s=sum(t.estimate for t in plan.tasks),
        priority=prio,
        descendants=desc,
        rank=rank,
        type_checking_edges=type_only,
        unresolved=files.unresolved,
    )


def import_closure(files: FileGraph | nx.DiGraph, roots: list[str]) -> list[str]:
    """Every file the `roots` transitively import at run time (the roots excluded): the cache key's
    inputs besides the task's own files. Takes the file graph or its `runtime_file_graph`."""
    graph = files if isinstance(files, nx.DiGraph) else runtime_file_graph(files)
    seen: set[str] = set()
    for root in roots:
        if root in graph:
            seen |= nx.descendants(graph, root)
    return sorted(seen - set(roots))
