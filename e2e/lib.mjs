// What both browser scripts share: launching the system Chromium, and chatting with the
// test LLM in OpenClaw's Control UI.

import { chromium } from "playwright-core";

/// Debian's Chromium, headless, as root, without the background traffic this machine's
/// closed network would refuse.
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
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
