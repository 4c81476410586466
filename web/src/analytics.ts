// The host console's analytics: /host/<sessionId>/analytics. One show's totals, its sales per
// minute as a chart (uPlot) with the pins marked on it, what each product sold while pinned and
// not, and the timeline as CSV. Read with the brand's key (api.ts keeps it, as for the console).
import uPlot from "uplot";
import { $, ApiError, brandKey, callAsBrand, callText, el, every, forgetBrandKey, formatDuration, formatMoney, formatTime, inWords, keepBrandKey, sessionIdFromPath } from "./api";
import type { Status } from "./shapes";

// GET /v1/sessions/{id}/analytics (specs/analytics-api.md): money in minor units, ratios as floats.
type ReportStatus = "live" | "settling" | "final";

interface Totals {
  currency: string;
  gmv: number;
  reservedValue: number;
  reservations: number;
  orders: { reserved: number; paid: number; cancelled: number; expired: number };
  unitsSold: number;
  buyers: number;
  averageOrderValue: number | null;
  checkoutCompletion: number | null;
  likes: number;
  peakViewers: number | null;
  averageViewers: number | null;
  conversion: number | null;
}

interface Minute {
  minute: string;
  reservations: number;
  paidOrders: number;
  unitsSold: number;
  gmv: number;
  likes: number;
  viewers: number | null;
  featuredProductId: string | null;
}

interface Pin {
  productId: string;
  pinnedAt: string;
  sentAt: string | null;
  windowStart: string;
  windowEnd: string | null;
}

interface ProductFigures {
  productId: string;
  title: string | null;
  currency: string;
  allocated: number;
  unitsSold: number;
  gmv: number;
  sellThrough: number | null;
  soldOutAt: string | null;
  featuredSeconds: number;
  notFeaturedSeconds: number;
  unitsWhileFeatured: number;
  unitsNotFeatured: number;
  salesPerMinuteWhileFeatured: number | null;
  salesPerMinuteNotFeatured: number | null;
  featureLift: number | null;
}

interface Report {
  sessionId: string;
  title: string;
  sessionStatus: Status;
  status: ReportStatus;
  startedAt: string | null;
  endedAt: string | null;
  generatedAt: string;
  finalizedAt: string | null;
  currency: string | null;
  attribution: { latencyAllowanceMs: number; graceMs: number };
  totals: Totals[];
  timeline: Minute[];
  pins: Pin[];
  products: ProductFigures[];
}

const STATUS_WORDS: Record<ReportStatus, string> = {
  live: "Provisional: these figures still change until the show has ended and its orders have settled. They update every 5 seconds.",
  settling: "Settling: the show has ended, but open reservations can still be paid or expire. They update every 5 seconds.",
  final: "Final: every order has settled; these figures will not change.",
};
const REFRESH_MS = 5000;
const DASH = "—";

const ui = {
  heading: $("heading"),
  message: $("message"),
  consoleLink: $<HTMLAnchorElement>("console-link"),
  viewerLink: $<HTMLAnchorElement>("viewer-link"),
  backLink: $<HTMLAnchorElement>("back-link"),
  keySection: $("key-section"),
  keyForm: $<HTMLFormElement>("key-form"),
  keyInput: $<HTMLInputElement>("api-key"),
  report: $("report"),
  status: $("status"),
  statusWords: $("status-words"),
  facts: $("facts"),
  csv: $<HTMLButtonElement>("csv-download"),
  csvStatus: $("csv-status"),
  totals: $("totals"),
  chart: $("chart"),
  chartCaption: $("chart-caption"),
  pins: $<HTMLOListElement>("pins"),
  minutes: $<HTMLTableSectionElement>("minutes"),
  products: $<HTMLTableSectionElement>("products"),
  forget: $<HTMLButtonElement>("forget-key"),
};

const sessionId = sessionIdFromPath("host", "analytics");
let report: Report | null = null;
let stopRefresh: (() => void) | null = null;

function say(text: string): void {
  ui.message.textContent = text;
}

function askForKey(why = ""): void {
  stopRefresh?.();
  stopRefresh = null;
  say(why);
  ui.keySection.hidden = false;
  ui.report.hidden = true;
  ui.keyInput.focus();
}

