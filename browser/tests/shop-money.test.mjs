// The merchant's money page against the demo: a citizen pays the shop, the shop sees
// what it can pay out, pays part of it out to its bank after a confirmation that shows
// exactly the amount and the account, and finds it in the settlement list; the same
// confirmed form sent again pays out once; refusals keep what was typed; a result link
// with a changed amount shows no banner. axe-core at phone and desktop size, no overflow
// in large text on a phone, screenshots `shop-money`.
//
// Logins: shop-0070 … shop-0079 (the demo's approved shops; shop-NNNN is merchant
// 20000 + NNNN - 1, paid out to 220-0000NN-1) and citizens citizen-0310 … citizen-0329.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE,
  apiSignIn,
  assertAccessible,
  context,
  launch,
  signInWithForm,
  sweepPages,
} from './helpers.mjs';

const PIN = '123456';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const shopAccount = (n) => 20000 + n - 1;
/** The demo shop's payout account as the pages mask it (`***-**0069` for shop-0070). */
const maskedAccount = (n) => `***-**${String(n - 1).padStart(4, '0')}`;

/** `12,345원`, as the pages write won in Korean. */
const won = (n) => `${n < 0 ? '−' : ''}${Math.abs(n).toLocaleString('en-US')}원`;

/** A citizen pays a demo shop through the API (as the citizen's app would). */
async function citizenPays(citizen, shop, amount) {
  const token = await apiSignIn(citizen);
  const r = await fetch(new URL('/api/v1/me/payments', BASE), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'idempotency-key': `shop-money-${Date.now()}-${Math.random()}`,
    },
    body: JSON.stringify({ merchant: shopAccount(shop), amount, pin: PIN }),
  });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  return body;
}

/** The shop pays `amount` out through the API (as its back office might). */
async function apiRedeems(shop, amount) {
  const token = await apiSignIn(`shop-${String(shop).padStart(4, '0')}`);
  const r = await fetch(new URL('/api/v1/me/redemptions', BASE), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'idempotency-key': `shop-money-${Date.now()}-${Math.random()}`,
    },
    body: JSON.stringify({ amount }),
  });
  assert.equal(r.status, 200, await r.text());
}

async function signInShop(page, n) {
  await signInWithForm(page, `shop-${String(n).padStart(4, '0')}`);
  await page.waitForURL((u) => u.pathname === '/shop');
}

const amountOf = async (page, selector) => Number(await page.getAttribute(selector, 'data-amount'));

