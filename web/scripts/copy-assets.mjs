// Copies the distributed files of the npm packages into static/vendor/, where the server
// serves them from. Run by `npm run build` (scripts/test runs `npm ci && npm run build`).
// Nothing under static/vendor/ is committed: it always comes from the locked packages.
import { cpSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = join(web, 'node_modules');
const vendor = join(web, 'static', 'vendor');

const files = [
  ['bootstrap-italia/dist/css/bootstrap-italia.min.css', 'bootstrap-italia/css/bootstrap-italia.min.css'],
  ['bootstrap-italia/dist/js/bootstrap-italia.bundle.min.js', 'bootstrap-italia/js/bootstrap-italia.bundle.min.js'],
  ['bootstrap-italia/dist/svg/sprites.svg', 'bootstrap-italia/svg/sprites.svg'],
  ['bootstrap-italia/dist/fonts', 'bootstrap-italia/fonts'],
  ['bootstrap-italia/LICENSE', 'bootstrap-italia/LICENSE'],
  ['htmx.org/dist/htmx.min.js', 'htmx/htmx.min.js'],
  ['htmx.org/LICENSE', 'htmx/LICENSE'],
];

rmSync(vendor, { recursive: true, force: true });
for (const [from, to] of files) {
  const src = join(modules, from);
  if (!existsSync(src)) {
    console.error(`copy-assets: ${src} is missing: run npm ci in web/ first`);
    process.exit(2);
  }
  const dest = join(vendor, to);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(src, dest, { recursive: true });
}
console.log(`copy-assets: ${files.length} entries copied to ${vendor}`);
