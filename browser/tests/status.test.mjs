// The status page against the real server: every currency with its state, what the
// JSON says is what the page says, and htmx refreshes it by itself.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { context, launch, statusJson } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const WORDS = {
  ko: { running: '정상 운영', degraded: '일부 장애', halted: '중단됨', yes: '가능', no: '불가' },
  en: { running: 'Running', degraded: 'Degraded', halted: 'Halted', yes: 'Available', no: 'Unavailable' },
};

/** What the page shows per currency: code, state and the words of each "works" row. */
async function shown(page) {
  return page.$$eval('section.currency', (sections) =>
    sections.map((s) => ({
      code: s.dataset.currency,
      state: s.dataset.state,
      label: s.querySelector('.state .label').textContent.trim(),
      heading: s.querySelector('h2').textContent.trim(),
      works: Object.fromEntries(
        [...s.querySelectorAll('[data-works]')].map((li) => [
          li.dataset.works,
          li.querySelector('.yes, .no').textContent.replace(/[✓✕]/g, '').trim(),
        ]),
      ),
    })),
  );
}

for (const lang of ['ko', 'en']) {
  test(`the status page shows every currency as status.json does (${lang})`, async () => {
    const ctx = await context(browser, 'desktop', { lang });
    try {
      const page = await ctx.newPage();
      await page.goto('/status');
      const doc = await statusJson();
      assert.equal(doc.version, 1);
      const codes = doc.currencies.map((c) => c.code);
      assert.ok(codes.includes('demo'), `the demo currency is served: ${codes}`);
      const onPage = await shown(page);
      assert.deepEqual(onPage.map((c) => c.code), codes);
      const w = WORDS[lang];
      for (const [i, c] of doc.currencies.entries()) {
        const p = onPage[i];
        assert.equal(p.state, c.state, c.code);
        assert.equal(p.label, w[c.state], `${c.code}: the state in words`);
        assert.ok(p.heading.includes(c.code));
        for (const k of ['payments', 'charging', 'redemption']) {
          assert.equal(p.works[k], c.works[k] ? w.yes : w.no, `${c.code} ${k}`);
        }
        assert.ok(c.since_ms > 0 && c.since.endsWith('+09:00'), JSON.stringify(c));
      }
      // The demo runs, and everything works.
      const demo = doc.currencies.find((c) => c.code === 'demo');
      assert.equal(demo.state, 'running');
      assert.deepEqual(demo.works, { payments: true, charging: true, redemption: true });
      assert.equal(demo.reason, null);
      // The time of the answer is shown in Korea time.
      const updated = await page.getAttribute('.updated time', 'datetime');
      assert.match(updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$/);
      // And the home page's summary agrees.
      await page.goto('/');
      const home = await page.$$eval('.summary-list li', (lis) =>
        lis.map((li) => ({ code: li.dataset.currency, state: li.dataset.state })),
      );
      assert.deepEqual(home, doc.currencies.map((c) => ({ code: c.code, state: c.state })));
      assert.deepEqual(ctx.errors, []);
    } finally {
      await ctx.close();
    }
  });
}

test('htmx refreshes the live part by itself, without reloading the page', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await page.goto('/status');
    assert.equal(await page.evaluate(() => typeof window.htmx), 'object', 'htmx loaded');
    await page.evaluate(() => {
      window.notReloaded = true;
    });
    const first = await page.getAttribute('.updated time', 'datetime');
    const polled = page.waitForResponse((r) => new URL(r.url()).pathname === '/status/live', {
      timeout: 25_000,
    });
    const response = await polled;
    assert.equal(response.status(), 200);
    await page.waitForFunction(
      (before) => document.querySelector('.updated time')?.getAttribute('datetime') !== before,
      first,
      { timeout: 10_000 },
    );
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
    assert.equal(await page.locator('#status-live').count(), 1, 'the part replaced itself once');
    assert.ok((await page.locator('section.currency').count()) >= 1);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('status.json is readable from other sites', async () => {
  const response = await fetch(new URL('/status.json', process.env.MAEUL_URL), {
    headers: { Origin: 'https://example.org' },
  });
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  assert.match(response.headers.get('content-type'), /^application\/json/);
});
