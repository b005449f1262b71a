// window.OrderflowDmn: the decision (DMN) modeler: DRD, decision table and literal expression editors.
//
// dmn-js edits DMN 1.3 (what Camunda Modeler writes). The engine also reads DMN 1.4 and 1.5 (the DMN TCK files are
// 1.5), so `Modeler#importXML` first maps the 1.4/1.5 namespaces to their 1.3 equivalents; a file saved from the
// modeler is then DMN 1.3. Elements that only exist in 1.4/1.5 come back as import warnings, which pages must show.
import DmnModeler from 'dmn-js/lib/Modeler';

const NEWER = /https:\/\/www\.omg\.org\/spec\/DMN\/(?:20211108|20230324)\/(MODEL|DMNDI|FEEL)\//g;

export function toDmn13(xml) {
  return xml.replace(NEWER, 'https://www.omg.org/spec/DMN/20191111/$1/');
}

export class Modeler extends DmnModeler {
  importXML(xml, options) {
    return super.importXML(toDmn13(xml), options);
  }
}

export { DmnModeler };
