// The first-run journey through the UI only, in a real Chromium: claim, setup wizard (a bad
// key first, then the test LLM), start with live progress, dashboard, Control UI chat,
// linking WhatsApp; then a wrong password, revoking another session in /settings once the
// step-up window has passed (the page asks for the password and carries on), and Stop from
// the dashboard. The server's step-up window is short (the Rust test sets it), so any
// sensitive form may ask for the password: `sensitive` answers when it does.
// Screenshots of every page at 1280×800 and 390×844 go to CLAWHOST_E2E_ARTIFACTS.
// Any console error or CSP violation on clawhost's own pages fails the run.
//
// Driven by the Rust test `browser::first_run_journey`. Input (environment):
// CLAWHOST_E2E_URL, CLAWHOST_E2E_CODE, CLAWHOST_E2E_PASSWORD, CLAWHOST_E2E_LLM_URL,
// CLAWHOST_E2E_REPLY, CLAWHOST_E2E_ARTIFACTS. Output: one JSON line; exit 0 on success.

import { mkdirSync } from "node:fs";
import { chatWithTestLlm, launchChromium } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const code = process.env.CLAWHOST_E2E_CODE;
const password = process.env.CLAWHOST_E2E_PASSWORD;
const llmUrl = process.env.CLAWHOST_E2E_LLM_URL;
const reply = process.env.CLAWHOST_E2E_REPLY;
const artifacts = process.env.CLAWHOST_E2E_ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

const SIZES = [
  [1280, 800],
  [390, 844],
];
const problems = [];
const steps = [];

const browser = await launchChromium();

function watch(page, label) {
  page.on("console", (message) => {
    const url = page.url();
    const ours = url.startsWith(base) && !new URL(url).pathname.startsWith("/openclaw");
    if (!ours || message.type() !== "error") return;
    // Chromium logs every 4xx answer as "Failed to load resource". The pages and API calls
    // that answer 401/404/422 on purpose are the error paths under test; a missing script,
    // stylesheet or icon is a real fault.
    const resource = message.location().url || "";
    const expected =
      message.text().startsWith("Failed to load resource: the server responded with a status of 4") &&
      !resource.includes("/static/") &&
      !resource.includes("favicon");
    if (!expected) problems.push(`${label}: console error on ${url}: ${message.text()} (${resource})`);
  });
  page.on("pageerror", (error) => {
    if (!new URL(page.url()).pathname.startsWith("/openclaw")) problems.push(`${label}: script error on ${page.url()}: ${error}`);
  });
  page.on("dialog", (dialog) => dialog.accept());
}

async function shots(context, name, path) {
  for (const [width, height] of SIZES) {
    const page = await context.newPage();
    watch(page, `screenshot ${name}`);
    await page.setViewportSize({ width, height });
    await page.goto(`${base}${path}`);
    await page.waitForLoadState("networkidle").catch(() => {});
    await page.screenshot({ path: `${artifacts}/${name}-${width}x${height}.png`, fullPage: true });
    await page.close();
  }
}

// Submits a sensitive form and waits for `done`; when the server asks for the password first
// (its confirmation page), gives it and waits for `done` after that.
async function sensitive(page, submit, done) {
  const confirm = page.locator("form[data-step-up]");
  await submit();
  await Promise.race([done.waitFor({ timeout: 20_000 }), confirm.waitFor({ timeout: 20_000 })]);
  if (await confirm.isVisible()) {
    await page.fill("#reauth_password", password);
    await page.click('form[data-step-up] button[type=submit]');
    await done.waitFor({ timeout: 20_000 });
    return true;
  }
  return false;
}

// Waits until the password given at sign-in no longer opens the sensitive actions: an empty
// settings body is refused as invalid (422) while it does, as stale (403) once it does not.
async function stepUpWindowPassed(page) {
  for (let tries = 0; tries < 120; tries += 1) {
    const response = await page.request.put(`${base}/api/gateway/settings`, { data: {} });
    if (response.status() === 403) return;
    await page.waitForTimeout(250);
  }
  throw new Error("the step-up window never ended");
}

async function badge(page, text, timeout) {
  await page.locator('[data-field="state"]', { hasText: text }).first().waitFor({ timeout });
}

let retried = false;

