// Lighthouse on a page as its user meets it: node lighthouse.mjs <url> <report.json> [brand key]
// With a brand key, the key is put into the tab's sessionStorage first (as the console's form does)
// and Lighthouse keeps it (disableStorageReset), so the console is audited, not its key form.
import { writeFile } from "node:fs/promises";
import lighthouse from "lighthouse";
import puppeteer from "puppeteer-core";

const [url, out, brandKey] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH,
  headless: true,
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage();
  if (brandKey) {
    await page.goto(new URL("/host", url).href);
    await page.evaluate((key) => sessionStorage.setItem("livedrop.brandKey", key), brandKey);
  }
  const result = await lighthouse(url, {
    output: "json",
    onlyCategories: ["accessibility", "best-practices"],
    blockedUrlPatterns: ["*.live-video.net*"],
    disableStorageReset: true,
    logLevel: "error",
  }, undefined, page);
  await writeFile(out, result.report);
} finally {
  await browser.close();
}
