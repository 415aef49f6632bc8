// Signing in with the page's form and the citizen's wallet, against the demo: the page
// shows what the API answers for the same user, a wrong password is told in Korean and
// never echoed, signing out ends the session, forms without their token are refused,
// the pages pass axe-core at phone and desktop size and fit a phone in large text.
// Also measures the wallet's first (cold) load.
//
// Each test signs in as its own demo citizen: the per-login sign-in limits then never
// meet, and one test signing out does not end another's session.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  DEMO_PASSWORD,
  SIZES,
  apiSignIn,
  apiWallet,
  context,
  launch,
  screenshot,
  signInWithForm,
  sweepPages,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** `12,345원`, as the page writes won in Korean. */
const won = (n) => `${n < 0 ? '−' : ''}${Math.abs(n).toLocaleString('en-US')}원`;

/** The amounts the wallet page shows, as numbers and as words. */
async function shownAmounts(page) {
  return page.evaluate(() => {
    const of = (id) => {
      const dd = document.getElementById(id);
      return { amount: Number(dd.dataset.amount), text: dd.textContent.trim() };
    };
    return {
      balance: of('balance'),
      available: of('available'),
      incoming: of('incoming'),
      lots: [...document.querySelectorAll('table.lots tbody tr')].map((tr) => ({
        source: tr.dataset.source,
        amount: Number(tr.querySelector('[data-amount]').dataset.amount),
      })),
      history: document.querySelectorAll('table.history tbody tr').length,
    };
  });
}

test('signing in with the form shows the wallet the API answers for the same user', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0001');
    await page.waitForURL('**/wallet');
    assert.equal((await page.textContent('h1')).trim(), '내 지갑');
    const token = await apiSignIn('citizen-0001');
    // The demo's synthetic payments may touch this wallet between two reads: compare a
    // page load bracketed by two equal API answers.
    let matched = false;
    for (let attempt = 0; attempt < 5 && !matched; attempt++) {
      const before = await apiWallet(token);
      await page.reload();
      const shown = await shownAmounts(page);
      const after = await apiWallet(token);
      if (JSON.stringify(before) !== JSON.stringify(after)) continue;
      for (const k of ['balance', 'available', 'incoming']) {
        assert.equal(shown[k].amount, after[k], k);
        assert.equal(shown[k].text, won(after[k]), k);
      }
      const lots = after.lots.filter((l) => l.amount !== 0);
      assert.deepEqual(
        shown.lots.map((l) => `${l.source}:${l.amount}`).sort(),
        lots.map((l) => `${l.source}:${l.amount}`).sort(),
      );
      assert.ok(shown.history <= 10);
      matched = true;
    }
    assert.ok(matched, 'the wallet kept changing under the test');
    // The session cookie is out of reach of scripts and other sites.
    const cookie = (await ctx.cookies()).find((c) => c.name === 'maeul_session');
    assert.ok(cookie.httpOnly);
    assert.equal(cookie.sameSite, 'Strict');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a wrong password is told in Korean, and the password is not in the page', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    const wrong = 'not-the-password-4321';
    const answer = page.waitForResponse((r) => r.url().endsWith('/sign-in') && r.request().method() === 'POST');
    await signInWithForm(page, 'citizen-0003', wrong);
    assert.equal((await answer).status(), 401);
    const alert = page.getByRole('alert');
    assert.match(await alert.textContent(), /아이디 또는 비밀번호가 맞지 않습니다\./);
    assert.equal(await page.inputValue('#login'), 'citizen-0003');
    assert.equal(await page.inputValue('#password'), '');
    assert.ok(!(await page.content()).includes(wrong), 'the password is echoed');
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
    assert.ok(!(await ctx.cookies()).some((c) => c.name === 'maeul_session'));
    // And the right one then works.
    await signInWithForm(page, 'citizen-0003');
    await page.waitForURL('**/wallet');
  } finally {
    await ctx.close();
  }
});

test('forms without their token, or from another site, are refused', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0004');
    await page.waitForURL('**/wallet');
    // The browser context's own requests carry its cookies (the session).
    let r = await ctx.request.post('/sign-out', { form: {}, maxRedirects: 0 });
    assert.equal(r.status(), 403);
    assert.match(await r.text(), /요청을 확인할 수 없습니다/);
    const csrf = await page.getAttribute('form.sign-out input[name=csrf]', 'value');
    r = await ctx.request.post('/sign-out', {
      form: { csrf },
      headers: { origin: 'http://evil.example' },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403);
    r = await ctx.request.post('/sign-in', {
      form: { login: 'citizen-0004', password: DEMO_PASSWORD },
      maxRedirects: 0,
    });
    assert.equal(r.status(), 403, 'sign-in without the form token');
    // Still signed in.
    const again = await page.goto('/wallet');
    assert.equal(again.status(), 200);
    assert.ok(page.url().endsWith('/wallet'));
  } finally {
    await ctx.close();
  }
});