let result;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watch(page, "owner");

  // Claim.
  await shots(context, "claim", "/claim");
  await page.goto(`${base}/`);
  await page.waitForURL(/\/claim$/);
  await page.fill("#code", code);
  await page.fill("#password", password);
  await page.fill("#password_confirm", password);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  steps.push("claimed");

  // Setup: a bad key shows an inline error next to the field.
  await page.goto(`${base}/setup`);
  await page.selectOption("#provider", "anthropic");
  await page.fill("#api_key", "not-an-anthropic-key");
  await sensitive(
    page,
    () => page.click('form[data-action="settings"] button[type=submit]'),
    page.locator("#error-api_key", { hasText: "sk-ant-" }),
  );
  steps.push("bad key shown inline");

  // Then the test LLM, tested, saved.
  await page.selectOption("#provider", "openai-compatible");
  await page.fill("#api_key", "sk-test-journey");
  await page.fill("#base_url", llmUrl);
  await page.fill("#model", "test-model");
  await sensitive(
    page,
    () => page.click('form[data-action="settings"] button[type=submit]'),
    page.locator('#step-provider [data-field="test-result"]:has-text("Saved."), #step-provider p.ok:has-text("Saved.")').first(),
  );
  await page.click("[data-test-key]");
  await page.locator('[data-field="test-result"]', { hasText: "accepted the key" }).waitFor({ timeout: 20_000 });
  steps.push("provider saved and tested");
  await shots(context, "setup", "/setup");

  // Start with live progress, until running.
  await page.click('#step-start form[data-action="start"] button');
  await page.locator('#step-start [data-field="progress"]').waitFor({ state: "visible", timeout: 30_000 });
  await badge(page, "Running", 180_000);
  steps.push("started with progress");

  // Dashboard shows Running; open the Control UI and chat.
  await page.goto(`${base}/`);
  await badge(page, "Running", 30_000);
  await page.locator('#channels [data-field="whatsapp"]', { hasText: "WhatsApp" }).waitFor({ timeout: 30_000 });
  steps.push("channels card filled");
  await shots(context, "dashboard", "/");
  await Promise.all([page.waitForURL(/\/openclaw\//), page.click("text=Open Control UI")]);
  retried = await chatWithTestLlm(page, reply);
  steps.push("chat reply in the Control UI");

  // Link WhatsApp from the dashboard: the gateway installs the plugin (progress on the page),
  // then the QR shows, or, where WhatsApp cannot be reached (as on CI), the plugin's reason.
  // Linking a phone to the assistant is sensitive: the page may ask for the password first.
  await page.goto(`${base}/`);
  await sensitive(
    page,
    () => page.click('#channels button:has-text("Link WhatsApp")'),
    page.locator("[data-whatsapp-link]"),
  );
  await page.waitForURL(/\/channels\/whatsapp$/);
  await page.screenshot({ path: `${artifacts}/whatsapp-progress-1280x800.png`, fullPage: true });
  const linkCard = page.locator('[data-whatsapp-link][data-state="qr"], [data-whatsapp-link][data-state="failed"]');
  await linkCard.waitFor({ timeout: 600_000 });
  if ((await linkCard.getAttribute("data-state")) === "qr") {
    await page.locator('[data-field="qr"] img').waitFor({ state: "visible" });
    steps.push("whatsapp QR shown");
  } else {
    const reason = await page.locator('[data-field="link-failed"]').innerText();
    if (!reason.includes("WhatsApp login")) problems.push(`unexpected WhatsApp failure: ${reason}`);
    await page.locator('[data-field="link-form"] button', { hasText: "Try again" }).waitFor();
    steps.push("whatsapp plugin's reason shown");
  }
  await shots(context, "whatsapp", "/channels/whatsapp");

  // A wrong password shows an error.
  const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const strangerPage = await stranger.newPage();
  watch(strangerPage, "stranger");
  await strangerPage.goto(`${base}/login`);
  await shots(stranger, "login", "/login");
  await strangerPage.fill("#password", "definitely not the password");
  await strangerPage.click("button[type=submit]");
  await strangerPage.locator(".alert", { hasText: "not correct" }).waitFor({ timeout: 10_000 });
  steps.push("wrong password shown");
  await shots(stranger, "not-found", "/no-such-page");

  // Another device signs in; the owner revokes it in /settings.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  watch(otherPage, "other device");
  await otherPage.goto(`${base}/login`);
  await otherPage.fill("#password", password);
  await Promise.all([otherPage.waitForURL(`${base}/`), otherPage.click("button[type=submit]")]);
  await page.goto(`${base}/settings`);
  await shots(context, "settings", "/settings");
  // Revoking it is sensitive: once the window has passed, the page asks for the password.
  await stepUpWindowPassed(page);
  const otherRow = page.locator("#sessions tbody tr", { hasNotText: "this device" }).first();
  await otherRow.locator("button", { hasText: "Revoke" }).click();
  await page.locator("form[data-step-up]").waitFor({ timeout: 10_000 });
  await page.screenshot({ path: `${artifacts}/confirm-1280x800.png`, fullPage: true });
  await page.fill("#reauth_password", password);
  await Promise.all([page.waitForURL(/\/$/), page.click('form[data-step-up] button[type=submit]')]);
  steps.push("password confirmed for the revocation");
  const me = await otherPage.request.get(`${base}/api/auth/me`);
  if (me.status() !== 401) problems.push(`the revoked session still works (${me.status()})`);
  steps.push("other session revoked");

  // Stop from the dashboard (after confirming) reaches Stopped.
  await page.goto(`${base}/`);
  await page.click('form[data-action="stop"] button');
  await badge(page, "Stopped", 120_000);
  steps.push("stopped from the dashboard");
  await shots(context, "gateway-down", "/openclaw/");

  result = { ok: problems.length === 0, steps, problems, retried };
} catch (error) {
  result = { ok: false, steps, problems, error: String(error) };
} finally {
  await browser.close();
}

console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
