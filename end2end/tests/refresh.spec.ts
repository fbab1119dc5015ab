import { test, expect } from "@playwright/test";
import { shortLivedURL } from "../playwright.config";
import { hydrated, signUpInBrowser, storedSession, uniqueEmail, watchConsole } from "./helpers";

// Against the server whose access tokens live 4 s with no leeway.
test.use({ baseURL: shortLivedURL });

test("the session survives expiry through silent refresh, also with two tabs", async ({ context, page }) => {
  test.setTimeout(60_000);
  const problems = watchConsole(page);
  const email = uniqueEmail("refresher");
  await signUpInBrowser(page, email);
  const first = await storedSession(page);
  expect(first.expires_in).toBe(4);

  const second = await context.newPage();
  const secondProblems = watchConsole(second);
  await second.goto("/dashboard");
  await hydrated(second);
  await expect(second.getByTestId("me-email")).toHaveText(email);

  // Several lifetimes pass; both tabs' timers fire, but only one refresh happens at a time
  // and the other tab adopts its result, so reuse detection never trips.
  await page.waitForTimeout(11_000);
  const later = await storedSession(page);
  expect(later).not.toBeNull();
  expect(later.access_token).not.toBe(first.access_token);
  expect(later.refresh_token).not.toBe(first.refresh_token);
  expect((await storedSession(second)).refresh_token).toBe(later.refresh_token);

  for (const tab of [page, second]) {
    await tab.reload();
    await hydrated(tab);
    await expect(tab.getByTestId("me-email")).toHaveText(email);
  }
  // The first token is long expired: the server says so.
  const old = await page.request.get("/api/me", { headers: { authorization: `Bearer ${first.access_token}` } });
  expect(old.status()).toBe(401);
  expect((await old.json()).message).toBe("token expired");

  // Logging out in one tab logs out every tab.
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(second).toHaveURL(/\/login\?next=\/dashboard$/);
  expect(problems).toEqual([]);
  expect(secondProblems).toEqual([]);
});