test('signing out ends the session, and the wallet then asks to sign in', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0005');
    await page.waitForURL('**/wallet');
    await page.getByRole('button', { name: '로그아웃' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.ok(!(await ctx.cookies()).some((c) => c.name === 'maeul_session'));
    await page.goto('/wallet');
    assert.ok(page.url().endsWith('/sign-in'), page.url());
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the wallet is a citizen’s: an operator lands on the console and is told so (403)', async () => {
  const ctx = await context(browser, 'phone', { lang: 'en' });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'operator');
    await page.waitForURL('**/console');
    const r = await page.goto('/wallet');
    assert.equal(r.status(), 403);
    assert.equal((await page.textContent('h1')).trim(), 'This page is for citizens');
  } finally {
    await ctx.close();
  }
});

test('signing in and the wallet work without JavaScript', async () => {
  const ctx = await browser.newContext({ ...SIZES.phone, locale: 'ko-KR', baseURL: BASE, javaScriptEnabled: false });
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0006');
    await page.waitForURL('**/wallet');
    assert.match(await page.textContent('#balance'), /^[−\d,]+원$/);
    await page.getByRole('button', { name: '로그아웃' }).click();
    await page.waitForURL((url) => url.pathname === '/');
  } finally {
    await ctx.close();
  }
});

sweepPages('the sign-in page', () => browser, null, {
  'sign-in': { path: '/sign-in', h1: { ko: '로그인', en: 'Sign in' } },
});

// The same user for every size: its page looks the same in each screenshot.
sweepPages(
  'the wallet',
  () => browser,
  async (page) => {
    await signInWithForm(page, 'citizen-0002');
    await page.waitForURL('**/wallet');
  },
  { wallet: { path: '/wallet', h1: { ko: '내 지갑', en: 'My wallet' } } },
);

/** The median of numbers. */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

test('the wallet’s first load, cold, is measured', async () => {
  const token = await apiSignIn('citizen-0007');
  const runs = [];
  for (let i = 0; i < 5; i++) {
    // A new context each time: an empty cache, as on a first visit.
    const ctx = await context(browser, 'phone');
    try {
      // The API's token is the page session's too.
      await ctx.addCookies([{ name: 'maeul_session', value: token, url: BASE, httpOnly: true, sameSite: 'Strict' }]);
      const page = await ctx.newPage();
      const started = Date.now();
      const response = await page.goto('/wallet', { waitUntil: 'load' });
      const wall = Date.now() - started;
      assert.equal(response.status(), 200);
      await page.waitForFunction(() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0);
      const m = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const resources = performance.getEntriesByType('resource');
        const all = [nav, ...resources];
        const sum = (k) => all.reduce((n, e) => n + e[k], 0);
        return {
          loadEventEnd: nav.loadEventEnd,
          domContentLoaded: nav.domContentLoadedEventEnd,
          transfer: sum('transferSize'),
          encoded: sum('encodedBodySize'),
          decoded: sum('decodedBodySize'),
          html: nav.decodedBodySize,
          files: resources.map((e) => `${new URL(e.name).pathname} ${e.decodedBodySize}`),
        };
      });
      runs.push({ ...m, wall });
    } finally {
      await ctx.close();
    }
  }
  const summary = {
    runs: runs.length,
    median_load_event_end_ms: Math.round(median(runs.map((r) => r.loadEventEnd)) * 10) / 10,
    median_dom_content_loaded_ms: Math.round(median(runs.map((r) => r.domContentLoaded)) * 10) / 10,
    median_wall_ms: median(runs.map((r) => r.wall)),
    transfer_bytes: median(runs.map((r) => r.transfer)),
    body_bytes_decoded: median(runs.map((r) => r.decoded)),
    html_bytes: median(runs.map((r) => r.html)),
    files: runs[0].files,
  };
  console.log(`wallet first load (cold, loopback, phone): ${JSON.stringify(summary)}`);
  // A generous bound: a regression by an order of magnitude fails, noise does not.
  assert.ok(summary.median_load_event_end_ms < 3000, JSON.stringify(summary));
});
