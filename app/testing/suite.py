"""A test run: find the diagrams, decision tables and scenario files, run every scenario, and count coverage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.testing.checks import Passage, first_difference
from app.testing.diagram import DecisionTable, Diagram, read_bpmn, read_dmn
from app.testing.runner import Outcome, Runner
from app.testing.scenarios import Scenario, load, parse
from processes.core.engine import EngineSettings
from processes.errors import ScenarioInvalid

SCENARIO_SUFFIX = ".test.yaml"


@dataclass
class ScenarioResult:
    scenario: Scenario
    difference: str | None  # None: passed
    outcome: Outcome

    @property
    def passed(self) -> bool:
        return self.difference is None


@dataclass
class DiagramCoverage:
    """Which of a diagram's elements and sequence flows the scenarios passed."""

    diagram: Diagram
    elements: set[str] = field(default_factory=set)
    flows: set[str] = field(default_factory=set)

    @property
    def element_share(self) -> float:
        return len(self.elements) / len(self.diagram.elements) if self.diagram.elements else 1.0

    @property
    def flow_share(self) -> float:
        return len(self.flows) / len(self.diagram.flows) if self.diagram.flows else 1.0

    def as_json(self) -> dict:
        return {
            "file": self.diagram.file.name,
            "processes": self.diagram.processes,
            "elements": {"covered": sorted(self.elements), "total": len(self.diagram.elements)},
            "flows": {"covered": sorted(self.flows), "total": len(self.diagram.flows)},
            "notCovered": {
                "elements": sorted(set(self.diagram.elements) - self.elements),
                "flows": sorted(set(self.diagram.flows) - self.flows),
            },
        }


@dataclass
class DecisionCoverage:
    table: DecisionTable
    hit: set[str] = field(default_factory=set)

    def as_json(self) -> dict:
        return {
            "decision": self.table.key,
            "rules": len(self.table.rules),
            "hit": [r for r in self.table.rules if r in self.hit],
            "notHit": [r for r in self.table.rules if r not in self.hit],
        }


@dataclass
class SuiteResult:
    results: list[ScenarioResult]
    diagrams: list[DiagramCoverage]
    decisions: list[DecisionCoverage]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def as_json(self) -> dict:
        return {
            "passed": self.passed,
            "scenarios": [
                {
                    "file": r.scenario.file.name,
                    "name": r.scenario.name,
                    "passed": r.passed,
                    "difference": r.difference,
                    "path": [a.element for a in r.outcome.arrivals],
                }
                for r in self.results
            ],
            "coverage": [c.as_json() for c in self.diagrams],
            "decisions": [d.as_json() for d in self.decisions],
        }


@dataclass
class Found:
    models: list[Path] = field(default_factory=list)  # .bpmn and .dmn files to deploy
    scenario_files: list[Path] = field(default_factory=list)


def discover(paths: Sequence[Path]) -> Found:
    """Directories give every diagram, decision table and scenario file in them (not in subdirectories); a scenario
    file given alone brings the diagrams and tables of its directory."""
    found = Found()

    def add(path: Path) -> None:
        if path.name.endswith(SCENARIO_SUFFIX):
            found.scenario_files.append(path)
        elif path.suffix in (".bpmn", ".dmn"):
            found.models.append(path)

    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                add(child)
        elif path.exists():
            add(path)
            if path.name.endswith(SCENARIO_SUFFIX):
                for sibling in sorted(path.parent.iterdir()):
                    if sibling.suffix in (".bpmn", ".dmn"):
                        found.models.append(sibling)
        else:
            raise ScenarioInvalid(f"{path}: no such file or directory")
    found.models = list(dict.fromkeys(found.models))
    found.scenario_files = list(dict.fromkeys(found.scenario_files))
    return found


def run(
    models: Sequence[tuple[str, bytes]],
    scenarios: Sequence[Scenario],
    *,
    only: str | None = None,
    like: EngineSettings | None = None,
) -> SuiteResult:
    """Deploy `models` (file name, content) on a fresh in-memory engine and run the scenarios (those whose name
    contains `only`, when given)."""
    diagrams = [read_bpmn(Path(name), data) for name, data in models if name.endswith(".bpmn")]
    tables = [t for name, data in models if name.endswith(".dmn") for t in read_dmn(Path(name), data)]
    runner = Runner(models, like)
    results = []
    for scenario in scenarios:
        if only and only not in scenario.name:
            continue
        if not any(scenario.process in d.processes for d in diagrams):
            raise ScenarioInvalid(f"{scenario.file}: no diagram given defines the process '{scenario.process}'")
        outcome = runner.run(scenario)
        results.append(ScenarioResult(scenario, first_difference(scenario, outcome, diagrams), outcome))
    return SuiteResult(results, _coverage(diagrams, results), _decisions(tables, results))


def run_paths(paths: Sequence[Path], *, only: str | None = None, like: EngineSettings | None = None) -> SuiteResult:
    """`orderflow test PATH...`: the scenario files and models found in the paths."""
    found = discover(paths)
    if not found.scenario_files:
        raise ScenarioInvalid(f"no scenario files (*{SCENARIO_SUFFIX}) in {', '.join(str(p) for p in paths)}")
    scenarios = [s for file in found.scenario_files for s in load(file)]
    models = [(p.name, p.read_bytes()) for p in found.models]
    return run(models, scenarios, only=only, like=like)


def run_texts(
    models: Sequence[tuple[str, bytes]],
    scenario_texts: Sequence[tuple[str, str]],
    like: EngineSettings | None = None,
) -> SuiteResult:
    """The modeler's run: posted diagrams and scenario files' texts (`like`: the server's engine settings)."""
    scenarios = [s for name, text in scenario_texts for s in parse(text, Path(name))]
    return run(models, scenarios, like=like)


def _coverage(diagrams: list[Diagram], results: list[ScenarioResult]) -> list[DiagramCoverage]:
    coverage = [DiagramCoverage(d) for d in diagrams]
    for result in results:
        passage = Passage(result.outcome, diagrams)
        for arrival in result.outcome.arrivals:
            for entry in coverage:
                if arrival.process_key in entry.diagram.processes and arrival.element in entry.diagram.elements:
                    entry.elements.add(arrival.element)
        for flow in passage.flows:
            for entry in coverage:
                if flow in entry.diagram.flows:
                    entry.flows.add(flow)
    for entry in coverage:  # a compensation boundary event is used when its handler ran
        for boundary, handler in entry.diagram.compensations.items():
            if handler in entry.elements:
                entry.elements.add(boundary)
    return coverage


def _decisions(tables: list[DecisionTable], results: list[ScenarioResult]) -> list[DecisionCoverage]:
    coverage = {t.key: DecisionCoverage(t) for t in tables}
    for result in results:
        for event in result.outcome.events:
            if event["type"] == "decision_evaluated" and event["data"]["decision"] in coverage:
                coverage[event["data"]["decision"]].hit.update(event["data"].get("matchedRules") or [])
    return list(coverage.values())
