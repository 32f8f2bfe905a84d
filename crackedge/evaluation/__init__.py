"""The one evaluator: any model that maps an image to a crack probability, scored on a canonical
dataset in both metric conventions, per noise case, on a stated scoring basis, with overlays.

`teacher eval` (a torch teacher), `distill eval` / `edge eval` (a bundle, as the vehicle runs it),
`distill compare` and the benchmark report all call `evaluate`; only the predictor differs.
"""

from crackedge.evaluation.loop import Predictor, evaluate
from crackedge.evaluation.options import EvalOptions, EvalResult
from crackedge.evaluation.reports import read_metrics, write_reports

__all__ = ["EvalOptions", "EvalResult", "Predictor", "evaluate", "read_metrics", "write_reports"]
