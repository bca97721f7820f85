// The Control UI's cold load in Chromium, for the proxy benchmark (benches/proxy.rs): each
// round opens every target once, in turn, in a fresh context (no cache, no connections, so
// every asset and the TLS handshake are paid again), and records the time to the load event.
// Rounds rotate the order of the targets.
//
// Input (environment): CLAWHOST_BENCH_TARGETS, a JSON list of {"name", "url", "cookie"?:
// {"name","value"}}; CLAWHOST_BENCH_ROUNDS. Output: one JSON line {name: [ms, …]}.

import { launchChromium } from "./lib.mjs";

const targets = JSON.parse(process.env.CLAWHOST_BENCH_TARGETS);
const rounds = Number(process.env.CLAWHOST_BENCH_ROUNDS || "5");
const times = Object.fromEntries(targets.map((t) => [t.name, []]));
const protocols = {};

const browser = await launchChromium();
try {
  for (let round = 0; round < rounds; round += 1) {
    // Each round starts at the next target, so no path always goes first (the first load of
    // a round pays for what the browser does between rounds).
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const target of order) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      if (target.cookie) {
        await context.addCookies([{ ...target.cookie, url: new URL(target.url).origin }]);
      }
      const page = await context.newPage();
      await page.goto(target.url, { waitUntil: "load" });
      const [entry] = await page.evaluate(() =>
        performance.getEntriesByType("navigation").map((e) => ({ load: e.loadEventEnd, protocol: e.nextHopProtocol })),
      );
      const assets = await page.evaluate(() => performance.getEntriesByType("resource").length);
      if (assets < 5) throw new Error(`${target.name}: only ${assets} assets loaded from ${target.url}`);
      times[target.name].push(Math.round(entry.load * 10) / 10);
      protocols[target.name] = entry.protocol;
      await context.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ times, protocols }));
