// Time to interactive of /login in Debian's Chromium: from navigation start to the moment the
// WASM has hydrated the page (the app stamps `data-hydrated-ms` on <body>). A fresh browser
// context per run, so nothing is cached. Usage: node end2end/tti.mjs http://127.0.0.1:3200 [runs]
import { chromium } from "@playwright/test";

const base = process.argv[2] ?? "http://127.0.0.1:3000";
const runs = Number(process.argv[3] ?? 9);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const times = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.waitForSelector("body[data-hydrated-ms]");
  times.push(Number(await page.getAttribute("body", "data-hydrated-ms")));
  await context.close();
}
await browser.close();
times.sort((a, b) => a - b);
console.log(`${times[Math.floor(runs / 2)]} ${times[0]} ${times[runs - 1]}`);
