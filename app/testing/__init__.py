"""Testing a process before it goes live: scenario files (`*.test.yaml`) run on the real engine, offline and fast.

Public API:
- `run_paths(paths, only=None) -> SuiteResult`: what `orderflow test PATH...` runs;
- `run_texts(models, scenario_texts) -> SuiteResult`: the modeler's run of posted diagrams and scenarios;
- `SuiteResult` (`results`, `diagrams` coverage, `decisions` rule coverage, `passed`, `as_json()`),
  `ScenarioResult`, `DiagramCoverage`, `DecisionCoverage`;
- `Scenario` and `parse`/`load` for the file format; `record(engine, instance_id)`: a scenario from an order walked
  through by hand;
- `junit(result)`, `text_report(result)`, `write_html(result, directory)`: the reports.

It lives in `app/` and not in `processes/` because it runs the whole product: orderflow's feature list
(`app.features`), the inbox's task completion and the migrations. Its one error, ScenarioInvalid, is in
processes/errors.py with all the others."""

from app.testing.recording import record
from app.testing.report import junit, text_report, write_html
from app.testing.scenarios import Scenario, load, parse
from app.testing.suite import DecisionCoverage, DiagramCoverage, ScenarioResult, SuiteResult, run_paths, run_texts

__all__ = [
    "DecisionCoverage",
    "DiagramCoverage",
    "Scenario",
    "ScenarioResult",
    "SuiteResult",
    "junit",
    "load",
    "parse",
    "record",
    "run_paths",
    "run_texts",
    "text_report",
    "write_html",
]
