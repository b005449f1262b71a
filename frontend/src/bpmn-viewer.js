// window.OrderflowBpmn: the read-only diagram viewer (pan and zoom) used on instance and definition pages.
export { default as NavigatedViewer } from 'bpmn-js/lib/NavigatedViewer';
