// Opens the dashboard of a running job in headless Chromium, waits until the graph shows every
// vertex with a non-zero rate, opens a vertex, saves a screenshot, and prints what it saw as
// JSON. Usage: node dashboard.mjs URL TOKEN SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, token, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/lib/chromium/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${url}/#token=${encodeURIComponent(token)}`);
  await page.waitForFunction(() => {
    const vertices = [...document.querySelectorAll("svg .vertex")];
    return vertices.length > 0 && vertices.every((g) => Number(g.dataset.rate) > 0);
  }, null, { timeout: 60000 });
  const vertices = await page.$$eval("svg .vertex", (gs) =>
    gs.map((g) => ({ id: Number(g.dataset.vertex), rate: Number(g.dataset.rate), text: g.textContent })));
  const edges = await page.$$eval("svg .edge-label", (ls) => ls.map((l) => l.textContent));
  await page.click("svg .vertex >> nth=1");
  await page.waitForSelector("#vertex:not([hidden])");
  const detail = await page.textContent("#vertex-table");
  const jobs = await page.$$eval("#jobs tbody tr", (rows) => rows.map((r) => r.textContent));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ vertices, edges, detail, jobs, errors }));
} finally {
  await browser.close();
}
