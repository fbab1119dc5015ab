// Time to interactive of /login in Debian's Chromium: from navigation start to the moment the
// WASM has hydrated the page (the app stamps `data-hydrated-ms` on <body>). A fresh browser
// context per run, so nothing is cached. With `throttled`, the network is the slow one a
// visitor on a poor mobile link has: 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip
// (Chromium's own emulation, through the DevTools protocol).
// Usage: node end2end/tti.mjs http://127.0.0.1:3200 [runs] [throttled]
// Prints: median min max (ms) and the bytes the page transferred (of the last run).
import { chromium } from "@playwright/test";

const base = process.argv[2] ?? "http://127.0.0.1:3000";
const runs = Number(process.argv[3] ?? 9);
const throttled = process.argv[4] === "throttled";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const times = [];
let transferred = 0;
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  if (throttled) {
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 150,
      downloadThroughput: (1.6 * 1000 * 1000) / 8,
      uploadThroughput: (750 * 1000) / 8,
    });
  }
  transferred = 0;
  cdp.on("Network.loadingFinished", (event) => { transferred += event.encodedDataLength; });
  await page.goto(`${base}/login`);
  await page.waitForSelector("body[data-hydrated-ms]", { timeout: 60_000 });
  times.push(Number(await page.getAttribute("body", "data-hydrated-ms")));
  await context.close();
}
await browser.close();
times.sort((a, b) => a - b);
console.log(`${times[Math.floor(runs / 2)]} ${times[0]} ${times[runs - 1]} ${transferred}`);
