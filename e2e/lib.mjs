// What the browser scripts share: launching the system Chromium, a virtual authenticator,
// checking a page with axe-core, and chatting with the test LLM in OpenClaw's Control UI.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

/// Debian's Chromium, headless, as root, without the background traffic this machine's
/// closed network would refuse. `CLAWHOST_E2E_RESOLVE` (a name) makes that name resolve to
/// 127.0.0.1, as a LAN name or a VPS's address would (over plain http, an origin that is not
/// a secure context); `CLAWHOST_E2E_SPKI` trusts a test CA for https.
export function launchChromium() {
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ];
  const name = process.env.CLAWHOST_E2E_RESOLVE;
  if (name) args.push(`--host-resolver-rules=MAP ${name} 127.0.0.1`);
  // A test CA's key (base64 SHA-256 of its SPKI): chains through it are trusted, as a
  // public CA's would be.
  const spki = process.env.CLAWHOST_E2E_SPKI;
  if (spki) args.push(`--ignore-certificate-errors-spki-list=${spki}`);
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args,
  });
}

/// Chromium's virtual authenticator (CDP WebAuthn) for `page`: a platform authenticator with
/// resident keys and user verification that answers at once, as a phone's or a laptop's
/// would. Returns the CDP session and the authenticator's id.
export async function virtualAuthenticator(context, page) {
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
  return { cdp, authenticatorId };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/// Runs axe-core on `page` in light and in dark, and returns a line for each serious or
/// critical violation. Evaluated through the driver, so the page's CSP stays as it is.
export async function accessibilityProblems(page, label) {
  const found = [];
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const results = await window.axe.run(document, { resultTypes: ["violations"] });
      return results.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
      }));
    });
    for (const violation of violations) {
      if (violation.impact === "serious" || violation.impact === "critical") {
        found.push(`${label} (${scheme}): ${violation.id} [${violation.impact}] ${violation.nodes.join(" | ")}`);
      }
    }
  }
  await page.emulateMedia({ colorScheme: "light" });
  return found;
}

/// A fetch from inside the page, so it goes through the browser's own network (its resolver
/// rules, its cookies) as the page's scripts would.
export async function pageFetch(page, path, init = {}) {
  return page.evaluate(
    async ({ path, init }) => {
      const response = await fetch(path, { credentials: "same-origin", ...init });
      return { status: response.status, text: await response.text() };
    },
    { path, init },
  );
}

// Says "hello" in the Control UI open in `page` and waits for the test LLM's `reply`.
// The composer shows the session's model once the UI has its connection and snapshot;
// typing before that could go nowhere. Right after a gateway start the first message is
// occasionally not answered (seen about once in ten runs); it is sent once more before
// giving up. Returns whether that retry was needed.
export async function chatWithTestLlm(page, reply) {
  const input = page.getByPlaceholder(/^Message/);
  await input.waitFor({ state: "visible", timeout: 120_000 });
  await page.getByText("test-model").first().waitFor({ state: "visible", timeout: 120_000 });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    await input.fill("hello");
    await input.press("Enter");
    try {
      await page.getByText(reply).first().waitFor({ state: "visible", timeout: 60_000 });
      return attempt > 0;
    } catch (error) {
      if (attempt === 1) throw error;
    }
  }
  return true;
}

/// Runs `work(steps, problems)` with a Chromium, and prints one JSON line: what it did, the
/// problems it found, and what stopped it, if anything. Exits 0 only when nothing did and
/// no problem was found.
export async function runChecks(work) {
  const steps = [];
  const problems = [];
  const browser = await launchChromium();
  let result;
  try {
    await work(browser, steps, problems);
    result = { ok: problems.length === 0, steps, problems };
  } catch (error) {
    result = { ok: false, steps, problems, error: String(error) };
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
