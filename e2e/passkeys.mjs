// Passkeys in a real Chromium with its virtual authenticator (CDP WebAuthn: CTAP2,
// internal, resident keys, user verification): the owner signs in with the password, adds a
// passkey from the settings page, logs out and signs in with the passkey alone; a forged
// answer (a bogus signature) is refused and signs nobody in; once the step-up window has
// passed, removing the passkey asks for confirmation and a passkey gives it; the removed
// passkey signs nobody in. With `auth.require_second_factor`, the password alone signs in
// only while the owner has no passkey; with password sign-in off, only the passkey signs in
// and the last one cannot be removed. axe-core checks the pages on the way, light and dark; console
// errors or CSP violations on clawhost's pages fail the run.
//
// Driven by the Rust test `browser::passkeys_in_chromium`. Input (environment):
// CLAWHOST_E2E_URL (http://localhost:<port>), CLAWHOST_E2E_PASSWORD, CLAWHOST_E2E_REAUTH_MS
// (the server's session.reauth_window). Output: one JSON line; exit 0 on success.

import { accessibilityProblems, runChecks, virtualAuthenticator } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const password = process.env.CLAWHOST_E2E_PASSWORD;
const reauthMs = Number(process.env.CLAWHOST_E2E_REAUTH_MS);

const landed = (url) => url.origin === base && (url.pathname === "/" || url.pathname === "/setup");

await runChecks(async (browser, steps, problems) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" && page.url().startsWith(base)) {
      // A refused sign-in answers 401, the confirmation page comes with 403 and a refused
      // removal with 409: the page shows them, the console only notes the status.
      if (!/status of 40[139]/.test(message.text())) problems.push(`console on ${page.url()}: ${message.text()}`);
    }
  });
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

  await page.goto(`${base}/login`);
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForURL(landed), page.getByRole("button", { name: "Sign in", exact: true }).click()]);
  await page.goto(`${base}/settings`);
  problems.push(...(await accessibilityProblems(page, "settings, no passkey")));
  await page.getByLabel("Name of the new passkey").fill("Laptop");
  await page.locator("#passkeys").getByLabel("Your password, to confirm").fill(password);
  await page.getByRole("button", { name: "Add a passkey" }).click();
  const row = page.locator("#passkeys tbody tr", { hasText: "Laptop" });
  await row.waitFor();
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  if (credentials.length !== 1 || !credentials[0].isResidentCredential || credentials[0].rpId !== new URL(base).hostname) {
    problems.push(`the authenticator holds ${JSON.stringify(credentials.map((c) => [c.rpId, c.isResidentCredential]))}`);
  }
  problems.push(...(await accessibilityProblems(page, "settings, one passkey")));
  steps.push("added a discoverable passkey from the settings page");

  await Promise.all([page.waitForURL(/\/login$/), page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Log out" }).click()]);
  problems.push(...(await accessibilityProblems(page, "sign-in with the passkey button")));
  const signInWithPasskey = page.getByRole("button", { name: "Sign in with a passkey" });

  // auth.require_second_factor: now that the owner has a passkey, the password alone is
  // not enough.
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByText("asks for a passkey to sign in").waitFor();
  const halfway = await page.evaluate(async () => (await fetch("/api/auth/me")).status);
  if (halfway !== 401) problems.push(`the password alone signed in (${halfway})`);
  steps.push("the password alone no longer signs in once there is a passkey");

  // A forged answer first: the authenticator signs wrongly once.
  await cdp.send("WebAuthn.setResponseOverrideBits", { authenticatorId, isBogusSignature: true });
  await signInWithPasskey.click();
  await page.getByText("This passkey does not sign in here.").waitFor();
  if (!page.url().endsWith("/login")) problems.push(`a bogus signature went on to ${page.url()}`);
  await cdp.send("WebAuthn.setResponseOverrideBits", { authenticatorId, isBogusSignature: false });
  steps.push("an answer with a bogus signature was refused");

  await Promise.all([page.waitForURL(landed), signInWithPasskey.click()]);
  const me = await page.evaluate(async () => (await fetch("/api/auth/me")).status);
  if (me !== 200) problems.push(`/api/auth/me after the passkey: ${me}`);
  steps.push("signed in with the passkey alone");

  // Passkeys only: the password neither signs in nor lets the last passkey go.
  await page.goto(`${base}/settings`);
  page.once("dialog", (dialog) => dialog.accept());
  await Promise.all([page.waitForURL(`${base}/settings#passkeys`), page.getByRole("button", { name: "Turn off password sign-in" }).click()]);
  await page.getByText("Password sign-in is off").waitFor();
  page.once("dialog", (dialog) => dialog.accept());
  await page.locator("#passkeys tbody tr", { hasText: "Laptop" }).getByRole("button", { name: "Remove" }).click();
  await page.getByText("would leave no way to sign in").waitFor();
  steps.push("with the password off, the last passkey cannot be removed");
  await page.goto(`${base}/settings`);
  await Promise.all([page.waitForURL(/\/login$/), page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Log out" }).click()]);
  await page.getByText("password sign-in is off").waitFor();
  if ((await page.getByLabel("Password").count()) !== 0) problems.push("the sign-in page still asks for the password");
  const byPassword = await page.evaluate(async (password) => {
    const response = await fetch("/api/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ password }) });
    return response.status;
  }, password);
  if (byPassword !== 401) problems.push(`the password signed in while off (${byPassword})`);
  await Promise.all([page.waitForURL(landed), signInWithPasskey.click()]);
  await page.goto(`${base}/settings`);
  await Promise.all([page.waitForURL(`${base}/settings#passkeys`), page.getByRole("button", { name: "Turn password sign-in on" }).click()]);
  steps.push("password sign-in off: only the passkey signed in; then on again");

  // The step-up window passes; removing the passkey asks, and the passkey confirms.
  await page.waitForTimeout(reauthMs + 500);
  await page.goto(`${base}/settings`);
  page.once("dialog", (dialog) => dialog.accept());
  await page.locator("#passkeys tbody tr", { hasText: "Laptop" }).getByRole("button", { name: "Remove" }).click();
  await page.locator("h1", { hasText: "Confirm it's you" }).waitFor();
  problems.push(...(await accessibilityProblems(page, "confirm, with a passkey")));
  await Promise.all([
    page.waitForURL(`${base}/settings#passkeys`),
    page.getByRole("button", { name: "Confirm with a passkey" }).click(),
  ]);
  if ((await page.locator("#passkeys tbody tr").count()) !== 0) problems.push("the passkey is still listed");
  steps.push("a passkey confirmed removing the passkey");

  // The authenticator still holds it, but it no longer signs in.
  await Promise.all([page.waitForURL(/\/login$/), page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Log out" }).click()]);
  await signInWithPasskey.click();
  await page.getByText("This passkey does not sign in here.").waitFor();
  steps.push("the removed passkey signs nobody in");
  await page.getByLabel("Password").fill(password);
  await Promise.all([page.waitForURL(landed), page.getByRole("button", { name: "Sign in", exact: true }).click()]);
  steps.push("without a passkey left, the password alone signs in again");
});
