// Claiming with an OpenID Connect issuer, and confirming a sensitive action there, in a real
// Chromium through the issuer's own login page (e2e/idp.mjs): the claim page's "Claim with
// Test IdP" button (the claim code typed, the password left empty), the continue page going
// on by itself, the issuer's form, back signed in as the new owner, who has no password.
// Right after the claim, that session adds a passkey (the claim's own proof, no password).
// Once the step-up window has passed, "Log out everywhere else" asks to confirm, offering the
// passkey or the issuer, never a password; the issuer has the owner sign in again at its form
// (`prompt=login`); the "Confirmed" page posts the form again and the action is done. axe-core checks each of
// clawhost's pages on the way, light and dark; any console error or CSP violation on them
// fails the run.
//
// Driven by the Rust test `browser::claim_and_confirm_with_an_openid_connect_issuer_in_chromium`.
// Input (environment): CLAWHOST_E2E_URL, CLAWHOST_E2E_CLAIM_CODE, CLAWHOST_E2E_SUBJECT (the
// account to type at the issuer), CLAWHOST_E2E_REAUTH_MS (the step-up window).
// Output: one JSON line; exit 0 on success.

import { accessibilityProblems, runChecks } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const code = process.env.CLAWHOST_E2E_CLAIM_CODE;
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
  await page.getByRole("button", { name: "Claim with Test IdP" }).click();
  await signInAtIssuer(page);
  await page.waitForURL((url) => url.origin === base && url.pathname === "/setup");
  steps.push("claimed with the claim code and the issuer's form, no password");

  // The claim's own proof lets its session add one way in: a passkey, in the virtual
  // authenticator, without a password to give.
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      ctap2Version: "ctap2_1",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.goto(`${base}/settings`);
  await page.getByText("You have no password").waitFor();
  await page.getByLabel("Name of the new passkey").fill("Phone");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await page.locator("#passkeys tbody tr", { hasText: "Phone" }).waitFor();
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (credentials.length !== 1) problems.push(`the authenticator holds ${credentials.length} credentials`);
  problems.push(...(await accessibilityProblems(page, "settings of an owner with no password")));
  steps.push("added a passkey right after the claim, with the claim's proof");
  // The claim's session is fresh for the step-up window: wait it out, so the action asks.
  await page.waitForTimeout(reauthMs + 500);
  await page.getByRole("button", { name: "Log out everywhere else" }).click();
  await page.getByRole("heading", { name: "Confirm it's you" }).waitFor();
  if (await page.getByLabel("Password").count()) problems.push("the confirm page asks for a password the owner does not have");
  await page.getByRole("button", { name: "Confirm with a passkey" }).waitFor();
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
