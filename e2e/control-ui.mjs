// Signs in to clawhost in a real Chromium, opens OpenClaw's Control UI through the proxy,
// chats with the test LLM, and checks that the gateway's token never reached the browser.
//
// Driven by the Rust test `browser::control_ui_in_chromium`, which starts clawhost, the real
// gateway and the test LLM, then runs: node e2e/control-ui.mjs
// Input (environment): CLAWHOST_E2E_URL, CLAWHOST_E2E_PASSWORD, CLAWHOST_E2E_SECRET (the
// gateway token to look for), CLAWHOST_E2E_REPLY (the text the test LLM answers),
// CLAWHOST_E2E_SCREENSHOT (where to save the screenshot); CLAWHOST_E2E_RESOLVE and
// CLAWHOST_E2E_SPKI as lib.mjs reads them. Over https the page must be a secure context.
// Output: one JSON line; exit code 0 when every check passed.

import { chatWithTestLlm, launchChromium } from "./lib.mjs";

const base = process.env.CLAWHOST_E2E_URL;
const password = process.env.CLAWHOST_E2E_PASSWORD;
const secret = process.env.CLAWHOST_E2E_SECRET;
const reply = process.env.CLAWHOST_E2E_REPLY;
const screenshot = process.env.CLAWHOST_E2E_SCREENSHOT;

const FAILURE_TEXTS = ["pairing required", "origin not allowed", "device identity", "secure context", "disconnected ("];
const leaks = [];
const consoleErrors = [];

function check(where, text) {
  if (secret && typeof text === "string" && text.includes(secret)) leaks.push(where);
}

const browser = await launchChromium();

let retried = false;

let result;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("response", async (response) => {
    check(`url ${response.url()}`, response.url());
    check(`headers of ${response.url()}`, JSON.stringify(await response.allHeaders()));
    try {
      check(`body of ${response.url()}`, (await response.body()).toString("latin1"));
    } catch {
      // Redirects and aborted requests have no body.
    }
  });
  page.on("websocket", (socket) => {
    check(`socket url ${socket.url()}`, socket.url());
    socket.on("framereceived", (frame) => check("a received frame", String(frame.payload)));
    socket.on("framesent", (frame) => check("a sent frame", String(frame.payload)));
  });

  // Sign in to clawhost.
  await page.goto(`${base}/login?next=/openclaw/`);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/openclaw\/?/), page.click("button[type=submit]")]);

  // The Control UI: connected, no pairing or origin error, chat works.
  retried = await chatWithTestLlm(page, reply);
  const text = await page.evaluate(() => document.body.innerText);
  const failures = FAILURE_TEXTS.filter((t) => text.toLowerCase().includes(t));
  const secureContext = await page.evaluate(() => window.isSecureContext);
  // What the page and its assets came over: HTTP/2 when clawhost serves https itself.
  const protocols = await page.evaluate(() => [
    ...new Set(performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).map((e) => e.nextHopProtocol)),
  ]);
  if (base.startsWith("https://")) {
    if (!secureContext) failures.push("not a secure context over https");
    if (!protocols.includes("h2")) failures.push(`not HTTP/2 over https: ${protocols.join(", ")}`);
  }
  await page.screenshot({ path: screenshot, fullPage: false });

  // Nothing the page can reach holds the token.
  const storage = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, href: location.href }));
  check("storage or location", storage);
  check("cookies", JSON.stringify(await context.cookies()));

  result = {
    ok: failures.length === 0 && leaks.length === 0,
    failures,
    leaks,
    consoleErrors,
    retried,
    secureContext,
    protocols,
    url: page.url(),
  };
} catch (error) {
  let text = "";
  try {
    const page = browser.contexts()[0].pages()[0];
    await page.screenshot({ path: screenshot.replace(/\.png$/, "-failure.png") });
    text = (await page.evaluate(() => document.body.innerText)).slice(0, 2000);
  } catch {
    // Nothing more to report.
  }
  result = { ok: false, error: String(error), leaks, consoleErrors, text };
} finally {
  await browser.close();
}

console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
