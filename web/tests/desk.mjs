// The clerk's desk in a real browser at 1366×768 (Debian's chromium, playwright-core):
//   node web/tests/desk.mjs BASE_URL OUT_DIR
// Environment: SIGILLO_E2E_USER / SIGILLO_E2E_ADMIN / SIGILLO_E2E_PASSWORD (a responsabile,
// an amministratore), SIGILLO_E2E_RECORD (the id of a registration), SIGILLO_E2E_NUMBER (its
// number as typed, e.g. 2/2026), SIGILLO_E2E_SEARCH (a word of a seeded subject).
// Steps: a record asked for before login opens after login; the fonts are loaded; the
// printouts; the home page and its search box; search results; the review and rejected
// lists fit the screen one line per message; a message opened before deciding; an expired
// session during an htmx search goes to the login page and back; a link from another site
// opens the record; the users page's form. Screenshots into OUT_DIR; axe-core on every page,
// failing on any violation. Exits 0 when every step passed, 1 with the problems otherwise.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [base, out] = process.argv.slice(2);
if (!base || !out) { console.error('usage: desk.mjs BASE_URL OUT_DIR'); process.exit(2); }
mkdirSync(out, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const env = (k) => { const v = process.env[k]; if (!v) { console.error(`${k} is not set`); process.exit(2); } return v; };
const user = env('SIGILLO_E2E_USER'), admin = env('SIGILLO_E2E_ADMIN'), password = env('SIGILLO_E2E_PASSWORD');
const record = env('SIGILLO_E2E_RECORD'), number = env('SIGILLO_E2E_NUMBER'), word = env('SIGILLO_E2E_SEARCH');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const viewport = { width: 1366, height: 768 };
// bypassCSP only lets the test inject axe-core; the page's own CSP is asserted by the Rust tests.
const context = await browser.newContext({ bypassCSP: true, locale: 'it-IT', viewport });
const page = await context.newPage();
const problems = [];
page.on('pageerror', e => problems.push(`errore JavaScript: ${e.message}`));
const check = (ok, what) => { if (!ok) problems.push(what); };

async function audit(p, name) {
  // What a clerk sees on the screen (not the whole page): the 1366×768 screen is the point.
  await p.screenshot({ path: join(out, `${name}.png`) });
  await p.addScriptTag({ content: axeSource });
  const result = await p.evaluate(async () => await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }));
  writeFileSync(join(out, `${name}.axe.json`), JSON.stringify(result.violations, null, 2));
  for (const v of result.violations) problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')})`);
  const title = await p.title();
  check(title && title.includes('Sigillo'), `${name}: titolo non significativo: ${title}`);
  // Nothing wider than the screen.
  const wide = await p.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 1366, `${name}: la pagina è larga ${wide} px, più dello schermo`);
}
function step(name) { console.log(`step: ${name}`); }

async function login(p, who, then) {
  await p.fill('#username', who);
  await p.fill('#password', password);
  await Promise.all([p.waitForURL(then), p.click('main button[type=submit]')]);
}