function brand<T>(path: string): Promise<T> {
  return callAsBrand<T>(path, () => askForKey("That API key was refused. Enter the brand's key again."));
}

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const typed = ui.keyInput.value.trim();
  if (!typed) return;
  keepBrandKey(typed);
  ui.keyInput.value = "";
  ui.keySection.hidden = true;
  say("");
  open();
});

ui.forget.addEventListener("click", () => {
  forgetBrandKey();
  location.assign("/host");
});

// --- formatting -----------------------------------------------------------------------------

const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const rate = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });

const num = (value: number | null | undefined) => (value === null || value === undefined ? DASH : count.format(value));
const pct = (value: number | null | undefined) => (value === null || value === undefined ? DASH : percent.format(value));
const money = (amount: number | null | undefined, currency: string | null) =>
  amount === null || amount === undefined || !currency ? DASH : formatMoney({ amount, currency });
const clock = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : DASH;
const seconds = (ms: number) => `${count.format(ms / 1000)} s`;
const stamp = (iso: string | null) =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) : DASH;

/** When a pin reached viewers (its send time), or when the host pinned it if it was never sent. */
const pinTime = (pin: Pin) => pin.sentAt ?? pin.pinnedAt;

function productTitles(current: Report): Map<string, string> {
  return new Map(current.products.map((product) => [product.productId, product.title ?? product.productId]));
}

// --- the page -------------------------------------------------------------------------------

function render(current: Report): void {
  document.title = `${current.title} · Analytics · Livedrop`;
  ui.heading.textContent = `Analytics: ${current.title}`;
  ui.status.textContent = current.status;
  ui.status.dataset.status = current.status;
  ui.statusWords.textContent = STATUS_WORDS[current.status] ?? current.status;
  const facts: [string, string][] = [
    ["Show", current.sessionStatus === "live" ? `live since ${formatTime(current.startedAt)}`
      : current.sessionStatus === "ended" ? `ended ${formatTime(current.endedAt)}` : "not started yet"],
    ["Figures as of", stamp(current.generatedAt)],
    ...(current.finalizedAt ? [["Final since", stamp(current.finalizedAt)] as [string, string]] : []),
    ["Stream latency allowance", seconds(current.attribution.latencyAllowanceMs)],
    ["Grace after a pin ends", seconds(current.attribution.graceMs)],
  ];
  ui.facts.replaceChildren(...facts.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
  renderTotals(current);
  renderPins(current);
  renderMinutes(current);
  renderProducts(current);
  drawChart(current);
}

function renderTotals(current: Report): void {
  if (!current.totals.length) {
    ui.totals.replaceChildren(el("p", { class: "muted", text: "No reservations or orders yet." }));
    return;
  }
  ui.totals.replaceChildren(...current.totals.map((totals) => {
    const c = totals.currency;
    const o = totals.orders;
    const rows: [string, string][] = [
      ["GMV (paid)", money(totals.gmv, c)],
      ["Reserved, not paid yet", money(totals.reservedValue, c)],
      ["Reservations", num(totals.reservations)],
      ["Orders", `${num(o.paid)} paid · ${num(o.reserved)} reserved · ${num(o.cancelled)} cancelled · ${num(o.expired)} expired`],
      ["Units sold", num(totals.unitsSold)],
      ["Buyers", num(totals.buyers)],
      ["Average order", money(totals.averageOrderValue, c)],
      ["Checkout completion", pct(totals.checkoutCompletion)],
      ["Conversion (buyers per viewer)", pct(totals.conversion)],
      ["Likes", num(totals.likes)],
      ["Peak viewers", num(totals.peakViewers)],
      ["Average viewers", num(totals.averageViewers)],
    ];
    return el("div", { class: "total-card", "data-testid": "totals-currency", "data-currency": c },
      el("h3", { text: `In ${c}` }),
      el("dl", { class: "facts" }, ...rows.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })])));
  }));
}

