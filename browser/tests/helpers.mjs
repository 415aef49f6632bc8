// Shared by the browser tests: the server under test, the browser, the two screen
// sizes, the accessibility check and the screenshots.
//
// The server is a running `maeul serve` at MAEUL_URL (crates/maeul/tests/browser.rs
// starts one on a fresh data directory and runs these tests against it). The browser is
// Debian's chromium, driven by playwright-core (no downloaded browser).

import { readFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const BASE = process.env.MAEUL_URL;
if (!BASE) {
  throw new Error(
    'MAEUL_URL is not set: these tests need a running `maeul serve` ' +
      '(cargo test -p maeul --test browser starts one and sets it)',
  );
}

export const CHROMIUM = process.env.MAEUL_CHROMIUM ?? '/usr/bin/chromium';

/** Phone (an iPhone 12-sized screen) and desktop. */
export const SIZES = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  desktop: { viewport: { width: 1280, height: 800 }, isMobile: false, deviceScaleFactor: 1 },
};

/** Every page there is, by the name its screenshot is saved under. */
export const PAGES = {
  home: '/',
  status: '/status',
  'not-found': '/no-such-page',
};

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A browser context of `size` with the given preference cookies already set (as the
 * switches would have set them). Console errors (a CSP violation, a failed asset)
 * are collected on `context.errors`.
 */
export async function context(browser, size, { lang, text } = {}) {
  // A browser set to Korean, as most of the pages' visitors' are.
  const ctx = await browser.newContext({ ...SIZES[size], locale: 'ko-KR', baseURL: BASE });
  const cookies = [];
  if (lang) cookies.push({ name: 'lang', value: lang, url: BASE });
  if (text) cookies.push({ name: 'text', value: text, url: BASE });
  if (cookies.length) await ctx.addCookies(cookies);
  ctx.errors = [];
  ctx.on('page', (page) => {
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      // The document's own status (a 404 page) is logged too; tests check it directly.
      const own = m.location().url === page.url() && m.text().startsWith('Failed to load resource');
      if (!own) ctx.errors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => ctx.errors.push(`${page.url()}: ${e.message}`));
  });
  return ctx;
}

const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page and fails, listing them, on any `serious` or `critical`
 * violation. Injected through the DevTools protocol (`evaluate`), which the page's
 * Content-Security-Policy does not apply to: the pages themselves stay strict.
 */
export async function assertAccessible(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  );
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const described = bad
    .map(
      (v) =>
        `- [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n` +
        v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.replace(/\n/g, ' ')}`).join('\n'),
    )
    .join('\n');
  assert.equal(bad.length, 0, `axe-core found serious or critical problems on ${label}:\n${described}`);
}

/** Fails when the page is wider than the screen (it would scroll sideways). */
export async function assertNoHorizontalOverflow(page, label) {
  const { scrollWidth, innerWidth, widest } = await page.evaluate(() => {
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${[...e.classList].join('.')}`);
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      widest: wide,
    };
  });
  assert.ok(
    scrollWidth <= innerWidth,
    `${label} is ${scrollWidth}px wide on a ${innerWidth}px screen; too wide: ${widest.join(', ')}`,
  );
}

const screenshots = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

/** Writes docs/screenshots/<name>-<size>.png, only when MAEUL_UPDATE_SCREENSHOTS=1. */
export async function screenshot(page, name, size) {
  if (process.env.MAEUL_UPDATE_SCREENSHOTS !== '1') return;
  await mkdir(screenshots, { recursive: true });
  await page.screenshot({ path: `${screenshots}${name}-${size}.png`, fullPage: true });
}

/** The status document, fetched as another site or app would. */
export async function statusJson() {
  const response = await fetch(new URL('/status.json', BASE));
  assert.equal(response.status, 200);
  return response.json();
}

/** The demo's published password (crates/maeul/src/serve.rs, `DEMO_PASSWORD`). */
export const DEMO_PASSWORD = 'maeul-demo-password';

/** Signs in through the API, as an app would: the session's token. */
export async function apiSignIn(login, password = DEMO_PASSWORD) {
  const response = await fetch(new URL('/api/v1/sessions', BASE), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login, password }),
  });
  assert.equal(response.status, 200, `signing in ${login} through the API`);
  return (await response.json()).token;
}

/** `GET /api/v1/me/wallet` with a bearer token. */
export async function apiWallet(token) {
  const response = await fetch(new URL('/api/v1/me/wallet', BASE), {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

/** Signs in through the sign-in page's form (in Korean or English). */
export async function signInWithForm(page, login, password = DEMO_PASSWORD) {
  await page.goto('/sign-in');
  const ko = (await page.getAttribute('html', 'lang')) === 'ko';
  await page.getByLabel(ko ? '아이디' : 'Login', { exact: true }).fill(login);
  await page.getByLabel(ko ? '비밀번호' : 'Password', { exact: true }).fill(password);
  await page.locator('main').getByRole('button', { name: ko ? '로그인' : 'Sign in' }).click();
}
