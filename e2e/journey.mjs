// The first-run journey through the UI only, in a real Chromium, at a name that is not this
// machine's own (a LAN name or a VPS's address: plain http there is not a secure context,
// browsers send no Sec-Fetch-Site, and every page warns that the connection is not private).
// Claim (a mistake first: the code stays typed), the guided setup (a bad key, a missing
// model, then the test LLM), start with live progress, dashboard, saving again while running
// ("Restart to apply"), Control UI chat, linking WhatsApp; then the wrong address, a
// cross-site form that must be refused, a wrong password, revoking another session in
// /settings once the step-up window has passed (the page asks for the password and carries
// on), Stop from the dashboard and the Control UI's address while stopped. axe-core checks
// every page and state, light and dark: no serious or critical violation. Screenshots of
// every page at 1280×800 and 390×844 go to CLAWHOST_E2E_ARTIFACTS. Any console error or
// CSP violation on clawhost's own pages fails the run.
//
// Driven by the Rust test `browser::first_run_journey`. Input (environment):
// CLAWHOST_E2E_URL (the public URL), CLAWHOST_E2E_OTHER_URL (the same server at an address
// it does not answer for), CLAWHOST_E2E_RESOLVE, CLAWHOST_E2E_CODE, CLAWHOST_E2E_PASSWORD,
// CLAWHOST_E2E_LLM_URL, CLAWHOST_E2E_REPLY, CLAWHOST_E2E_ARTIFACTS. Output: one JSON line;
// exit 0 on success.

import { mkdirSync, writeFileSync } from "node:fs";
import { accessibilityProblems, chatWithTestLlm, launchChromium, pageFetch } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const otherAddress = process.env.CLAWHOST_E2E_OTHER_URL;
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
const audited = [];

const browser = await launchChromium();

// clawhost's own pages: all of them but the Control UI (the gateway's). At the wrong address
// and while the gateway is down, `/openclaw/` is clawhost's page too.
let gatewayDown = false;
function ours(url) {
  if (url.startsWith(otherAddress)) return true;
  return url.startsWith(base) && (gatewayDown || !new URL(url).pathname.startsWith("/openclaw/"));
}

function watch(page, label) {
  page.on("console", (message) => {
    const url = page.url();
    if (!ours(url) || message.type() !== "error") return;
    // Chromium logs every 4xx answer as "Failed to load resource". The pages and API calls
    // that answer 401/403/404/421/422 on purpose are the error paths under test, and so is
    // the Control UI's address answering 503 while the gateway is down; a missing script,
    // stylesheet or icon is a real fault.
    const resource = message.location().url || "";
    const failed = "Failed to load resource: the server responded with a status of ";
    const status = message.text().startsWith(failed) ? message.text().slice(failed.length, failed.length + 3) : "";
    const down = status === "503" && resource.includes("/openclaw/");
    const expected =
      (status.startsWith("4") || down) && !resource.includes("/static/") && !resource.includes("favicon");
    if (!expected) problems.push(`${label}: console error on ${url}: ${message.text()} (${resource})`);
  });
  page.on("pageerror", (error) => {
    if (ours(page.url())) problems.push(`${label}: script error on ${page.url()}: ${error}`);
  });
  page.on("dialog", (dialog) => dialog.accept());
}

// axe-core on the page as it is now, light and dark.
async function audit(page, label) {
  problems.push(...(await accessibilityProblems(page, label)));
  audited.push(label);
}

// Every page clawhost draws over plain http at this name says the connection is not private.
async function warnsInsecure(page, label) {
  const notice = page.locator("[data-insecure-notice]");
  if (!(await notice.isVisible())) problems.push(`${label}: no "not private" notice over plain http`);
}