function renderPins(current: Report): void {
  const titles = productTitles(current);
  const pins = [...current.pins].sort((a, b) => Date.parse(pinTime(a)) - Date.parse(pinTime(b)));
  ui.pins.replaceChildren(...pins.map((pin, index) => el("li", {
    "data-testid": "pin-marker", "data-product-id": pin.productId, "data-at": pinTime(pin),
  },
  el("span", { class: "pin-number", "aria-hidden": "true", text: String(index + 1) }),
  el("span", {},
    el("strong", { text: titles.get(pin.productId) ?? pin.productId }), el("br"),
    el("span", { class: "muted", text: `${pin.sentAt ? "sent" : "pinned (not sent)"} ${clock(pinTime(pin))}` }), el("br"),
    el("span", { class: "muted", text: `counts ${clock(pin.windowStart)} to ${pin.windowEnd ? clock(pin.windowEnd) : "now (open)"}` })))));
  if (!pins.length) ui.pins.replaceChildren(el("li", { class: "muted", text: "No pins yet." }));
}

function renderMinutes(current: Report): void {
  const titles = productTitles(current);
  ui.minutes.replaceChildren(...current.timeline.map((row) => el("tr", {},
    el("th", { scope: "row", text: clock(row.minute) }),
    el("td", { text: num(row.reservations) }), el("td", { text: num(row.paidOrders) }),
    el("td", { text: num(row.unitsSold) }), el("td", { text: money(row.gmv, current.currency) }),
    el("td", { text: num(row.likes) }), el("td", { text: num(row.viewers) }),
    el("td", { text: row.featuredProductId ? titles.get(row.featuredProductId) ?? row.featuredProductId : DASH }))));
  if (!current.timeline.length) {
    ui.minutes.replaceChildren(el("tr", {}, el("td", { colspan: "8", class: "muted", text: "No minutes yet." })));
  }
}

function renderProducts(current: Report): void {
  ui.products.replaceChildren(...current.products.map((p) => el("tr", { "data-testid": "product-row", "data-product-id": p.productId },
    el("th", { scope: "row", text: p.title ?? p.productId }),
    el("td", { text: num(p.allocated) }),
    el("td", { text: num(p.unitsSold) }),
    el("td", { text: money(p.gmv, p.currency) }),
    el("td", { text: pct(p.sellThrough) }),
    el("td", { text: p.soldOutAt ? clock(p.soldOutAt) : DASH }),
    el("td", { text: formatDuration(p.featuredSeconds * 1000) }),
    el("td", { text: num(p.unitsWhileFeatured) }),
    el("td", { text: num(p.unitsNotFeatured) }),
    el("td", { text: p.salesPerMinuteWhileFeatured === null ? DASH : rate.format(p.salesPerMinuteWhileFeatured) }),
    el("td", { text: p.salesPerMinuteNotFeatured === null ? DASH : rate.format(p.salesPerMinuteNotFeatured) }),
    el("td", { class: "lift", text: p.featureLift === null ? DASH : `${rate.format(p.featureLift)}×` }))));
  if (!current.products.length) {
    ui.products.replaceChildren(el("tr", {}, el("td", { colspan: "12", class: "muted", text: "No products in the lineup." })));
  }
}

// --- the chart: uPlot draws; the pins are added through its draw hooks ------------------------

const INK = { units: "#1c3faa", gmv: "#17663a", pin: "#a34400", axis: "#4a5160", grid: "#e3e6ec" };
let plot: uPlot | null = null;
let plotShape = "";
/** What the chart's options depend on: a change makes a new chart, anything else is new data. */
const shape = (current: Report) => `${current.currency}/${chartSize().width < NARROW}`;

/** x in Unix seconds (uPlot's time scale): each minute, then the end of the last one. */
function chartData(current: Report): uPlot.AlignedData {
  const minutes = current.timeline.map((row) => Date.parse(row.minute) / 1000);
  const x = minutes.length ? [...minutes, minutes[minutes.length - 1] + 60] : [];
  const units: (number | null)[] = [...current.timeline.map((row) => row.unitsSold), null];
  // GMV so far at the start of each minute (and at the end of the last): a running total reads
  // better next to per-minute bars than a second set of bars.
  let sum = 0;
  const gmv: number[] = [0];
  for (const row of current.timeline) gmv.push((sum += row.gmv));
  return current.currency ? [x, units, gmv] : [x, units];
}

function xRange(current: Report, x: number[]): [number, number] {
  const times = [...x, ...current.pins.map((pin) => Date.parse(pinTime(pin)) / 1000)];
  const min = Math.min(...times);
  const max = Math.max(...times);
  return max - min < 60 ? [min - 30, min + 90] : [min, max];
}

