// The replaced wrapper's sign-in broker in a real Chromium: the broker sends the browser back
// to the sign-in page with `#session_id=…` in the address, as the wrapper's did. The page's
// script hands it to clawhost in `X-Session-ID`, drops it from the address whatever the
// answer, and either shows why it failed (a session of someone else) or goes on where the
// sign-in was headed. axe-core checks the sign-in page with the failure shown; any console
// error or CSP violation on clawhost's pages fails the run, but for the refused exchange
// itself (a 403 the page shows) and the test's own probe before signing in.
//
// Driven by the Rust test `browser::sign_in_through_the_broker_in_chromium`.
// Input (environment): CLAWHOST_E2E_URL. The test's broker knows `owner-session` (the
// owner's email, verified) and `other-session` (someone else's).
// Output: one JSON line; exit 0 on success.

import { accessibilityProblems, runChecks } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;

await runChecks(async (browser, steps, problems) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (message) => {
    // The refused exchange (403) and the probe of /api/auth/me before signing in (401).
    const refused = /status of 40[13]/.test(message.text());
    if (message.type() === "error" && page.url().startsWith(base) && !refused) {
      problems.push(`console on ${page.url()}: ${message.text()}`);
    }
  });
  const me = () => page.evaluate(async () => (await fetch("/api/auth/me")).status);

  await page.goto(`${base}/login#session_id=other-session`);
  const error = page.locator('[data-field="exchange-error"]');
  await error.waitFor({ state: "visible" });
  if (page.url().includes("session_id")) problems.push(`the session id stayed in the address: ${page.url()}`);
  if ((await me()) !== 401) problems.push("someone else's broker session signed in");
  problems.push(...(await accessibilityProblems(page, "sign-in page, broker session refused")));
  steps.push(`someone else's session refused: “${(await error.textContent()).trim()}”, the id gone from the address`);

  await page.goto(`${base}/login?next=/settings#session_id=owner-session`);
  await page.waitForURL(`${base}/settings`);
  if ((await me()) !== 200) problems.push("the owner's broker session did not sign in");
  steps.push("the owner's session signed in and went on to /settings, the id gone from the address");
});
