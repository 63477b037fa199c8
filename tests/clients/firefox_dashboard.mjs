// The dashboard in Firefox (Debian's firefox-esr), driven by puppeteer-core over WebDriver BiDi:
// run by tests/test_dashboard_firefox.py, which starts the gateway and checks what this prints.
//
//   node tests/clients/firefox_dashboard.mjs URL ADMIN_KEY FIREFOX
//
// It signs in, shows every page at 1280 and at 375 pixels wide (what each has drawn, and
// whether anything scrolls sideways), creates a client in the page and reads its key, and
// prints one JSON object: what it saw, every request the page made, every console error.
import puppeteer from "puppeteer-core";

const [url, key, firefox] = process.argv.slice(2);
const PAGES = {
  home: "#chart-requests[data-points] canvas",
  clients: '[data-testid^="client-row-"]',
  strategies: '[data-testid="preview-candidates"] li',
  providers: '[data-testid^="provider-"]',
  config: ".yaml-file[data-file]",
  mcp: '[data-testid="mcp-empty"], [data-testid^="mcp-server-"]',
  settings: "#version",
};
const out = { pages: {}, narrow: {}, requests: [], errors: [] };

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: firefox,
  headless: true,
  extraPrefsFirefox: {
    // nothing of Firefox's own: no update, telemetry, safe-browsing or captive-portal calls
    "app.update.enabled": false,
    "browser.safebrowsing.malware.enabled": false,
    "browser.safebrowsing.phishing.enabled": false,
    "network.captive-portal-service.enabled": false,
    "network.connectivity-service.enabled": false,
    "datareporting.policy.dataSubmissionEnabled": false,
    "toolkit.telemetry.enabled": false,
  },
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  page.on("request", (r) => out.requests.push(r.url()));
  page.on("console", (m) => { if (m.type() === "error") out.errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => out.errors.push(`page: ${e.message}`));
  await page.setViewport({ width: 1280, height: 860 });

  await page.goto(url + "/");
  await page.waitForSelector("#admin-key");
  await page.type("#admin-key", key);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#nav a");
  out.nav = await page.$$eval("#nav a", (links) => links.map((a) => a.textContent));

  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
  for (const [name, drawn] of Object.entries(PAGES)) {
    await page.goto(`${url}/#/${name}`);
    await page.waitForSelector(drawn);
    out.pages[name] = { drawn: true, fits: await fits() };
  }
  await page.goto(`${url}/#/home`);
  await page.waitForSelector(PAGES.home);
  out.home_requests = Number(await page.$eval("#chart-requests", (el) => el.dataset.seriesTotal));

  await page.goto(`${url}/#/clients`);
  await page.waitForSelector("#client-create");
  await page.type('#client-create [name="name"]', "from-firefox");
  await page.click('#client-create button[type="submit"]');
  await page.waitForSelector('[data-testid="new-key"]');
  out.new_key = (await page.$eval('[data-testid="new-key"]', (el) => el.textContent)).trim();
  await page.waitForSelector('[data-testid="client-row-from-firefox"]');

  await page.setViewport({ width: 375, height: 740 });
  for (const [name, drawn] of Object.entries(PAGES)) {
    await page.goto(`${url}/#/${name}`);
    await page.waitForSelector(drawn);
    out.narrow[name] = await fits();
  }
  out.user_agent = await browser.version();
} catch (err) {
  out.failed = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
