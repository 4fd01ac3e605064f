// The course in a real browser: home → lesson → search → result; no console errors; the dark
// scheme renders; the lesson links are reachable with the keyboard alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch } from "./browser.mjs";

test("a reader finds a lesson, searches, and follows a result", async () => {
  const { context, page, errors } = await launch();
  try {
    await page.goto(BASE + "/");
    assert.match(await page.title(), /AI Architect Academy/);
    await page.click('a[href="/lessons/model-api"]');
    await page.waitForURL(/\/lessons\/model-api$/);
    assert.equal(await page.textContent("h1"), "Messages, tokens, stop reasons, streaming");
    assert.ok(await page.isVisible("#sources"));

    await page.fill("#site-q", "prompt injection");
    await page.press("#site-q", "Enter");
    await page.waitForURL(/\/search\?q=prompt/);
    const first = page.locator("ol.hits li a").first();
    assert.ok(await page.locator("ol.hits mark").count() > 0, "matches are highlighted");
    const href = await first.getAttribute("href");
    await first.click();
    await page.waitForURL((u) => u.pathname === href.split("#")[0]);
    assert.ok((await page.textContent("h1")).length > 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("the dark scheme renders dark", async () => {
  const { context, page, errors } = await launch({ colorScheme: "dark" });
  try {
    await page.goto(BASE + "/lessons/agentic-loop");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `dark background expected, got ${bg}`);
    const fg = await page.evaluate(() => getComputedStyle(document.body).color);
    const [fr, fgr, fb] = fg.match(/\d+/g).map(Number);
    assert.ok(fr + fgr + fb > 500, `light text expected, got ${fg}`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("keyboard alone reaches the skip link and the lesson links", async () => {
  const { context, page } = await launch();
  try {
    await page.goto(BASE + "/");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    const seen = new Set();
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press("Tab");
      const href = await page.evaluate(() => document.activeElement.getAttribute("href"));
      if (href && href.startsWith("/lessons/")) seen.add(href);
    }
    assert.ok(seen.size >= 10, `reached ${seen.size} lesson links by keyboard`);
    // Back to the top, then Tab to the first lesson link and follow it with Enter.
    await page.goto(BASE + "/");
    let href = null;
    for (let i = 0; i < 40 && !(href && href.startsWith("/lessons/")); i++) {
      await page.keyboard.press("Tab");
      href = await page.evaluate(() => document.activeElement.getAttribute("href"));
    }
    assert.ok(href && href.startsWith("/lessons/"), "a lesson link takes focus");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.pathname === href);
  } finally {
    await context.close();
  }
});

test("a phone-sized screen does not scroll sideways", async () => {
  const { context, page } = await launch({ viewport: { width: 375, height: 740 } });
  try {
    for (const path of ["/", "/lessons/cost-engineering", "/roadmap"]) {
      await page.goto(BASE + path);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} overflows by ${overflow}px`);
    }
  } finally {
    await context.close();
  }
});