function pinMarkers(u: uPlot): void {
  if (!report) return;
  const titles = productTitles(report);
  const pins = [...report.pins].sort((a, b) => Date.parse(pinTime(a)) - Date.parse(pinTime(b)));
  const { ctx, bbox } = u;
  const ratio = devicePixelRatio || 1;
  const narrow = bbox.width / ratio < 480;
  ctx.save();
  ctx.beginPath();
  ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
  ctx.clip();
  ctx.font = `${12 * ratio}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  pins.forEach((pin, index) => {
    const x = Math.round(u.valToPos(Date.parse(pinTime(pin)) / 1000, "x", true));
    ctx.strokeStyle = INK.pin;
    ctx.lineWidth = 2 * ratio;
    ctx.setLineDash([6 * ratio, 4 * ratio]);
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    // Labels on three staggered rows, so that pins a minute apart do not print over each other;
    // on a narrow chart only the pin's number (the list beside the chart names it).
    const label = narrow ? String(index + 1) : `${index + 1} ${truncate(titles.get(pin.productId) ?? pin.productId, 18)}`;
    const y = bbox.top + 4 * ratio + (index % 3) * 18 * ratio;
    const width = ctx.measureText(label).width + 8 * ratio;
    const left = Math.min(x + 3 * ratio, bbox.left + bbox.width - width);
    ctx.setLineDash([]);
    ctx.fillStyle = "rgba(255, 255, 255, 0.92)";
    ctx.fillRect(left, y - 2 * ratio, width, 17 * ratio);
    ctx.fillStyle = INK.pin;
    ctx.fillText(label, left + 4 * ratio, y);
  });
  ctx.restore();
}

/** Each pin's attribution window as a faint band behind the bars. */
function pinWindows(u: uPlot): void {
  if (!report) return;
  const { ctx, bbox } = u;
  const end = (u.scales.x.max ?? 0) * 1000;
  ctx.save();
  ctx.fillStyle = "rgba(163, 68, 0, 0.07)";
  for (const pin of report.pins) {
    const from = u.valToPos(Date.parse(pin.windowStart) / 1000, "x", true);
    const to = u.valToPos((pin.windowEnd ? Date.parse(pin.windowEnd) : end) / 1000, "x", true);
    const left = Math.max(from, bbox.left);
    const right = Math.min(to, bbox.left + bbox.width);
    if (right > left) ctx.fillRect(left, bbox.top, right - left, bbox.height);
  }
  ctx.restore();
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

const NARROW = 560; // px of chart: below it, no axis titles (the legend names the series)

function chartSize(): { width: number; height: number } {
  const width = Math.max(260, Math.floor(ui.chart.clientWidth));
  return { width, height: width < NARROW ? 260 : 360 };
}

/** An axis label: "€1.5K" (minor units in, the currency's compact form out). */
function compactMoney(amount: number, currency: string): string {
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency, notation: "compact" });
  const digits = new Intl.NumberFormat(undefined, { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(amount / 10 ** digits);
}

function chartOptions(current: Report): uPlot.Options {
  const currency = current.currency;
  const narrow = chartSize().width < NARROW;
  const series: uPlot.Series[] = [
    { label: "Minute", value: (_u, value) => (value === null ? DASH : clock(new Date(value * 1000).toISOString())) },
    { label: "Units sold", scale: "units", stroke: INK.units, fill: "rgba(28, 63, 170, 0.55)", width: 1,
      paths: uPlot.paths.bars!({ align: 1, size: [0.85, 48] }), points: { show: false },
      value: (_u, value) => (value === null ? DASH : count.format(value)) },
  ];
  const axes: uPlot.Axis[] = [
    { stroke: INK.axis, grid: { stroke: INK.grid }, ticks: { stroke: INK.grid } },
    { scale: "units", label: narrow ? undefined : "Units sold", size: narrow ? 32 : 50, stroke: INK.axis, grid: { stroke: INK.grid }, ticks: { stroke: INK.grid },
      values: (_u, splits) => splits.map((value) => (Number.isInteger(value) ? count.format(value) : "")) },
  ];
  if (currency) {
    series.push({ label: `GMV so far (${currency})`, scale: "gmv", stroke: INK.gmv, width: 2, points: { show: false },
      value: (_u, value) => money(value, currency) });
    axes.push({ scale: "gmv", side: 1, label: narrow ? undefined : `GMV (${currency})`, stroke: INK.gmv, grid: { show: false },
      values: (_u, splits) => splits.map((value) => compactMoney(value, currency)), size: narrow ? 48 : 60 });
  }
  return {
    ...chartSize(),
    series,
    axes,
    scales: {
      x: { time: true, range: (u) => xRange(report ?? current, (u.data[0] as number[]) ?? []) },
      // Headroom at the top for the pins' labels.
      units: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.35))] },
      gmv: { range: (_u, _min, max) => [0, Math.max(100, max * 1.35)] },
    },
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    hooks: { drawClear: [pinWindows], draw: [pinMarkers] },
  };
}

function drawChart(current: Report): void {
  const data = chartData(current);
  if (!current.timeline.length) {
    plot?.destroy();
    plot = null;
    ui.chart.removeAttribute("aria-hidden");
    ui.chart.replaceChildren(el("p", { class: "muted chart-empty", text: "No minutes yet: the chart starts with the show." }));
  } else if (plot && plotShape === shape(current)) {
    plot.setData(data);
  } else {
    plot?.destroy();
    ui.chart.replaceChildren();
    plot = new uPlot(chartOptions(current), data, ui.chart);
    ui.chart.setAttribute("aria-hidden", "true"); // a canvas: the caption, the pins and the minutes' table say it in text
    plotShape = shape(current);
  }
  const units = current.timeline.reduce((sum, row) => sum + row.unitsSold, 0);
  ui.chartCaption.textContent = current.timeline.length
    ? `Bars: units sold per minute, over ${plural(current.timeline.length, "minute")} (${units} in all)` +
      (current.currency ? `; line: GMV so far in ${current.currency}` : "") +
      (current.pins.length === 0 ? ". No pins yet."
        : current.pins.length === 1 ? ". Dashed line: the pin, numbered as in the list; the shading is its attribution window."
          : `. Dashed lines: the ${current.pins.length} pins, numbered as in the list; the shading is each pin's attribution window.`)
    : "";
}

