import { expect, type ConsoleMessage, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mainDatabaseURL } from "../playwright.config";

export const PASSWORD = "correct horse battery";
export const STORAGE_KEY = "tokenflow.session";

/** A fresh address per call, so tests never collide on one database. */
export function uniqueEmail(prefix = "user"): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/**
 * Collect what would betray a broken app: panics, hydration warnings, CSP violations,
 * uncaught errors. Chromium's own "Failed to load resource" line for an expected 401/403/429
 * is the network log, not the app, and is left out.
 */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() !== "error" && msg.type() !== "warning") return;
    if (/Failed to load resource: the server responded with a status of (401|403|409|422|429)/.test(msg.text())) return;
    problems.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  return problems;
}

export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

export async function storedSession(page: Page): Promise<any | null> {
  const raw = await page.evaluate((key) => window.localStorage.getItem(key), STORAGE_KEY);
  return raw === null ? null : JSON.parse(raw);
}

/** Fill the Email and Password fields of the form on the page and press `button`. */
export async function submitCredentials(page: Page, button: "Sign up" | "Log in", email: string, password = PASSWORD): Promise<void> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: button }).click();
}

export async function signUpInBrowser(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto("/signup");
  await hydrated(page);
  await submitCredentials(page, "Sign up", email, password);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("me-email")).toHaveText(email);
}

export async function logInInBrowser(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto("/login");
  await hydrated(page);
  await submitCredentials(page, "Log in", email, password);
}

/**
 * Where a screenshot goes: an ignored folder, so running the tests rewrites no tracked file.
 * `scripts/screenshots` sets SCREENSHOT_DIR=screenshots to refresh the README's pictures.
 */
export function screenshotPath(name: string): string {
  return `${process.env.SCREENSHOT_DIR ?? "test-results/screenshots"}/${name}.png`;
}

/** `tokenflow <args>` against the main server's database, as an operator runs it. */
export function operator(...args: string[]): string {
  return execFileSync("target/debug/tokenflow", args, {
    cwd: "..",
    env: { ...process.env, DATABASE_URL: mainDatabaseURL, RUST_LOG: "warn" },
    stdio: "pipe",
  }).toString();
}

/**
 * Take WebCrypto away from the app (as on a page served over plain HTTP from another host):
 * it cannot make a proof key, so its sessions are bearer ones.
 */
export async function withoutWebCrypto(page: Page): Promise<void> {
  await page.addInitScript(() => {
    Object.defineProperty(Crypto.prototype, "subtle", { get: () => undefined, configurable: true });
  });
}

/** The JSON of a JWS part (header or claims). */
export function jwsPart(jws: string, index: 0 | 1): any {
  return JSON.parse(Buffer.from(jws.split(".")[index], "base64url").toString());
}

/** The DPoP proof key this origin keeps in IndexedDB: its public half, and whether the private one exports. */
export async function storedProofKey(page: Page): Promise<{ x: string; y: string; extractable: boolean; exported: boolean } | null> {
  return page.evaluate(async () => {
    const key: any = await new Promise((resolve, reject) => {
      const open = indexedDB.open("tokenflow", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("dpop");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const request = open.result.transaction("dpop", "readonly").objectStore("dpop").get("key");
        request.onsuccess = () => { open.result.close(); resolve(request.result); };
        request.onerror = () => reject(request.error);
      };
    });
    if (!key) return null;
    const exported = await crypto.subtle.exportKey("jwk", key.pair.privateKey).then(() => true, () => false);
    return { x: key.x, y: key.y, extractable: key.pair.privateKey.extractable, exported };
  });
}
