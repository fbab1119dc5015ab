import { test, expect, type ConsoleMessage, type Page } from "@playwright/test";
import { screenshotPath } from "./helpers";

/** Collect console errors and page errors: hydration mismatches, panics, CSP violations. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  return problems;
}

test("the home page hydrates under its CSP without console errors", async ({ page }) => {
  const problems = watchConsole(page);
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  const csp = response?.headers()["content-security-policy"] ?? "";
  expect(csp).toContain("'nonce-");
  expect(csp).not.toContain("unsafe-inline");

  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("JSON Web Tokens");
  await expect(page.locator("ol.steps > li")).toHaveCount(10);

  // Interactive only if the WASM really took over the server-rendered DOM.
  await page.getByRole("button", { name: "This page is interactive" }).click();
  await page.getByRole("button", { name: "This page is interactive" }).click();
  await expect(page.getByTestId("clicks")).toHaveText("2");

  await page.screenshot({ path: screenshotPath("home"), fullPage: true });
  expect(problems).toEqual([]);
});

test("the browser reaches the API on its own origin under the page's CSP", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto("/");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const result = await page.evaluate(async () => {
    const signup = await fetch("/api/auth/signup", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `e2e-${Date.now()}@example.com`, password: "correct horse battery" }),
    });
    const tokens = await signup.json();
    const me = await fetch("/api/me", { headers: { authorization: `Bearer ${tokens.access_token}` } });
    return { signup: signup.status, me: me.status, email: (await me.json()).email };
  });
  expect(result.signup).toBe(201);
  expect(result.me).toBe(200);
  expect(result.email).toMatch(/^e2e-\d+@example\.com$/);
  expect(problems).toEqual([]);
});

test("the OpenAPI document is served beside the app", async ({ request }) => {
  const response = await request.get("/openapi.yaml");
  expect(response.status()).toBe(200);
  const text = await response.text();
  expect(text).toContain("openapi: 3.1.0");
  expect(text).toContain("/api/auth/refresh:");
});