new ResizeObserver(() => {
  if (plot && report && plotShape !== shape(report)) drawChart(report);
  else if (plot) plot.setSize(chartSize());
}).observe(ui.chart);

// --- loading, refreshing and the CSV --------------------------------------------------------

async function load(): Promise<void> {
  try {
    report = await brand<Report>(`/v1/sessions/${sessionId}/analytics`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the key form asks again
    if (error instanceof ApiError && error.status === 404) {
      stopRefresh?.();
      stopRefresh = null;
      say("No such session for this brand's key.");
      ui.report.hidden = true;
      return;
    }
    // Kept on screen until a refresh works; the last figures stay. (inWords speaks of orders for busy.)
    say(error instanceof ApiError && error.retriable
      ? "The figures could not be loaded just now (no answer, or the API is busy). Trying again every 5 seconds."
      : inWords(error));
    return;
  }
  say("");
  ui.report.hidden = false;
  render(report);
  if (report.status === "final") {
    stopRefresh?.();
    stopRefresh = null;
  }
}

ui.csv.addEventListener("click", async () => {
  ui.csv.disabled = true;
  ui.csvStatus.textContent = "Preparing the CSV…";
  try {
    // Fetched with the key in a header (never in a link's URL), then saved from memory.
    const text = await callText(`/v1/sessions/${sessionId}/analytics?format=csv`, "text/csv", { token: brandKey() });
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    const link = el("a", { href: url, download: `${sessionId}-analytics.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    ui.csvStatus.textContent = `Downloaded ${sessionId}-analytics.csv.`;
  } catch (error) {
    ui.csvStatus.textContent = "";
    if (error instanceof ApiError && error.status === 401) {
      forgetBrandKey();
      askForKey("That API key was refused. Enter the brand's key again.");
    } else {
      say(`The CSV could not be downloaded: ${inWords(error)}`);
    }
  } finally {
    ui.csv.disabled = false;
  }
});

function open(): void {
  if (!sessionId) {
    say("This address names no session. Open one from your sessions.");
    return;
  }
  ui.consoleLink.href = ui.backLink.href = `/host/${sessionId}`;
  ui.viewerLink.href = `/watch/${sessionId}`;
  ui.viewerLink.hidden = false;
  if (!brandKey()) return askForKey();
  stopRefresh?.();
  stopRefresh = every(REFRESH_MS, load);
}

open();