async function shots(context, name, path) {
  for (const [width, height] of SIZES) {
    const page = await context.newPage();
    watch(page, `screenshot ${name}`);
    await page.setViewportSize({ width, height });
    await page.goto(`${base}${path}`);
    await page.waitForLoadState("networkidle").catch(() => {});
    await page.screenshot({ path: `${artifacts}/${name}-${width}x${height}.png`, fullPage: true });
    if (width === SIZES[0][0]) {
      await audit(page, name);
      await warnsInsecure(page, name);
    } else {
      // Nothing may be cut off on a phone: the page is no wider than the screen.
      const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      if (wide) problems.push(`${name}: wider than a ${width} px screen`);
    }
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
    const response = await pageFetch(page, "/api/gateway/settings", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    if (response.status === 403) return;
    await page.waitForTimeout(250);
  }
  throw new Error("the step-up window never ended");
}

async function badge(page, text, timeout) {
  await page.locator('[data-field="state"]', { hasText: text }).first().waitFor({ timeout });
}

async function expectDisabled(page, selector, label) {
  const disabled = await page.locator(selector).first().evaluate((element) => element.disabled || element.getAttribute("aria-disabled") === "true");
  if (!disabled) problems.push(`${label} should be disabled`);
}

const providerSaved = '#step-provider [data-field="test-result"]:has-text("Saved."), #step-provider p.ok:has-text("Saved.")';

let retried = false;

let result;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watch(page, "owner");

  // Claim over plain http at a LAN name: a mistake first keeps the code typed.
  await shots(context, "claim", "/claim");
  await page.goto(`${base}/`);
  await page.waitForURL(/\/claim$/);
  await page.fill("#code", code);
  await page.fill("#password", password);
  await page.fill("#password_confirm", `${password} but different`);
  await page.click("button[type=submit]");
  await page.locator(".alert", { hasText: "do not match" }).waitFor({ timeout: 10_000 });
  if ((await page.inputValue("#code")) !== code) problems.push("the claim code was emptied after an error");
  await audit(page, "claim with an error");
  await page.fill("#password", password);
  await page.fill("#password_confirm", password);
  await Promise.all([page.waitForURL(/\/setup$/), page.click("button[type=submit]")]);
  steps.push("claimed over plain http, landed on the setup");
  await warnsInsecure(page, "setup");

  // Setup: nothing to test before a key is saved; a bad key shows an inline error.
  await expectDisabled(page, "[data-test-key]", "Test key without a saved key");
  await page.selectOption("#provider", "anthropic");
  await page.fill("#api_key", "not-an-anthropic-key");
  await sensitive(
    page,
    () => page.click('form[data-action="settings"] button[type=submit]'),
    page.locator("#error-api_key", { hasText: "sk-ant-" }),
  );
  await audit(page, "setup with an inline error");
  steps.push("bad key shown inline");

  // An OpenAI-compatible endpoint has no default model: it must be named.
  await page.selectOption("#provider", "openai-compatible");
  await page.fill("#api_key", "sk-test-journey");
  await page.fill("#base_url", llmUrl);
  await page.fill("#model", "");
  await sensitive(
    page,
    () => page.click('form[data-action="settings"] button[type=submit]'),
    page.locator("#error-model", { hasText: "Name the model" }),
  );
  steps.push("a missing model is asked for");

  // Then the test LLM, tested, saved.
  await page.fill("#api_key", "sk-test-journey");
  await page.fill("#model", "test-model");
  await sensitive(page, () => page.click('form[data-action="settings"] button[type=submit]'), page.locator(providerSaved).first());
  await page.click("[data-test-key]");
  await page.locator('[data-field="test-result"]', { hasText: "accepted the key" }).waitFor({ timeout: 20_000 });
  steps.push("provider saved and tested");
  await shots(context, "setup", "/setup");

  // An install that fails is shown as a failure, in words, with Try again, until dismissed.
  // (The pages install the pinned version; a version that does not exist is asked through
  // the API, as a script would.)
  await page.goto(`${base}/setup`);
  const install = () =>
    pageFetch(page, "/api/gateway/runtime/install", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ version: "0.0.0-does-not-exist" }),
    });
  let installing = await install();
  if (installing.status === 403) {
    await pageFetch(page, "/api/auth/reauthenticate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ password }),
    });
    installing = await install();
  }
  if (installing.status !== 202) throw new Error(`the install did not start: ${installing.status} ${installing.text}`);
  const failed = page.locator('[data-field="install-failed"]');
  await failed.waitFor({ timeout: 300_000 });
  const said = await failed.innerText();
  if (!said.includes("no such OpenClaw version")) problems.push(`the install failure is not in words: ${said}`);
  await page.locator('#step-runtime button[type=submit]', { hasText: "Try again" }).waitFor();
  await page.reload();
  await failed.waitFor({ timeout: 10_000 });
  await page.screenshot({ path: `${artifacts}/install-failed-1280x800.png`, fullPage: true });
  await audit(page, "setup with a failed install");
  await failed.locator("button", { hasText: "Dismiss" }).click();
  await failed.waitFor({ state: "detached", timeout: 10_000 });
  steps.push("a failed install is said in words and kept until dismissed");

  // The dashboard before the first start says what to do next; what cannot work is disabled.
  await page.goto(`${base}/`);
  await page.locator("#next-step", { hasText: "start the gateway" }).waitFor();
  await expectDisabled(page, 'form[data-action="stop"] button', "Stop while stopped");
  await expectDisabled(page, "text=Open Control UI", "Open Control UI while stopped");
  await shots(context, "dashboard-fresh", "/");
  steps.push("the fresh dashboard says what to do next");

  // Start with live progress, until running.
  await page.goto(`${base}/setup`);
  await page.click('#step-start form[data-action="start"] button');
  await page.locator('#step-start [data-field="progress"]').waitFor({ state: "visible", timeout: 30_000 });
  await badge(page, "Running", 180_000);
  await expectDisabled(page, '#step-start form[data-action="start"] button', "Start while running");
  steps.push("started with progress");

  // Saved while running: the page says to restart, and its button does.
  await sensitive(page, () => page.click('form[data-action="settings"] button[type=submit]'), page.locator('[data-field="apply"]:visible'));
  await audit(page, "setup saved while running");
  await page.click('[data-field="apply"] button');
  await page.locator('#step-start [data-field="state"]:not(.state-running)').waitFor({ timeout: 60_000 });
  await badge(page, "Running", 180_000);
  steps.push("restart to apply");

  // Dashboard shows Running; open the Control UI and chat.
  await page.goto(`${base}/`);
  await badge(page, "Running", 30_000);
  if (await page.locator("#next-step").count()) problems.push("the next-step card stayed after the first run");
  await page.locator('#channels [data-field="whatsapp"]', { hasText: "WhatsApp" }).waitFor({ timeout: 30_000 });
  steps.push("channels card filled");
  await shots(context, "dashboard", "/");
  await Promise.all([page.waitForURL(/\/openclaw\//), page.click("text=Open Control UI")]);
  retried = await chatWithTestLlm(page, reply);
  steps.push("chat reply in the Control UI");
  // The Control UI's browser is one of the gateway's devices now (paired as a local client).
  await shots(context, "devices", "/devices");
  // A device elsewhere asks while the Devices page is open: its request shows at once, and is
  // approved there with the password given again.
  await page.goto(`${base}/devices`);
  writeFileSync(process.env.CLAWHOST_E2E_ASK_FILE, "");
  const asking = page.locator("#pending tbody tr", { hasText: "198.51.100.20" });
  await asking.waitFor({ timeout: 60_000 });
  await page.screenshot({ path: `${artifacts}/devices-asking-1280x800.png`, fullPage: true });
  await audit(page, "devices asking");
  await sensitive(page, () => asking.locator("button", { hasText: "Approve" }).click(), page.locator("#paired tbody tr", { hasText: "a test device" }));
  if (await page.locator("#pending tbody tr", { hasText: "198.51.100.20" }).count()) problems.push("an approved request stayed in the inbox");
  await page.screenshot({ path: `${artifacts}/devices-approved-1280x800.png`, fullPage: true });
  steps.push("a device's request approved in the inbox");
  await shots(context, "telegram", "/channels/telegram");

  // Link WhatsApp from the dashboard: the gateway installs the plugin (progress on the page),
  // then the QR shows, or, where WhatsApp cannot be reached (as on CI), the reason in words.
  await page.goto(`${base}/`);
  await sensitive(page, () => page.click('#channels button:has-text("Link WhatsApp")'), page.locator("[data-whatsapp-link]"));
  await page.waitForURL(/\/channels\/whatsapp$/);
  await page.screenshot({ path: `${artifacts}/whatsapp-progress-1280x800.png`, fullPage: true });
  const linkCard = page.locator('[data-whatsapp-link][data-state="qr"], [data-whatsapp-link][data-state="failed"]');
  await linkCard.waitFor({ timeout: 600_000 });
  if ((await linkCard.getAttribute("data-state")) === "qr") {
    await page.locator('[data-field="qr"] img').waitFor({ state: "visible" });
    steps.push("whatsapp QR shown");
  } else {
    const reason = await page.locator('[data-field="link-failed"]').innerText();
    if (!reason.includes("WhatsApp")) problems.push(`unexpected WhatsApp failure: ${reason}`);
    if (reason.includes("openclaw channels login")) problems.push(`a CLI hint beside clawhost's button: ${reason}`);
    await page.locator('[data-field="link-form"] button', { hasText: "Try again" }).waitFor();
    steps.push(`whatsapp failure said in words: ${reason.split("\n")[0]}`);
  }
  await audit(page, "whatsapp");
  await shots(context, "whatsapp", "/channels/whatsapp");

  // The same server at an address it does not answer for: a page that says which to use.
  const lost = await context.newPage();
  watch(lost, "wrong address");
  await lost.goto(`${otherAddress}/openclaw/`);
  await lost.locator("h1", { hasText: "Wrong address" }).waitFor();
  await lost.screenshot({ path: `${artifacts}/wrong-address-1280x800.png`, fullPage: true });
  await audit(lost, "wrong address");
  await Promise.all([lost.waitForURL(`${base}/openclaw/`), lost.click(`a[href="${base}/openclaw/"]`)]);
  await lost.close();
  steps.push("the wrong address leads to the right one");

  // A form on another site posting to clawhost is refused: its Origin is not clawhost's.
  await page.route("http://elsewhere.test/**", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<form method="post" action="${base}/gateway/stop"><button>go</button></form>`,
    }),
  );
  await page.goto("http://elsewhere.test/");
  await Promise.all([page.waitForURL(`${base}/gateway/stop`), page.click("button")]);
  if (!(await page.content()).includes("was refused")) problems.push("a cross-site form was not refused");
  await page.goto(`${base}/`);
  await badge(page, "Running", 10_000);
  steps.push("a cross-site form is refused");

  // A wrong password shows an error.
  const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const strangerPage = await stranger.newPage();
  watch(strangerPage, "stranger");
  await strangerPage.goto(`${base}/login`);
  await shots(stranger, "login", "/login");
  await strangerPage.fill("#password", "definitely not the password");
  await strangerPage.click("button[type=submit]");
  await strangerPage.locator(".alert", { hasText: "not correct" }).waitFor({ timeout: 10_000 });
  await audit(strangerPage, "login with an error");
  steps.push("wrong password shown");
  await shots(stranger, "not-found", "/no-such-page");

  // Another device signs in; the owner revokes it in /settings.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  watch(otherPage, "other device");
  await otherPage.goto(`${base}/login`);
  await otherPage.fill("#password", password);
  await Promise.all([otherPage.waitForURL(`${base}/`), otherPage.click("button[type=submit]")]);
  steps.push("signed in over plain http");
  await page.goto(`${base}/settings`);
  await shots(context, "settings", "/settings");
  // Revoking it is sensitive: once the window has passed, the page asks for the password.
  await stepUpWindowPassed(page);
  const otherRow = page.locator("#sessions tbody tr", { hasNotText: "this device" }).first();
  await otherRow.locator("button", { hasText: "Revoke" }).click();
  await page.locator("form[data-step-up]").waitFor({ timeout: 10_000 });
  await page.screenshot({ path: `${artifacts}/confirm-1280x800.png`, fullPage: true });
  await audit(page, "confirm");
  await page.fill("#reauth_password", password);
  await Promise.all([page.waitForURL(/\/$/), page.click('form[data-step-up] button[type=submit]')]);
  steps.push("password confirmed for the revocation");
  const me = await pageFetch(otherPage, "/api/auth/me");
  if (me.status !== 401) problems.push(`the revoked session still works (${me.status})`);
  steps.push("other session revoked");

  // Stop from the dashboard (after confirming) reaches Stopped; the Control UI's address
  // then says so in words.
  await page.goto(`${base}/`);
  await page.click('form[data-action="stop"] button');
  await badge(page, "Stopped", 120_000);
  await audit(page, "dashboard stopped");
  steps.push("stopped from the dashboard");
  gatewayDown = true;
  await page.goto(`${base}/openclaw/`);
  await page.locator("h1", { hasText: "The gateway is not running" }).waitFor();
  await shots(context, "gateway-down", "/openclaw/");
  steps.push("the Control UI's address while stopped is a page that says so");

  // That page opens the Control UI by itself once the gateway runs again.
  gatewayDown = false;
  const restarted = await pageFetch(page, "/api/gateway/start", { method: "POST" });
  if (restarted.status !== 202) throw new Error(`start: ${restarted.status} ${restarted.text}`);
  await page.getByPlaceholder(/^Message/).waitFor({ state: "visible", timeout: 180_000 });
  steps.push("the gateway-down page became the Control UI by itself");
  await page.goto(`${base}/`);
  await pageFetch(page, "/api/gateway/stop", { method: "POST" });
  for (let tries = 0; ; tries += 1) {
    const status = JSON.parse((await pageFetch(page, "/api/gateway/status")).text);
    if (status.state === "stopped") break;
    if (tries > 600) throw new Error(`never stopped: ${status.state}`);
    await page.waitForTimeout(200);
  }

  result = { ok: problems.length === 0, steps, problems, retried, audited };
} catch (error) {
  result = { ok: false, steps, problems, error: String(error), audited };
} finally {
  await browser.close();
}

console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
