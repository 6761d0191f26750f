"""The legacy bridge (the `legacy` task migrates it; its upstream is gone)."""
