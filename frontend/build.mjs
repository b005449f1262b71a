// Builds the browser bundles into app/static/vendor: minified IIFE scripts with stable globals, one stylesheet per
// bundle (fonts copied beside it), the prebuilt htmx and uPlot files, and the licence of every package shipped.
// Run with `npm run build` (or `make assets` from the repository root). The output is committed.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '..', 'app', 'static', 'vendor');
const modules = join(here, 'node_modules');

// bundle file name -> the global it defines on window
const scripts = {
  'bpmn-viewer': 'OrderflowBpmn',
  'bpmn-modeler': 'OrderflowBpmnModeler',
  'dmn-modeler': 'OrderflowDmn',
  'form-viewer': 'OrderflowForms',
};
const styles = ['bpmn-viewer', 'bpmn-modeler', 'dmn-modeler', 'form-viewer'];
// files shipped already built by their packages: copied as they are
const copies = {
  'htmx.min.js': 'htmx.org/dist/htmx.min.js',
  'chart.js': 'uplot/dist/uPlot.iife.min.js',
  'chart.css': 'uplot/dist/uPlot.min.css',
};

const common = {
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  charset: 'utf8',
  logLevel: 'warning',
  metafile: true,
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const inputs = new Map(); // package directory -> bundles that contain it

function record(bundle, paths) {
  for (const path of paths) {
    const dir = packageDir(path);
    if (dir) inputs.set(dir, new Set([...(inputs.get(dir) ?? []), bundle]));
  }
}

for (const [name, globalName] of Object.entries(scripts)) {
  const result = await build({
    ...common,
    entryPoints: [join(here, 'src', `${name}.js`)],
    outfile: join(out, `${name}.js`),
    format: 'iife',
    globalName,
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  record(`${name}.js`, Object.keys(result.metafile.inputs));
}

const fonts = Object.fromEntries(['.woff', '.woff2', '.ttf', '.eot', '.svg'].map((ext) => [ext, 'file']));
const css = await build({
  ...common,
  entryPoints: styles.map((name) => join(here, 'src', `${name}.css`)),
  outdir: out,
  loader: fonts,
  assetNames: 'fonts/[name]-[hash]',
});
for (const [file, output] of Object.entries(css.metafile.outputs)) {
  if (file.endsWith('.css')) record(relative(out, file), Object.keys(output.inputs));
}

for (const [target, source] of Object.entries(copies)) {
  copyFileSync(join(modules, source), join(out, target));
  record(target, [join('node_modules', source)]);
}

writeLicences();
report();

// node_modules/a/node_modules/@scope/b/lib/x.js -> node_modules/a/node_modules/@scope/b
function packageDir(path) {
  const parts = path.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at < 0) return null;
  const width = parts[at + 1].startsWith('@') ? 2 : 1;
  return parts.slice(0, at + 1 + width).join('/');
}

function writeLicences() {
  const folder = join(out, 'LICENSES');
  mkdirSync(folder);
  // one entry per name@version (a package can sit in several node_modules folders), bundles merged
  const shipped = new Map();
  for (const [dir, bundles] of inputs) {
    const pkg = JSON.parse(readFileSync(join(here, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(here, dir)).find((name) => /^licen[cs]e([-.].*)?$/i.test(name));
    const key = `${pkg.name}@${pkg.version}`;
    const entry = shipped.get(key) ?? { pkg, text: file && readFileSync(join(here, dir, file), 'utf8'), bundles: [] };
    entry.bundles.push(...bundles);
    shipped.set(key, entry);
  }
  // LICENSES/<name>.txt, or <name>@<version>.txt when two shipped versions of a package differ in licence text
  const texts = new Map();
  for (const { pkg, text } of shipped.values()) texts.set(pkg.name, new Set([...(texts.get(pkg.name) ?? []), text]));
  const lines = ['Packages shipped in app/static/vendor, their licences, and the files that contain them.', ''];
  const missing = [];
  for (const [key, { pkg, text, bundles }] of [...shipped].sort(([a], [b]) => a.localeCompare(b))) {
    const base = texts.get(pkg.name).size > 1 ? key : pkg.name;
    const target = `${base.replace('/', '__')}.txt`;
    if (text) writeFileSync(join(folder, target), text);
    else missing.push(key);
    const where = text ? target : `the package ships no licence text (author: ${JSON.stringify(pkg.author ?? '')})`;
    lines.push(`${key}  ${pkg.license}  ${where}  (in ${[...new Set(bundles)].sort().join(', ')})`);
  }
  writeFileSync(join(folder, 'INDEX.txt'), `${lines.join('\n')}\n`);
  if (missing.length) console.warn(`no licence text shipped by: ${missing.join(', ')} (listed in LICENSES/INDEX.txt)`);
}

function report() {
  let total = 0;
  for (const file of readdirSync(out)) {
    const path = join(out, file);
    if (!statSync(path).isFile()) continue;
    total += statSync(path).size;
    console.log(`${file.padEnd(20)} ${(statSync(path).size / 1024).toFixed(0).padStart(6)} KiB`);
  }
  console.log(`${'total (top level)'.padEnd(20)} ${(total / 1024).toFixed(0).padStart(6)} KiB`);
  if (!existsSync(join(out, 'fonts'))) throw new Error('no fonts were copied: the icon fonts would not load');
}