try {
  step('a record asked for before login opens after login');
  await page.goto(`${base}/registrazioni/${record}`);
  check(page.url().startsWith(`${base}/accedi`), `senza sessione si apre ${page.url()}, non l'accesso`);
  await audit(page, 'desk-00-accesso');
  await login(page, user, `${base}/registrazioni/${record}`);

  step('fonts');
  const fonts = await page.evaluate(async () => {
    await document.fonts.ready;
    return { body: getComputedStyle(document.body).fontFamily,
             loaded: [...document.fonts].filter(f => f.status === 'loaded').map(f => `${f.family} ${f.weight}`) };
  });
  check(fonts.body.startsWith('"Titillium Web"'), `il testo usa ${fonts.body}`);
  check(fonts.loaded.some(f => f.includes('Titillium Web')), `Titillium Web non caricato (caricati: ${fonts.loaded.join(', ')})`);
  console.log(`fonts loaded: ${fonts.loaded.join(', ')}`);
  await audit(page, 'desk-05-registrazione');

  step('print');
  await Promise.all([page.waitForURL(/\/stampa$/), page.click('a[href$="/stampa"]')]);
  await audit(page, 'desk-06-stampa-ricevuta');
  await page.emulateMedia({ media: 'print' });
  check(!(await page.isVisible('.comandi-stampa')), 'i pulsanti compaiono nella stampa');
  await page.screenshot({ path: join(out, 'desk-06-stampa-ricevuta-carta.png') });
  await page.emulateMedia({ media: 'screen' });
  await Promise.all([page.waitForURL(/tipo=etichetta$/), page.click('a[href$="tipo=etichetta"]')]);
  await audit(page, 'desk-07-stampa-etichetta');
  const label = await page.evaluate(() => { const r = document.querySelector('#etichetta').getBoundingClientRect(); return { w: r.width, h: r.height }; });
  check(label.w > 300 && label.w < 400 && label.h < 200, `etichetta di ${label.w}×${label.h} px`);

  step('home');
  await page.goto(`${base}/`);
  await audit(page, 'desk-01-cruscotto');
  for (const id of ['link-arrivati', 'link-scartati', 'link-revisione']) {
    check(await page.isVisible(`#${id}`), `contatore ${id} senza collegamento`);
  }
  await page.fill('#ricerca-rapida', number);
  await Promise.all([page.waitForURL(`${base}/registrazioni/${record}`), page.keyboard.press('Enter')]);

  step('search');
  await page.goto(`${base}/registrazioni`);
  await page.fill('#q', word);
  await page.keyboard.press('Enter');
  await page.waitForFunction(w => document.querySelectorAll('#risultati tbody tr').length >= 1
    && document.querySelector('#risultati').textContent.toLowerCase().includes(w.toLowerCase()), word);
  check(await page.isVisible('#totale-registrazioni'), 'la ricerca non dice quante registrazioni ha trovato');
  await audit(page, 'desk-04-ricerca');

  step('queues');
  for (const [path, name] of [['/revisione', 'desk-02-revisione'], ['/scartati', 'desk-03-scartati'], ['/scartati?filtro=da-decidere', 'desk-03-scartati-da-decidere']]) {
    await page.goto(`${base}${path}`);
    await audit(page, name);
    const rows = await page.evaluate(() => [...document.querySelectorAll('table.coda tbody tr')].map(tr => tr.getBoundingClientRect().height));
    check(rows.length > 0, `${name}: nessun messaggio`);
    check(rows.every(h => h < 48), `${name}: righe alte ${rows.join(', ')} px, non una riga per messaggio`);
    const actions = await page.evaluate(() => [...document.querySelectorAll('table.coda td.azioni')].every(td => {
      const r = td.getBoundingClientRect(); return r.right <= window.innerWidth && [...td.querySelectorAll('a,button')].every(b => b.getBoundingClientRect().right <= r.right + 1);
    }));
    check(actions, `${name}: azioni fuori dallo schermo`);
  }

  step('a message before deciding');
  await page.goto(`${base}/scartati`);
  await Promise.all([page.waitForURL(/\/messaggi\/\d+$/), page.click('table.coda tbody tr a.btn')]);
  check(await page.isVisible('#testo-messaggio'), 'il testo del messaggio non è mostrato');
  await audit(page, 'desk-08-messaggio');

  step('htmx with an expired session');
  await page.goto(`${base}/registrazioni`);
  await context.clearCookies();
  await page.fill('#q', word);
  await Promise.all([page.waitForURL(/\/accedi$/), page.keyboard.press('Enter')]);
  check((await page.locator('#risultati').count()) === 0, 'la pagina di accesso è dentro i risultati');
  // Back to the page the clerk was on when the session expired.
  await login(page, user, `${base}/registrazioni`);

  step('a link from another site');
  // "localhost" is another site than "127.0.0.1": the Strict session cookie is not sent.
  const other = base.replace('127.0.0.1', 'localhost');
  const webmail = await context.newPage();
  await webmail.goto(`${other}/accedi`);
  await webmail.evaluate(([href]) => { const a = document.createElement('a'); a.id = 'dalla-webmail'; a.href = href; a.textContent = 'Apri'; document.body.prepend(a); }, [`${base}/registrazioni/${record}`]);
  await webmail.click('#dalla-webmail');
  // The first answer opens the address again from our origin; the record follows.
  const opened = await webmail.waitForSelector('#oggetto', { timeout: 15000 }).then(() => true, () => false);
  check(opened && webmail.url() === `${base}/registrazioni/${record}`, `dal collegamento esterno si apre ${webmail.url()}, non la registrazione`);
  await webmail.close();

  step('users');
  const adminContext = await browser.newContext({ bypassCSP: true, locale: 'it-IT', viewport });
  const ap = await adminContext.newPage();
  ap.on('pageerror', e => problems.push(`errore JavaScript: ${e.message}`));
  await ap.goto(`${base}/utenti`);
  await login(ap, admin, `${base}/utenti`);
  await audit(ap, 'desk-09-utenti');
  // Bootstrap Italia puts a field's label in the upper part of the field's box: a label must
  // stay there (above the field's middle, where the text is typed) and below the heading.
  const overlaps = await ap.evaluate(() => {
    const heading = document.querySelector('#nuovo-utente').getBoundingClientRect();
    return [...document.querySelectorAll('form[action="/utenti"] label')].map(l => {
      const field = document.getElementById(l.htmlFor); const a = l.getBoundingClientRect(), b = field.getBoundingClientRect();
      const visible = b.height > 10 && b.width > 50;
      const apart = a.bottom <= b.top + b.height / 2 && a.top >= heading.bottom;
      return visible && apart ? null : `${l.htmlFor}: etichetta ${Math.round(a.top)}-${Math.round(a.bottom)}, campo ${Math.round(b.top)}-${Math.round(b.bottom)}, titolo fino a ${Math.round(heading.bottom)}`;
    }).filter(Boolean);
  });
  for (const o of overlaps) problems.push(`utenti: ${o}`);
  await adminContext.close();
} catch (e) {
  problems.push(`passo non riuscito: ${e.message}`);
  await page.screenshot({ path: join(out, 'desk-errore.png') }).catch(() => {});
}
await browser.close();
if (problems.length) { for (const p of problems) console.error(p); process.exit(1); }
console.log('desk: all steps passed');
