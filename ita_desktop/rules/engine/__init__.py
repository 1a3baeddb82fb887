"""The setup engine: a rule -> detector request + step streams -> numba matcher -> occurrences and orders.

``compile_rule`` (compiler.py), ``run_setup`` / ``LiveSetup`` (runner.py), ``Occurrence``
(occurrences.py); the matching semantics are in matcher.py and docs/rules.md.
"""

from ita_desktop.rules.engine.compiler import CompiledRule, compile_rule
from ita_desktop.rules.engine.occurrences import Occurrence, OrderPlan, StepHit
from ita_desktop.rules.engine.runner import LiveSetup, SetupRun, run_setup

__all__ = ["CompiledRule", "compile_rule", "Occurrence", "OrderPlan", "StepHit", "LiveSetup", "SetupRun", "run_setup"]
