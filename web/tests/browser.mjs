// The dashboard in a real browser: Debian's chromium, driven by playwright-core.
//   node web/tests/browser.mjs BASE_URL OUT_DIR
// Environment: SIGILLO_E2E_USER / SIGILLO_E2E_PASSWORD (a responsabile), SIGILLO_E2E_SEARCH
// (a word of one seeded subject), SIGILLO_E2E_REJECTED (the subject of a rejected message).
// Steps: log in, search, open a record, download a document, annul it (two steps), export
// the daily register (CSV and PDF/A), register a rejected message anyway (reason, two
// steps); screenshots of the main pages
// into OUT_DIR; axe-core on every page, failing on serious or critical violations.
// Exits 0 when every step passed, 1 with the failing step otherwise.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [base, out] = process.argv.slice(2);
if (!base || !out) { console.error('usage: browser.mjs BASE_URL OUT_DIR'); process.exit(2); }
mkdirSync(out, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const user = process.env.SIGILLO_E2E_USER, password = process.env.SIGILLO_E2E_PASSWORD;
const word = process.env.SIGILLO_E2E_SEARCH;
const rejected = process.env.SIGILLO_E2E_REJECTED;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
// bypassCSP only lets the test inject axe-core; the page's own CSP is asserted by the Rust tests.
const context = await browser.newContext({ acceptDownloads: true, bypassCSP: true, locale: 'it-IT', viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', e => problems.push(`errore JavaScript: ${e.message}`));

async function audit(name) {
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
  const bad = result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  writeFileSync(join(out, `${name}.axe.json`), JSON.stringify(result.violations, null, 2));
  for (const v of bad) problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} elementi)`);
  const title = await page.title();
  if (!title || !title.includes('Sigillo')) problems.push(`${name}: titolo non significativo: ${title}`);
}
function step(name) { console.log(`step: ${name}`); }

try {
  step('login');
  await page.goto(`${base}/accedi`);
  await audit('01-accesso');
  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('main button[type=submit]')]);
  await audit('02-cruscotto');

  step('search');
  await page.click('a.nav-link[href="/registrazioni"]');
  await page.waitForURL(`${base}/registrazioni`);
  await audit('03-registrazioni');
  await page.fill('#q', word);
  await page.keyboard.press('Enter');
  await page.waitForFunction(w => document.querySelectorAll('#risultati tbody tr').length === 1
    && document.querySelector('#risultati').textContent.toLowerCase().includes(w.toLowerCase()), word);
  await audit('04-ricerca');

  step('open a record');
  await Promise.all([page.waitForURL(/\/registrazioni\/\d+$/), page.click('#risultati tbody tr a')]);
  await audit('05-registrazione');
  const subject = await page.textContent('#oggetto');
  if (!subject.toLowerCase().includes(word.toLowerCase())) throw new Error(`record shows ${subject}`);

  step('download a document');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[href*="/documenti/"]')]);
  const saved = join(out, 'documento-scaricato');
  await download.saveAs(saved);
  if (readFileSync(saved).length === 0) throw new Error('empty download');

  step('annul');
  await Promise.all([page.waitForURL(/\/annulla$/), page.click('a[href$="/annulla"]')]);
  await audit('06-annullamento');
  await page.fill('#motivo', 'Registrazione duplicata');
  await page.fill('#atto', 'Provvedimento n. 12/2026');
  await page.click('main button[type=submit]');
  await page.waitForSelector('text=Conferma richiesta');
  await audit('07-annullamento-conferma');
  await Promise.all([page.waitForURL(/esito=annullata/), page.click('main button.btn-danger')]);
  await page.waitForSelector('text=ANNULLATA');
  await audit('08-annullata');

  step('export the daily register');
  await page.click('a.nav-link[href="/registro"]');
  await page.waitForURL(`${base}/registro`);
  await audit('09-registro-giornaliero');
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('a[href^="/registro.csv"]')]);
  const csvPath = join(out, 'registro.csv');
  await csv.saveAs(csvPath);
  const text = readFileSync(csvPath, 'utf8');
  // "Scarica CSV" is the spreadsheet form: BOM, `;`, Italian headers (the archival CSV is ?formato=archivio)
  if (!text.startsWith('\uFEFFTipo di riga;Numero;Anno;Segnatura') || !text.includes('annullamento;')) throw new Error('CSV without the annulment');
  const [pdf] = await Promise.all([page.waitForEvent('download'), page.click('a[href^="/registro.pdf"]')]);
  const pdfPath = join(out, 'registro.pdf');
  await pdf.saveAs(pdfPath);
  if (readFileSync(pdfPath).subarray(0, 5).toString('latin1') !== '%PDF-') throw new Error('the daily register PDF is not a PDF');

  step('register a rejected message anyway');
  await page.click('a.nav-link[href="/scartati"]');
  await page.waitForURL(`${base}/scartati`);
  await audit('10-scartati');
  if (!(await page.textContent('main')).includes(rejected)) throw new Error(`the rejected list does not show «${rejected}»`);
  await Promise.all([page.waitForURL(/\/messaggi\/\d+\/registra$/), page.click('a[href$="/registra"]')]);
  await audit('11-protocolla-comunque');
  await page.fill('#motivo', 'Istanza inviata dalla PEC del richiedente (art. 65 c.1 c-bis CAD)');
  await page.click('main button[type=submit]');
  await page.waitForSelector('text=Conferma richiesta');
  await audit('12-protocollazione-conferma');
  await Promise.all([page.waitForURL(/esito=protocollata/), page.click('main button.btn-danger')]);
  const registered = await page.textContent('#oggetto');
  if (!registered.includes(rejected)) throw new Error(`registered record shows ${registered}`);
  await audit('13-protocollata');

  step('keyboard');
  await page.goto(`${base}/`);
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent.trim());
  if (focused !== 'Vai al contenuto principale') problems.push(`il primo Tab porta a «${focused}», non al collegamento per saltare al contenuto`);
} catch (e) {
  problems.push(`passo non riuscito: ${e.message}`);
  await page.screenshot({ path: join(out, 'errore.png'), fullPage: true }).catch(() => {});
}
await browser.close();
if (problems.length) { for (const p of problems) console.error(p); process.exit(1); }
console.log('browser: all steps passed');
