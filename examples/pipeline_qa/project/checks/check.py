"""QA checks, one per task. Usage: python checks/check.py TASK (run in a copy of the workspace)."""

import sys

sys.path.insert(0, ".")
task = sys.argv[1]
if task == "add":
    from calc.add import add

    assert add(2, 3) == 5
elif task == "mul":
    from calc.mul import mul

    assert mul(4, 5) == 20
elif task == "fmt":
    from calc.fmt import fmt

    assert fmt(1 / 3) == "0.33"
elif task == "stats":
    from calc.stats import mean

    got = mean([1, 2])
    if got != 1.5:
        print(f"mean([1, 2]) returned {got}, expected 1.5")
        sys.exit(1)
elif task == "report":
    from calc.report import report

    assert report()
print(f"{task}: ok")
