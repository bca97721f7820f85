// "Sign in with <issuer>" in a real Chromium, through a real OpenID Connect provider's own
// login page (e2e/idp.mjs): the owner signs in with the password, links the identity from
// the settings page (the continue page goes on to the issuer by itself; its login form,
// then back to the settings, which show the identity), logs out; then a browser that has
// never been here signs in with the button on the sign-in page alone, at the issuer's form,
// and lands where a sign-in does (the setup, on a new instance). axe-core checks the pages along the way, light and dark; any
// console error or CSP violation on clawhost's pages fails the run.
//
// Driven by the Rust test `browser::sign_in_with_an_openid_connect_issuer_in_chromium`.
// Input (environment): CLAWHOST_E2E_URL, CLAWHOST_E2E_PASSWORD, CLAWHOST_E2E_SUBJECT (the
// account to type at the issuer), CLAWHOST_E2E_EMAIL (what the settings then show).
// Output: one JSON line; exit 0 on success.

import { accessibilityProblems, runChecks } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const password = process.env.CLAWHOST_E2E_PASSWORD;
const subject = process.env.CLAWHOST_E2E_SUBJECT;
const email = process.env.CLAWHOST_E2E_EMAIL;

/// A fresh context whose console errors on clawhost's pages are problems.
async function freshPage(browser, problems) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" && page.url().startsWith(base)) {
      problems.push(`console on ${page.url()}: ${message.text()}`);
    }
  });
  return { context, page };
}

/// At the issuer's own form: type the account, sign in.
async function signInAtIssuer(page) {
  await page.locator("h1", { hasText: "Test IdP sign-in" }).waitFor();
  await page.getByLabel("Account").fill(subject);
  await page.getByRole("button", { name: "Sign in" }).click();
}

await runChecks(async (browser, steps, problems) => {
  const { page } = await freshPage(browser, problems);
  await page.goto(`${base}/login`);
  await page.getByLabel("Password").fill(password);
  // Signing in lands on the setup while the first run is not done, else the dashboard.
  const landed = (url) => url.origin === base && (url.pathname === "/" || url.pathname === "/setup");
  await Promise.all([page.waitForURL(landed), page.getByRole("button", { name: "Sign in", exact: true }).click()]);
  steps.push("signed in with the password");

  await page.goto(`${base}/settings`);
  problems.push(...(await accessibilityProblems(page, "settings, nothing linked")));
  await page.locator("#identity").getByLabel("Your password, to confirm").fill(password);
  await page.getByRole("button", { name: "Link Test IdP identity" }).click();
  await signInAtIssuer(page);
  await page.waitForURL(`${base}/settings#identity`);
  const card = page.locator("#identity");
  await card.getByText(email).waitFor();
  problems.push(...(await accessibilityProblems(page, "settings, linked")));
  steps.push(`linked ${email} from the settings page, through the issuer's login page`);
  await Promise.all([page.waitForURL(/\/login$/), page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Log out" }).click()]);
  steps.push("logged out");

  const stranger = await freshPage(browser, problems);
  await stranger.page.goto(`${base}/login`);
  problems.push(...(await accessibilityProblems(stranger.page, "sign-in with the issuer's button")));
  await stranger.page.getByRole("link", { name: "Sign in with Test IdP" }).click();
  await signInAtIssuer(stranger.page);
  await stranger.page.waitForURL(landed);
  await stranger.page.getByRole("heading", { level: 1 }).first().waitFor();
  const me = await stranger.page.evaluate(async () => (await fetch("/api/auth/me")).status);
  if (me !== 200) problems.push(`/api/auth/me after signing in at the issuer: ${me}`);
  steps.push("a new browser signed in with “Sign in with Test IdP” and the issuer's form alone");
});