test('a shop sees a payment in its balance, pays part out after confirming, and lists it', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    const paid = await citizenPays('citizen-0310', 70, 23_456);
    assert.equal(paid.amount, 23_456);
    await signInShop(page, 70);
    await page.getByRole('link', { name: '정산', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/shop/money');
    assert.equal((await page.textContent('h1')).trim(), '잔액과 정산');
    assert.equal(await page.locator('nav.tabs [aria-current=page]').textContent(), '정산');
    const redeemable = await amountOf(page, '#redeemable');
    assert.ok(redeemable >= paid.amount, `${redeemable} >= ${paid.amount}`);
    assert.equal((await page.textContent('#redeemable')).trim(), won(redeemable));
    assert.equal((await page.textContent('#bank-account')).trim(), maskedAccount(70));

    // Part of it, typed as people type it; the confirmation says exactly what and where.
    await page.getByLabel('정산할 금액 (원)').fill('12,345');
    await page.getByRole('button', { name: '다음: 확인하기' }).click();
    await page.getByRole('heading', { level: 1, name: '정산 확인' }).waitFor();
    assert.equal(await amountOf(page, '#confirm-amount'), 12_345);
    assert.equal((await page.textContent('#confirm-amount')).trim(), won(12_345));
    assert.equal((await page.textContent('#confirm-account')).trim(), maskedAccount(70));
    await assertAccessible(page, 'payout confirmation (phone)');
    // What a double click or a resubmit would send: the same form, the same key.
    const form = await page.evaluate(() => Object.fromEntries(new FormData(document.getElementById('confirm-form'))));
    assert.equal(form.amount, '12345');
    await page.getByRole('button', { name: /정산하기/ }).click();
    await page.waitForURL((u) => u.pathname === '/shop/money' && u.searchParams.has('redeemed'));
    const result = page.locator('#redeem-result');
    assert.match(await result.textContent(), /정산금을 보냈습니다|은행이 지급하는 중입니다/);
    assert.equal(await page.getAttribute('#redeem-result .redeem-amount', 'data-amount'), '12345');
    const transfer = await result.getAttribute('data-transfer');
    const resultUrl = page.url();

    const again = await ctx.request.post('/shop/money/redeem', { form, maxRedirects: 0 });
    assert.equal(again.status(), 303);
    assert.equal(new URL(again.headers().location, BASE).href, resultUrl, 'the first answer again');

    // The settlement list has it once, with its bank reference (a projection of the
    // journal: it follows within moments).
    const row = page.locator(`#settlements tbody tr[data-transfer="${transfer}"]`);
    for (let i = 0; i < 20 && (await row.count()) === 0; i++) {
      await page.waitForTimeout(250);
      await page.reload();
    }
    assert.equal(await row.count(), 1, 'one settlement for one confirmed form');
    assert.equal(await row.locator('td[data-amount]').getAttribute('data-amount'), '12345');
    assert.match(await row.locator('code.reference').textContent(), new RegExp(`-r${transfer}$`));
    assert.match(await row.getAttribute('data-status'), /^(pending|paid)$/);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('refusals say what to do and keep what was typed; everything can be paid out', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await citizenPays('citizen-0311', 71, 5_000);
    await signInShop(page, 71);
    await page.goto('/shop/money');
    const amount = page.getByLabel('정산할 금액 (원)');

    await amount.fill('일만원');
    await page.getByRole('button', { name: '다음: 확인하기' }).click();
    const alert = page.locator('#redeem-error');
    await alert.waitFor();
    assert.equal(await alert.getAttribute('data-code'), 'amount_invalid');
    assert.equal(await page.inputValue('#amount'), '일만원');
    assert.equal(await page.getAttribute('#amount', 'aria-invalid'), 'true');

    const over = (await amountOf(page, '#redeemable')) + 1_000_000;
    await amount.fill(over.toLocaleString('en-US'));
    await page.getByRole('button', { name: '다음: 확인하기' }).click();
    await page.locator('#redeem-error[data-code="insufficient_funds"]').waitFor();
    assert.match(await page.textContent('#redeem-error'), /정산할 수 있는 잔액보다 많은 금액입니다/);
    assert.equal(await page.inputValue('#amount'), over.toLocaleString('en-US'));
    await assertAccessible(page, 'payout refused (desktop)');

    // "All" needs no amount typed, and confirms the whole redeemable amount.
    await amount.fill('');
    await page.locator('#redeem-all').click();
    await page.getByRole('heading', { level: 1, name: '정산 확인' }).waitFor();
    const all = await amountOf(page, '#confirm-amount');
    assert.ok(all >= 5_000, `${all}`);
    assert.equal(await amountOf(page, '#confirm-remaining'), 0);
    // Changing one's mind moves nothing.
    await page.getByRole('link', { name: '금액 바꾸기' }).click();
    await page.waitForURL((u) => u.pathname === '/shop/money');
    assert.ok((await amountOf(page, '#redeemable')) >= all);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('a result link with a changed amount, or from another session, shows no banner', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await citizenPays('citizen-0312', 72, 3_000);
    await signInShop(page, 72);
    await page.goto('/shop/money');
    await page.getByLabel('정산할 금액 (원)').fill('1000');
    await page.getByRole('button', { name: '다음: 확인하기' }).click();
    await page.getByRole('button', { name: /정산하기/ }).click();
    await page.waitForURL((u) => u.pathname === '/shop/money' && u.searchParams.has('redeemed'));
    await page.locator('#redeem-result').waitFor();
    const url = new URL(page.url());

    const forged = new URL(url);
    forged.searchParams.set('redeemed', '1000000');
    const r = await page.goto(forged.href);
    assert.equal(r.status(), 200, 'the page, without an error');
    assert.equal(await page.locator('#redeem-result').count(), 0);
    assert.ok(!(await page.textContent('main')).includes('1,000,000원'));
    const unsigned = new URL(url);
    unsigned.searchParams.delete('sig');
    await page.goto(unsigned.href);
    assert.equal(await page.locator('#redeem-result').count(), 0);

    // The same link in another session of the same shop says nothing either.
    const other = await context(browser, 'phone');
    try {
      const p2 = await other.newPage();
      await signInShop(p2, 72);
      await p2.goto(url.href);
      assert.equal((await p2.textContent('h1')).trim(), '잔액과 정산');
      assert.equal(await p2.locator('#redeem-result').count(), 0);
    } finally {
      await other.close();
    }

    // Nor does a till link someone made up.
    await page.goto('/shop?charged=1000000&payment=1');
    assert.equal(await page.locator('#charge-result').count(), 0);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

// Each size its own shop, with something to pay out and (for the pictures) a settlement.
let sized = 0;
sweepPages(
  'the money page',
  () => browser,
  async (page) => {
    const n = sized++;
    const shop = 73 + n;
    await citizenPays(`citizen-0${313 + n}`, shop, 2_000);
    await apiRedeems(shop, 1_000);
    await signInShop(page, shop);
  },
  {
    'shop-money': { path: '/shop/money', h1: { ko: '잔액과 정산', en: 'Balance and payouts' } },
    'shop-money-confirm': {
      open: async (page) => {
        await page.goto('/shop/money');
        await page.locator('#redeem-all').click();
        await page.locator('#confirm-amount').waitFor();
      },
    },
  },
);
