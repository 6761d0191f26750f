"""The integration check: the finished modules work together (run once over the whole workspace)."""

import sys

sys.path.insert(0, ".")
from calc.add import add
from calc.fmt import fmt
from calc.mul import mul
from calc.stats import mean

assert fmt(mean([add(1, 1), mul(2, 2)])) == "3.00"
print("integration: ok")
