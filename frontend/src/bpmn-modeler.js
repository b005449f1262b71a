// window.OrderflowBpmnModeler: the browser modeler. `Modeler` is bpmn-js's Modeler with the properties panel, the
// Camunda 7 (camunda:*) properties and the Camunda 7 modelling behaviours built in, so diagrams drawn here open in
// Camunda Modeler and the engine reads the same extension attributes. Pass `propertiesPanel: { parent }` or attach
// later with `modeler.get('propertiesPanel').attachTo(element)`.
import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

export default class Modeler extends BpmnModeler {}

Modeler.prototype._modules = [
  ...BpmnModeler.prototype._modules,
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
  CamundaBehaviorsModule,
];
Modeler.prototype._moddleExtensions = { camunda: camundaModdle };

export {
  Modeler,
  BpmnModeler,
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
  CamundaBehaviorsModule,
  camundaModdle,
};
