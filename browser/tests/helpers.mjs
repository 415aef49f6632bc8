// Shared by the browser tests: the server under test, the browser, the two screen
// sizes, the accessibility check and the screenshots.
//
// The server is a running `maeul serve` at MAEUL_URL (crates/maeul/tests/browser.rs
// starts one on a fresh data directory and runs these tests against it). The browser is
// Debian's chromium, driven by playwright-core (no downloaded browser).

import { readFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { test } from 'node:test';
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

/** The looks every page is checked in: Korean, English, and Korean in large text. */
export const LOOKS = [
  { lang: 'ko', text: 'normal' },
  { lang: 'en', text: 'normal' },
  { lang: 'ko', text: 'large' },
];

/**
 * Checks the page shown in one look: its heading in that language (`h1.ko`, `h1.en`: a
 * string or a RegExp), axe-core, no sideways scrolling on a phone, and (Korean, normal
 * text) its screenshot `name`.
 */
export async function checkLook(page, { name, size, lang, text, h1 }) {
  if (h1) {
    const want = h1[lang];
    const got = (await page.textContent('h1')).trim();
    if (want instanceof RegExp) assert.match(got, want, name);
    else assert.equal(got, want, name);
  }
  await assertAccessible(page, `${name} (${size}, ${lang}, ${text} text)`);
  if (size === 'phone') await assertNoHorizontalOverflow(page, `${name} (${lang}, ${text} text)`);
  if (lang === 'ko' && text === 'normal') await screenshot(page, name, size);
}

/**
 * One test per screen size: `signIn(page)` (if given), then every page of `pages`
 * (`{ name: { path, h1, status = 200, open, ready } }`: `open(page)` shows it instead of
 * going to `path`, `ready(page)` runs once it is shown) in each of the LOOKS, checked by
 * `checkLook`; no console error on the way. `browser()` gives the launched browser
 * (made in the file's `before`).
 */
export function sweepPages(title, browser, signIn, pages) {
  for (const size of Object.keys(SIZES)) {
    test(`${title}: ${size}, both languages, large text`, async () => {
      const ctx = await context(browser(), size);
      try {
        const page = await ctx.newPage();
        if (signIn) await signIn(page);
        for (const { lang, text } of LOOKS) {
          await ctx.addCookies([
            { name: 'lang', value: lang, url: BASE },
            { name: 'text', value: text, url: BASE },
          ]);
          for (const [name, { path, h1, status = 200, open, ready }] of Object.entries(pages)) {
            if (open) await open(page);
            else assert.equal((await page.goto(path)).status(), status, path);
            if (ready) await ready(page);
            await checkLook(page, { name, size, lang, text, h1 });
          }
        }
        assert.deepEqual(ctx.errors, []);
      } finally {
        await ctx.close();
      }
    });
  }
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

/** Decodes an 8-bit greyscale or RGB(A) PNG (what `qr` renders) to grey pixels. */
function decodePng(buf) {
  let at = 8;
  let width = 0;
  let height = 0;
  let colour = 0;
  const idat = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('ascii', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      colour = data[9];
    } else if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const bpp = { 0: 1, 2: 3, 4: 2, 6: 4 }[colour];
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const out = Buffer.alloc(width * height);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? line[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let p = 0;
      if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = (line[i] + p) & 0xff;
    }
    for (let x = 0; x < width; x++) out[y * width + x] = line[x * bpp];
    prev = line;
  }
  return { width, height, grey: out };
}

/** A one-frame Y4M video (640×480, the QR in the middle on white) for the fake camera. */
function y4m(png) {
  const { width, height, grey } = decodePng(png);
  const W = 640;
  const H = 480;
  const scale = Math.min(1, (H - 40) / height, (W - 40) / width);
  const w = Math.floor(width * scale);
  const h = Math.floor(height * scale);
  const ox = Math.floor((W - w) / 2);
  const oy = Math.floor((H - h) / 2);
  const Y = Buffer.alloc(W * H, 235);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = grey[Math.floor(y / scale) * width + Math.floor(x / scale)];
      Y[(oy + y) * W + ox + x] = 16 + Math.round((v * 219) / 255);
    }
  }
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  return Buffer.concat([
    Buffer.from(`YUV4MPEG2 W${W} H${H} F30:1 Ip A1:1 C420jpeg\n`),
    Buffer.from('FRAME\n'),
    Y,
    chroma,
  ]);
}

/**
 * A Chromium whose camera plays `png` (a QR code, say) as a still video: Chromium's
 * fake capture device, with the permission prompt answered yes.
 */
export async function launchWithCamera(png) {
  const dir = await mkdtemp(join(tmpdir(), 'maeul-camera-'));
  const video = join(dir, 'camera.y4m');
  await writeFile(video, y4m(png));
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
}
