// A clerk of the protocol office registers a paper letter at the desk, in a real browser
// (Debian's chromium driven by playwright-core), at 1366×768, the usual office screen.
//   node web/tests/desk.mjs BASE_URL OUT_DIR PDF_FILE
// Environment: SIGILLO_E2E_USER / SIGILLO_E2E_PASSWORD (an operatore); SIGILLO_E2E_OFFICE
// (an office id) and SIGILLO_E2E_OFFICE_USER (a member of it, same password).
// Steps: log in, open "Nuova registrazione", fill the form (paper, registered post, a
// citizen with codice fiscale, two attachments on paper, a class of the titolario), upload
// the PDF, register; the record page must show the number, the channel, the document and
// the class. The clerk assigns it to the office for competenza and logs out; the office
// user logs in, finds it in the office inbox, opens it and takes it in charge. Screenshots
// of every page go to OUT_DIR; axe-core runs on each.
// Exits 0 when every step passed, 1 with the failing step otherwise.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [base, out, pdf] = process.argv.slice(2);
if (!base || !out || !pdf) { console.error('usage: desk.mjs BASE_URL OUT_DIR PDF_FILE'); process.exit(2); }
mkdirSync(out, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const user = process.env.SIGILLO_E2E_USER, password = process.env.SIGILLO_E2E_PASSWORD;
const office = process.env.SIGILLO_E2E_OFFICE, officeUser = process.env.SIGILLO_E2E_OFFICE_USER;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ bypassCSP: true, locale: 'it-IT', viewport: { width: 1366, height: 768 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', e => problems.push(`errore JavaScript: ${e.message}`));

async function audit(name, fullPage) {
  await page.screenshot({ path: join(out, `${name}.png`), fullPage });
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
  writeFileSync(join(out, `${name}.axe.json`), JSON.stringify(result.violations, null, 2));
  for (const v of result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')) {
    problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} elementi)`);
  }
}
function step(name) { console.log(`step: ${name}`); }

async function login(who) {
  await page.goto(`${base}/accedi`);
  await page.fill('#username', who);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('main button[type=submit]')]);
}

try {
  step('login');
  await login(user);

  step('open the desk form');
  await Promise.all([page.waitForURL(`${base}/protocolla`), page.click('a.nav-link[href="/protocolla"]')]);

  step('fill the form');
  await page.selectOption('#direzione', 'arrivo');
  await page.selectOption('#canale', 'carta');
  await page.selectOption('#modalita', 'raccomandata');
  await page.fill('#oggetto', 'Richiesta di rimborso della TARI 2025');
  await page.fill('#data_ricezione', '2026-12-04');
  await page.fill('#ora_ricezione', '11:20');
  await page.fill('#nome_1', 'Giulia Esposito');
  await page.fill('#cf_1', 'RSSMRA85T10A562S');
  await page.fill('#indirizzo_1', 'Via dei Mille 12, 80121 Napoli');
  await page.fill('#allegati_cartacei', '2');
  await page.selectOption('#classe', 'IV.3');
  await page.setInputFiles('#documenti', pdf);
  await audit('desk-01-modulo', false);

  step('register');
  await Promise.all([page.waitForURL(/\/registrazioni\/\d+\?esito=registrata$/), page.click('#registrazione-sportello button[type=submit]')]);
  await audit('desk-02-registrazione', false);
  await page.screenshot({ path: join(out, 'desk-03-registrazione-intera.png'), fullPage: true });
  const text = await page.textContent('main');
  for (const expected of ['Protocollo n. 0000001', 'Richiesta di rimborso della TARI 2025', 'carta (raccomandata)',
                          'Giulia Esposito', 'RSSMRA85T10A562S', 'lettera-tari.pdf', 'Allegati su carta',
                          'IV.3 — Gestione delle entrate: accertamento, riscossione, versamento']) {
    if (!text.includes(expected)) throw new Error(`the record page does not show «${expected}»`);
  }

  if (office && officeUser) {
    const record = new URL(page.url()).pathname;
    step('assign it to the office for competenza');
    await page.selectOption('#tipo', 'competenza');
    await page.selectOption('#ufficio', office);
    await page.fill('#nota', 'Istruttoria del rimborso');
    await Promise.all([page.waitForURL(/\?esito=assegnata$/), page.click('#modulo-assegna button[type=submit]')]);
    await audit('desk-04-assegnata', false);
    if (!(await page.textContent('#assegnazioni-correnti')).includes('Da prendere in carico')) {
      throw new Error('the record does not show the assignment waiting to be taken in charge');
    }

    step('log out');
    await Promise.all([page.waitForURL(`${base}/accedi`), page.click('form[action="/esci"] button[type=submit]')]);

    step('the office user logs in and opens the inbox');
    await login(officeUser);
    await Promise.all([page.waitForURL(/\/assegnazioni/), page.click('a.nav-link[href="/assegnazioni"]')]);
    await audit('ufficio-01-da-prendere', false);
    const row = page.locator(`#elenco-assegnazioni a[href="${record}"]`);
    if (await row.count() !== 1) throw new Error('the office inbox does not list the registration');

    step('open it and take it in charge');
    await Promise.all([page.waitForURL(`${base}${record}`), row.click()]);
    await Promise.all([page.waitForURL(/\?esito=presa-in-carico$/), page.click('.azioni-assegnazione button[id^="prendi-"]')]);
    await audit('ufficio-02-in-carico', false);
    const state = await page.textContent('#assegnazioni-correnti');
    if (!state.includes('In carico')) throw new Error(`the record does not show it in charge: ${state}`);
  }
} catch (e) {
  problems.push(`passo non riuscito: ${e.message}`);
  await page.screenshot({ path: join(out, 'desk-errore.png'), fullPage: true }).catch(() => {});
}
await browser.close();
if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log('all desk steps passed');
