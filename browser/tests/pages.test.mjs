// Every page, at phone and desktop size, in Korean and English, in normal and large
// text: it loads, says what it is in the right language, passes axe-core with no
// serious or critical finding, logs no error (a CSP violation would be one), and in
// large text on a phone does not scroll sideways. Screenshots come from here.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PAGES,
  SIZES,
  assertAccessible,
  assertNoHorizontalOverflow,
  context,
  launch,
  screenshot,
} from './helpers.mjs';

const HEADINGS = {
  home: { ko: 'maeul, 우리 동네 지역화폐', en: 'maeul, money for your neighbourhood' },
  status: { ko: '서비스 상태', en: 'Service status' },
  'not-found': { ko: '페이지를 찾을 수 없습니다', en: 'Page not found' },
};

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

for (const size of Object.keys(SIZES)) {
  for (const lang of ['ko', 'en']) {
    for (const text of ['normal', 'large']) {
      describe(`${size}, ${lang}, ${text} text`, () => {
        for (const [name, path] of Object.entries(PAGES)) {
          test(`${name} (${path})`, async () => {
            const ctx = await context(browser, size, { lang, text });
            try {
              const page = await ctx.newPage();
              const response = await page.goto(path);
              assert.equal(response.status(), name === 'not-found' ? 404 : 200);
              assert.equal(await page.getAttribute('html', 'lang'), lang);
              assert.equal(
                await page.evaluate(() => document.documentElement.classList.contains('large-text')),
                text === 'large',
              );
              assert.equal((await page.textContent('h1')).trim(), HEADINGS[name][lang]);
              // The stylesheet loaded (the root font size is the large-text mode's).
              const rootPx = await page.evaluate(() =>
                parseFloat(getComputedStyle(document.documentElement).fontSize),
              );
              assert.equal(rootPx, text === 'large' ? 22 : 16);
              // Landmarks a screen reader offers.
              for (const selector of ['header', 'nav', 'main#main', 'footer']) {
                assert.equal(await page.locator(selector).count(), 1, selector);
              }
              await assertAccessible(page, `${name} (${size}, ${lang}, ${text} text)`);
              if (size === 'phone' && text === 'large') {
                await assertNoHorizontalOverflow(page, `${name} (${lang}, large text)`);
              }
              if (lang === 'ko' && text === 'normal') {
                await screenshot(page, name, size);
              }
              assert.deepEqual(ctx.errors, []);
            } finally {
              await ctx.close();
            }
          });
        }
      });
    }
  }
}
