// A learner's journey in a real browser: enroll through the form, mark a lesson complete, see
// the badge on the home page, take a quiz and see the graded result, sign out and back in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch } from "./browser.mjs";

test("enroll, progress, quiz, sign out and back in", async () => {
  const { context, page, errors } = await launch();
  try {
    await page.goto(BASE + "/");
    await page.click("details.enroll-box summary");
    await page.fill("#enroll-name", "Grace");
    await page.click("form.enroll button[type=submit]");
    const key = (await page.textContent("#new-key")).trim();
    assert.match(key, /^aa_[A-Za-z0-9]{32}$/);

    await page.goto(BASE + "/lessons/agentic-loop");
    await page.click("#progress button[type=submit]");
    await page.waitForURL(/\/lessons\/agentic-loop/);
    assert.match(await page.textContent("#progress"), /completed/);

    await page.goto(BASE + "/");
    const row = page.locator("ul.lessons li", { has: page.locator('a[href="/lessons/agentic-loop"]') });
    assert.match(await row.textContent(), /completed/);

    await page.goto(BASE + "/lessons/model-api");
    for (const [q, o] of [["q1", "b"], ["q2", "c"], ["q3", "a"]]) {
      await page.check(`input[name=${q}][value=${o}]`);
    }
    await page.click(".quiz button[type=submit]");
    assert.match(await page.textContent("h1"), /Your score: 2 of 3/);
    assert.match(await page.textContent("#best"), /2 of 3/);

    await page.goto(BASE + "/me");
    await page.click("form[action='/signout'] button");
    await page.waitForURL(BASE + "/");
    await page.goto(BASE + "/me");
    await page.waitForURL(/\/signin$/);
    await page.fill("#signin-key", key);
    await page.click("form[action='/signin'] button");
    await page.waitForURL(/\/me$/);
    assert.match(await page.textContent("#completion"), /1 of \d+ lessons/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
