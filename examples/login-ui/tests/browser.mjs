// Drives Debian's Chromium through playwright-core on the login-ui page: the OAuth2 client's
// authorization URL → Hydra → the login page (a wrong password first: an error and no
// redirect; then the right one) → the TOTP step when TOTP_CODE is set → the consent page
// when EXPECT_CONSENT=1 → the client's redirect URI (served by the test), printed as one JSON
// line: {"callback": URL}.
//
// Environment: AUTH_URL, CALLBACK_PREFIX, USERNAME, PASSWORD, WRONG_PASSWORD, TOTP_CODE
// (optional), EXPECT_CONSENT (0/1), CHECK_REPLAY (0/1: the used login page shows an error
// afterwards), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const TIMEOUT = 20_000;

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const callbackPrefix = env("CALLBACK_PREFIX");

  await page.goto(env("AUTH_URL"));
  await page.waitForSelector("#login-form.shown");
  const loginPage = page.url();

  const wrong = process.env.WRONG_PASSWORD;
  if (wrong) {
    const at = page.url();
    await page.fill("#username", env("USERNAME"));
    await page.fill("#password", wrong);
    await page.click("#sign-in");
    // (a selector, not page.waitForFunction: the page's CSP forbids eval)
    await page.waitForSelector('#error:has-text("Wrong username")');
    if (page.url() !== at) throw new Error(`a wrong password navigated to ${page.url()}`);
  }

  await page.fill("#username", env("USERNAME"));
  await page.fill("#password", env("PASSWORD"));
  await page.click("#sign-in");

  if (process.env.TOTP_CODE) {
    await page.waitForSelector("#mfa-form.shown");
    await page.fill("#code", process.env.TOTP_CODE);
    await page.click("#verify");
  }
  if (env("EXPECT_CONSENT", "0") === "1") {
    await page.waitForSelector("#consent.shown");
    await page.click("#allow");
  }
  // (Playwright's routes do not see the redirects of a navigation: the callback is served
  // by the test for real.)
  try {
    await page.waitForURL((url) => url.href.startsWith(callbackPrefix));
  } catch (e) {
    throw new Error(`never reached ${callbackPrefix}; at ${page.url()}: ${e.message}`);
  }
  const callback = page.url();

  if (env("CHECK_REPLAY", "0") === "1") {
    // The used login challenge again (back button, a bookmarked link): an error, no form.
    await page.goto(loginPage);
    await page.waitForSelector('#error:has-text("already used")');
    if (await page.isVisible("#login-form")) throw new Error("a used challenge shows the form");
  }
  console.log(JSON.stringify({ callback }));
} finally {
  await browser.close();
}
