"""Delivery pipelines' side effects: plan files, import analysis of a project, run workspaces,
the result cache and the sandboxed runner of task commands (decisions are in coderunner.decisions)."""
