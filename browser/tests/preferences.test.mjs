// The switches, used as a person would (clicking the links), and remembered across a
// reload and from page to page; the skip link for keyboard users.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoHorizontalOverflow, context, launch } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const lang = (page) => page.getAttribute('html', 'lang');
const large = (page) =>
  page.evaluate(() => document.documentElement.classList.contains('large-text'));

test('switching to English is remembered across a reload and on other pages', async () => {
  const ctx = await context(browser, 'desktop');
  try {
    const page = await ctx.newPage();
    await page.goto('/status');
    assert.equal(await lang(page), 'ko');
    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.waitForURL('**/status');
    assert.equal(await lang(page), 'en');
    assert.equal((await page.textContent('h1')).trim(), 'Service status');
    await page.reload();
    assert.equal(await lang(page), 'en');
    await page.getByRole('link', { name: 'Home', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.equal(await lang(page), 'en');
    // And back to Korean.
    await page.getByRole('link', { name: '한국어', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.equal(await lang(page), 'ko');
    await page.reload();
    assert.equal(await lang(page), 'ko');
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('the browser language chooses the page language until a switch is used', async () => {
  const ctx = await browser.newContext({ locale: 'en-US', baseURL: process.env.MAEUL_URL });
  try {
    const page = await ctx.newPage();
    await page.goto('/');
    assert.equal(await lang(page), 'en');
    await page.getByRole('link', { name: '한국어', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.equal(await lang(page), 'ko');
  } finally {
    await ctx.close();
  }
});

test('large text is remembered across a reload and fits a phone', async () => {
  const ctx = await context(browser, 'phone');
  try {
    const page = await ctx.newPage();
    await page.goto('/');
    assert.equal(await large(page), false);
    const before = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize));
    await page.getByRole('link', { name: '큰글씨 모드 켜기' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.equal(await large(page), true);
    const after = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize));
    assert.ok(after > before * 1.3, `headings grew from ${before}px to ${after}px only`);
    await page.reload();
    assert.equal(await large(page), true);
    await page.goto('/status');
    assert.equal(await large(page), true);
    await assertNoHorizontalOverflow(page, 'status (large text, after the switch)');
    await page.getByRole('link', { name: '큰글씨 모드 끄기' }).click();
    await page.waitForURL('**/status');
    assert.equal(await large(page), false);
    await page.reload();
    assert.equal(await large(page), false);
    assert.deepEqual(ctx.errors, []);
  } finally {
    await ctx.close();
  }
});

test('Tab reaches the skip link first, and it moves focus to the main content', async () => {
  for (const size of ['desktop', 'phone']) {
    const ctx = await context(browser, size);
    try {
      const page = await ctx.newPage();
      await page.goto('/status');
      await page.keyboard.press('Tab');
      const first = await page.evaluate(() => ({
        cls: document.activeElement.className,
        text: document.activeElement.textContent.trim(),
        top: document.activeElement.getBoundingClientRect().top,
      }));
      assert.equal(first.cls, 'skip-link', size);
      assert.equal(first.text, '본문으로 바로가기');
      assert.ok(first.top >= 0, `the focused skip link is on screen (top ${first.top})`);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement?.id === 'main');
      // The next Tab goes on inside the main content, not back to the header.
      await page.keyboard.press('Tab');
      const inMain = await page.evaluate(() => document.querySelector('main').contains(document.activeElement));
      assert.ok(inMain, 'after the skip link, Tab moves within <main>');
    } finally {
      await ctx.close();
    }
  }
});
