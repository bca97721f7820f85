// Claiming with an OpenID Connect issuer, and confirming a sensitive action there, in a real
// Chromium through the issuer's own login page (e2e/idp.mjs): the claim page's "Claim with
// Test IdP" button (the claim code and a password typed), the continue page going on by
// itself, the issuer's form, back signed in as the new owner with the identity linked. Once
// the step-up window has passed, "Log out everywhere else" asks to confirm, offering the
// password or the issuer; the issuer has the owner sign in again at its form
// (`prompt=login`); the "Confirmed" page posts the form again and the action is done. axe-core checks each of
// clawhost's pages on the way, light and dark; any console error or CSP violation on them
// fails the run.
//
// Driven by the Rust test `browser::claim_and_confirm_with_an_openid_connect_issuer_in_chromium`.
// Input (environment): CLAWHOST_E2E_URL, CLAWHOST_E2E_CLAIM_CODE, CLAWHOST_E2E_PASSWORD,
// CLAWHOST_E2E_SUBJECT (the
// account to type at the issuer), CLAWHOST_E2E_REAUTH_MS (the step-up window).
// Output: one JSON line; exit 0 on success.

import { accessibilityProblems, runChecks } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const code = process.env.CLAWHOST_E2E_CLAIM_CODE;
const password = process.env.CLAWHOST_E2E_PASSWORD;
const subject = process.env.CLAWHOST_E2E_SUBJECT;
const reauthMs = Number(process.env.CLAWHOST_E2E_REAUTH_MS);

async function signInAtIssuer(page) {
  await page.locator("h1", { hasText: "Test IdP sign-in" }).waitFor();
  await page.getByLabel("Account").fill(subject);
  await page.getByRole("button", { name: "Sign in" }).click();
}

await runChecks(async (browser, steps, problems) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (message) => {
    // The confirmation page answers the form with 403 by design (it was not confirmed yet).
    const confirmPage = page.url() === `${base}/sessions/revoke-others` && message.text().includes("status of 403");
    if (message.type() === "error" && page.url().startsWith(base) && !confirmPage) {
      problems.push(`console on ${page.url()}: ${message.text()}`);
    }
  });

  await page.goto(`${base}/claim`);
  problems.push(...(await accessibilityProblems(page, "claim page with an issuer")));
  await page.getByLabel("Claim code").fill(code);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByLabel("Password again").fill(password);
  await page.getByRole("button", { name: "Claim with Test IdP" }).click();
  await signInAtIssuer(page);
  await page.waitForURL((url) => url.origin === base && url.pathname === "/setup");
  steps.push("claimed with the claim code, a password and the issuer's form; the identity linked");

  await page.goto(`${base}/settings`);
  await page.locator("#identity").getByText("owner@example.test").waitFor();
  problems.push(...(await accessibilityProblems(page, "settings after the claim with the issuer")));
  // The claim's session is fresh for the step-up window: wait it out, so the action asks.
  await page.waitForTimeout(reauthMs + 500);
  await page.getByRole("button", { name: "Log out everywhere else" }).click();
  await page.getByRole("heading", { name: "Confirm it's you" }).waitFor();
  problems.push(...(await accessibilityProblems(page, "confirm page with the issuer")));
  await page.getByRole("button", { name: "Confirm with Test IdP" }).click();
  // The issuer asks again, although the browser is signed in there.
  await signInAtIssuer(page);
  await page.getByRole("heading", { name: "Confirmed" }).waitFor();
  problems.push(...(await accessibilityProblems(page, "confirmed page")));
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL((url) => url.origin === base && (url.pathname === "/" || url.pathname === "/setup"));
  steps.push("confirmed “Log out everywhere else” by signing in again at the issuer; the form went on");
});
