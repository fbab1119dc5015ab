import { defineConfig, devices } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The server under test: the debug build, on its own port and a fresh SQLite file per run.
const port = Number(process.env.E2E_PORT ?? 3100);
const baseURL = `http://127.0.0.1:${port}`;
const shortPort = port + 1;
/** The server with 4-second access tokens. */
export const shortLivedURL = `http://127.0.0.1:${shortPort}`;
// Set once, in the main process, and inherited by the workers: tests reach the same database
// (to run `tokenflow users promote` on it, as an operator would).
const dataDir = (process.env.E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), "tokenflow-e2e-")));
/** The main server's database, for operator commands in tests. */
export const mainDatabaseURL = `sqlite://${dataDir}/main.db?mode=rwc`;

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: "list",
  outputDir: "test-results",
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        // Debian's Chromium; Playwright's own browser download is not possible here.
        launchOptions: {
          executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
  // Two servers: the contract's defaults, and one whose access tokens live 4 s with no
  // leeway, so that silent refresh is exercised for real within a test.
  webServer: [server(port, "main"), server(shortPort, "short", { AUTH_ACCESS_TTL_SECS: "4", AUTH_LEEWAY_SECS: "0" })],
});

function server(port: number, name: string, extra: Record<string, string> = {}) {
  const base = `http://127.0.0.1:${port}`;
  return {
    command: "target/debug/tokenflow",
    cwd: "..",
    url: `${base}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore" as const,
    stderr: "pipe" as const,
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "target/site",
      DATABASE_URL: `sqlite://${dataDir}/${name}.db?mode=rwc`,
      AUTH_ISSUER: base,
      AUTH_ADMIN_EMAILS: "admin@tokenflow.test",
      AUTH_RATE_LIMIT_PER_MIN: "0",
      RUST_LOG: "warn",
      ...extra,
    },
  };
}
