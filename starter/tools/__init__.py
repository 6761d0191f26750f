"""Demo, load generator and autoscaling simulator: the tools around the product."""
