// A sale day in the browser, against the demo: an operator schedules a sale through
// the API; a citizen who asks for a quote before it opens is shown the waiting page in
// the site's layout (how many wait, when it opens) with the ticket kept in a cookie;
// the page moves on by itself at the opening, and the same form then goes through. A
// feature paused for the day (gifts) says so. The sale is called off at the end, so
// that no other file meets it.
//
// Logins: citizen-0420 (this file only), operator.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, apiSignIn, assertAccessible, context, launch, signInWithForm } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The operator's sale of the demo currency: `PUT` a plan or `DELETE` it. */
async function sale(token, method, plan) {
  const r = await fetch(new URL('/api/v1/operator/demo/sale', BASE), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: plan ? JSON.stringify(plan) : undefined,
  });
  return { status: r.status, body: await r.text() };
}

test('before a sale opens, a purchase waits on a page that moves on by itself at the opening', async () => {
  const operator = await apiSignIn('operator');
  // Far enough ahead for the steps before it on a slow (debug) build.
  const opensAt = Date.now() * 1000 + 45_000_000;
  const put = await sale(operator, 'PUT', {
    opens_at: opensAt,
    ends_at: opensAt + 3_600_000_000,
    vouchers: 1000,
    budget_won: 10_000_000,
    paused: ['gifts'],
  });
  assert.equal(put.status, 200, put.body);
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await signInWithForm(page, 'citizen-0420');
    await page.waitForURL('**/wallet');

    // Gifts are paused for the day: said on a page of the site, with when they return.
    const gift = await page.goto('/wallet/gift');
    assert.equal(gift.status(), 503);
    assert.equal((await page.textContent('h1')).trim(), '잠시 쉬는 기능');
    assert.equal(await page.getAttribute('#paused', 'data-feature'), 'gifts');
    await assertAccessible(page, 'a feature paused for the sale day');

    // A quote is only looking: it is shown before the opening too. Buying waits, on
    // the waiting page, with the site's menu and words.
    await page.goto('/wallet/charge?face=10000');
    await page.locator('#quote').waitFor();
    await page.getByRole('button', { name: '충전하기' }).click();
    await page.locator('#sale-waiting').waitFor();
    assert.equal((await page.textContent('h1')).trim(), '잠시 기다려 주세요');
    assert.ok(Number(await page.textContent('#sale-waiting')) >= 1);
    assert.equal(await page.getAttribute('#waiting', 'data-opens-at'), String(opensAt));
    assert.ok(await page.locator('header.site-header').isVisible(), 'in the site layout');
    const ticket = (await ctx.cookies()).find((c) => c.name === 'maeul_ticket_charge');
    assert.ok(ticket && ticket.httpOnly, 'the ticket is kept in a cookie');
    await assertAccessible(page, 'waiting for a sale to open');

    // At the opening the page moves on by itself, back to the charge form.
    await page.locator('form[action="/wallet/charge"][method=get]').waitFor({ timeout: 90_000 });
    assert.ok(Date.now() * 1000 >= opensAt - 1_000_000, 'not before the opening');
    // The same purchase now goes through: the ticket drawn at the opening is let in.
    for (let i = 0; i < 10 && !page.url().includes('/wallet/charge/result'); i++) {
      await page.goto('/wallet/charge?face=10000');
      await page.getByRole('button', { name: '충전하기' }).click();
      await Promise.race([
        page.waitForURL('**/wallet/charge/result?purchase=*'),
        page.locator('#waiting').waitFor(),
      ]);
    }
    await page.waitForURL('**/wallet/charge/result?purchase=*');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
    const off = await sale(operator, 'DELETE');
    assert.equal(off.status, 204, off.body);
  }
});
