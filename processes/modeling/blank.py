"""The diagrams a new process or decision starts from: Camunda 7 flavoured (so Camunda Modeler opens them as
Camunda Platform 7 diagrams), executable, with the one element nobody can do without, and laid out."""

from __future__ import annotations

import re
import unicodedata
from xml.sax.saxutils import quoteattr

from anyascii import anyascii

from processes.errors import InvalidInput

# A key is the id of the process or decision in the XML (an NCName), and the name people use in the API.
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")
EXECUTION_PLATFORM = 'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.21.0"'


def check_key(key: str) -> str:
    """The key, or InvalidInput saying what a key may hold."""
    key = (key or "").strip()
    if not _KEY.match(key):
        raise InvalidInput(
            f"key {key!r}: start with a letter or _, then letters, digits, _ . or - (at most 200 characters)"
        )
    return key


# A key made from a name stays short enough to read in a header and a URL (a key typed by hand may be longer).
MAX_DERIVED_KEY = 60
# Scripts written without spaces between words, where each character reads as a syllable of its own.
_SYLLABIC = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


def key_from_name(name: str) -> str:
    """A key for a name people typed: 'Approve big orders' -> 'approve_big_orders', 'Überprüfung' -> 'uberprufung',
    '日本' -> 'ri_ben', 'Заказ' -> 'zakaz'. Keys are ASCII (check_key: they are ids in the XML and parts of URLs),
    so other scripts are transliterated (anyascii), not dropped; at most MAX_DERIVED_KEY characters, cut at a word."""
    plain = "".join(_transliterated(char) for char in name)
    key = re.sub(r"[^A-Za-z0-9]+", "_", plain).strip("_").lower()
    if len(key) > MAX_DERIVED_KEY:
        cut = key[: MAX_DERIVED_KEY + 1]
        key = (cut.rsplit("_", 1)[0] if "_" in cut else cut[:MAX_DERIVED_KEY]).strip("_")
    return key if key and not key[0].isdigit() else f"process_{key}".strip("_")


def _transliterated(char: str) -> str:
    if char.isascii():
        return char
    text = anyascii(char)
    return f" {text} " if any(script in unicodedata.name(char, "") for script in _SYLLABIC) else text


def blank_process(key: str, name: str) -> str:
    """An executable Camunda 7 process with a start event."""
    key = check_key(key)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" \
xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_{key}" \
targetNamespace="http://bpmn.io/schema/bpmn" exporter="orderflow" exporterVersion="1" {EXECUTION_PLATFORM}>
  <bpmn:process id="{key}" name={quoteattr(name or key)} isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" name="Order received" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{key}">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="152" y="182" width="36" height="36" />
        <bpmndi:BPMNLabel>
          <dc:Bounds x="133" y="225" width="75" height="14" />
        </bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def blank_decision(key: str, name: str) -> str:
    """A DMN 1.3 decision table with one input, one output and two rules to overwrite."""
    key = check_key(key)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" \
xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/" \
xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_{key}" name={quoteattr(name or key)} \
namespace="http://camunda.org/schema/1.0/dmn" exporter="orderflow" exporterVersion="1" {EXECUTION_PLATFORM}>
  <decision id="{key}" name={quoteattr(name or key)}>
    <decisionTable id="DecisionTable_{key}" hitPolicy="UNIQUE">
      <input id="Input_1" label="Order total">
        <inputExpression id="InputExpression_1" typeRef="number">
          <text>total</text>
        </inputExpression>
      </input>
      <output id="Output_1" label="Discount (%)" name="discount" typeRef="number" />
      <rule id="Rule_1">
        <inputEntry id="InputEntry_1"><text>&lt; 1000</text></inputEntry>
        <outputEntry id="OutputEntry_1"><text>0</text></outputEntry>
      </rule>
      <rule id="Rule_2">
        <inputEntry id="InputEntry_2"><text>&gt;= 1000</text></inputEntry>
        <outputEntry id="OutputEntry_2"><text>5</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
  <dmndi:DMNDI>
    <dmndi:DMNDiagram id="DMNDiagram_1">
      <dmndi:DMNShape id="DMNShape_{key}" dmnElementRef="{key}">
        <dc:Bounds height="80" width="180" x="160" y="100" />
      </dmndi:DMNShape>
    </dmndi:DMNDiagram>
  </dmndi:DMNDI>
</definitions>
"""
