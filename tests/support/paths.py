"""Where the tests find the checkout, the shipped workflow, the conformance files and their own diagrams."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


SHIPPED = ROOT / "bpmn" / "order_fulfillment.bpmn"


CONFORMANCE = Path(os.environ.get("ORDERFLOW_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))


DIAGRAMS = ROOT / "tests" / "diagrams"  # BPMN, DMN and form files some tests deploy
