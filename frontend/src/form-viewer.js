// window.OrderflowForms: renders Camunda (form-js) forms for user tasks in the inbox.
export { Form, createForm } from '@bpmn-io/form-js-viewer';
