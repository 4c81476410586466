// The host console: /host (the brand's sessions) and /host/<sessionId> (run one show).
// The brand's API key is typed once and kept in sessionStorage (this tab only), sent as a bearer
// token; never put in the URL or localStorage (api.ts keeps it, for this page and the analytics).
import { $, ApiError, brandKey, call, callAsBrand, el, every, forgetBrandKey, formatMoney, formatTime, inWords, keepBrandKey, sessionIdFromPath } from "./api";
import type { CallOptions, Money } from "./api";
import type { LineupItem, LiveView, Order, Status } from "./shapes";

interface SessionView {
  id: string;
  title: string;
  status: Status;
  scheduledAt: string;
  startedAt: string | null;
  endedAt: string | null;
  holdSeconds: number;
  lineup: LineupItem[];
}

interface SessionSummary {
  id: string;
  title: string;
  status: Status;
  scheduledAt: string;
  lineupCount?: number;
}

// What each pin's delivery was, in words (the timeline's `delivery`, as the API documents it).
const DELIVERY: Record<string, string> = {
  delivered: "delivered to the stream",
  recorded_locally: "recorded (no stream to carry it)",
  channel_not_broadcasting: "not delivered: the channel was not broadcasting",
  throttled: "not delivered: IVS throttled it",
  superseded: "skipped: a newer pin went out instead",
  queued: "waiting for the channel's send slot",
  pending: "being sent",
};

interface FeatureView {
  featured: { productId: string; at: string };
  metadata: { delivered: boolean; reason: string | null; bytes: number };
}

interface Product {
  id: string;
  title: string;
  price: Money;
  stock: number;
}

const ui = {
  heading: $("heading"),
  message: $("message"),
  viewerLink: $<HTMLAnchorElement>("viewer-link"),
  analyticsLink: $<HTMLAnchorElement>("analytics-link"),
  keySection: $("key-section"),
  keyForm: $<HTMLFormElement>("key-form"),
  keyInput: $<HTMLInputElement>("api-key"),
  listSection: $("list-section"),
  sessionList: $<HTMLUListElement>("session-list"),
  console: $("console"),
  status: $("status"),
  facts: $("show-facts"),
  start: $<HTMLButtonElement>("start-button"),
  end: $<HTMLButtonElement>("end-button"),
  pinStatus: $("pin-status"),
  lineup: $<HTMLTableSectionElement>("lineup"),
  addForm: $<HTMLFormElement>("add-form"),
  addProduct: $<HTMLSelectElement>("add-product"),
  addPrice: $<HTMLInputElement>("add-price"),
  addQuantity: $<HTMLInputElement>("add-quantity"),
  addLimit: $<HTMLInputElement>("add-limit"),
  orders: $<HTMLTableSectionElement>("orders"),
  orderSummary: $("order-summary"),
  pins: $<HTMLOListElement>("pins"),
  forget: $<HTMLButtonElement>("forget-key"),
};

const sessionId = sessionIdFromPath("host");
let session: SessionView | null = null;

/** A brand call; a refused key sends the user back to the key form. */
function brand<T>(path: string, options: CallOptions = {}): Promise<T> {
  return callAsBrand<T>(path, () => askForKey("That API key was refused. Enter the brand's key again."), options);
}

function say(text: string): void {
  ui.message.textContent = text;
}

function askForKey(why = ""): void {
  say(why);
  ui.keySection.hidden = false;
  ui.console.hidden = true;
  ui.listSection.hidden = true;
  ui.keyInput.focus();
}

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const typed = ui.keyInput.value.trim();
  if (!typed) return;
  keepBrandKey(typed);
  ui.keyInput.value = "";
  ui.keySection.hidden = true;
  say("");
  void open();
});

ui.forget.addEventListener("click", () => {
  forgetBrandKey();
  location.assign("/host");
});

// --- /host: the brand's sessions ------------------------------------------------------------

async function showSessions(): Promise<void> {
  ui.heading.textContent = "Your sessions";
  ui.listSection.hidden = false;
  let items: SessionSummary[];
  try {
    items = (await brand<{ items: SessionSummary[] }>("/v1/brand/sessions?limit=50")).items;
  } catch (error) {
    ui.sessionList.replaceChildren(el("li", { class: "warn", text: inWords(error) }));
    return;
  }
  ui.sessionList.replaceChildren(...items.map((item) => el("li", { "data-session-id": item.id },
    el("a", { href: `/host/${item.id}`, text: item.title }), " ",
    el("span", { class: "pill", text: item.status }),
    el("span", { class: "muted", text: ` ${formatTime(item.scheduledAt)}` }),
    item.lineupCount !== undefined ? el("span", { class: "muted", text: ` · ${item.lineupCount} products` }) : null,
    " · ", el("a", { href: `/watch/${item.id}`, text: "viewer", "aria-label": `Viewer page of ${item.title}` }),
    " · ", el("a", { href: `/host/${item.id}/analytics`, text: "analytics", "aria-label": `Analytics of ${item.title}` }))));
  if (!items.length) ui.sessionList.replaceChildren(el("li", { class: "muted", text: "No sessions yet." }));
}

// --- /host/<id>: one show -------------------------------------------------------------------

const digits = (currency: string) =>
  new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;

function parseMoney(text: string, currency: string): Money | null {
  const value = Number(text.trim().replace(",", "."));
  if (!text.trim() || !Number.isFinite(value) || value < 0) return null;
  return { amount: Math.round(value * 10 ** digits(currency)), currency };
}

function moneyInput(money: Money): string {
  return (money.amount / 10 ** digits(money.currency)).toFixed(digits(money.currency));
}

function editable(item: LineupItem): boolean {
  if (!session || session.status === "ended") return false;
  if (session.status === "scheduled") return !item.opensAt || Date.parse(item.opensAt) > Date.now();
  return Boolean(item.opensAt && Date.parse(item.opensAt) > Date.now());
}

function renderSession(): void {
  if (!session) return;
  const current = session;
  document.title = `${current.title} · Host console · Livedrop`;
  ui.heading.textContent = current.title;
  ui.status.textContent = current.status;
  ui.facts.textContent = current.status === "scheduled" ? `scheduled for ${formatTime(current.scheduledAt)}`
    : current.status === "live" ? `live since ${formatTime(current.startedAt)}` : `ended ${formatTime(current.endedAt)}`;
  ui.start.disabled = current.status !== "scheduled";
  ui.end.disabled = current.status === "ended";
  ui.lineup.replaceChildren(...current.lineup.map((item) => {
    const title = item.title ?? item.productId;
    const feature = el("button", { type: "button", "data-testid": "feature-button", "data-product-id": item.productId,
      "aria-label": `Pin ${title} on the stream`, text: "Pin" });
    feature.disabled = current.status === "ended";
    feature.addEventListener("click", () => void pin(item));
    const actions = el("div", { class: "actions" }, feature);
    const row = el("tr", { "data-product-id": item.productId },
      el("td", {}, el("strong", { text: title }), el("br"),
        el("span", { class: "muted", text: `${item.quantity} for the show` +
          (item.perCustomerLimit ? ` · at most ${item.perCustomerLimit} each` : "") })),
      el("td", { text: formatMoney(item.price) }),
      el("td", { class: "left", text: "…" }),
      el("td", {}, actions));
    if (editable(item)) actions.append(...editControls(item, title));
    return row;
  }));
  if (!current.lineup.length) {
    ui.lineup.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted", text: "No products yet." })));
  }
  ui.addForm.hidden = current.status === "ended";
  if (lastLive && lastLive.status === current.status) applyLive(lastLive); // units left at once, not in 3 s
}

function editControls(item: LineupItem, title: string): HTMLElement[] {
  const form = el("form", { class: "edit" });
  const priceId = `price-${item.productId}`;
  const limitId = `limit-${item.productId}`;
  const price = el("input", { id: priceId, inputmode: "decimal", value: moneyInput(item.price) });
  const limit = el("input", { id: limitId, inputmode: "numeric", value: item.perCustomerLimit ? String(item.perCustomerLimit) : "",
    placeholder: "no limit" });
  form.append(el("label", { for: priceId, text: `Price of ${title}` }), price,
    el("label", { for: limitId, text: "Per customer" }), limit,
    el("button", { type: "submit", class: "secondary", text: "Save" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body: { price?: Money; perCustomerLimit?: number | null } = {};
    const newPrice = parseMoney(price.value, item.price.currency);
    if (!newPrice) return say("The price must be a number, such as 49.00.");
    if (newPrice.amount !== item.price.amount) body.price = newPrice;
    const newLimit = limit.value.trim() ? Number(limit.value) : null;
    if (newLimit !== null && (!Number.isInteger(newLimit) || newLimit < 1)) return say("The limit must be a whole number, 1 or more (or empty: no limit).");
    if (newLimit !== item.perCustomerLimit) body.perCustomerLimit = newLimit;
    if (!Object.keys(body).length) return say("Nothing changed.");
    await change(`/v1/sessions/${sessionId}/lineup/${item.productId}`, "PATCH", body, `${title}: saved.`);
  });
  const remove = el("button", { type: "button", class: "danger", text: "Remove", "aria-label": `Remove ${title} from the lineup` });
  remove.addEventListener("click", () =>
    void change(`/v1/sessions/${sessionId}/lineup/${item.productId}`, "DELETE", undefined, `${title}: removed; its units are back in stock.`));
  return [form, remove];
}

async function change(path: string, method: string, body: unknown, done: string): Promise<void> {
  try {
    await brand(path, { method, body });
    say("");
    ui.pinStatus.textContent = done;
    await loadSession();
  } catch (error) {
    say(inWords(error));
  }
}

async function pin(item: LineupItem): Promise<void> {
  const title = item.title ?? item.productId;
  try {
    const answer = await brand<FeatureView>(`/v1/sessions/${sessionId}/feature`, { method: "POST", body: { productId: item.productId } });
    const at = new Date(answer.featured.at).toLocaleTimeString();
    ui.pinStatus.replaceChildren(`Pinned ${title} at ${at}: `, answer.metadata.delivered
      ? el("span", { class: "ok", text: "delivered to the stream." })
      : el("span", { class: "warn", text: `not delivered to the stream (${answer.metadata.reason ?? "no reason given"}); viewers see it from /live.` }));
    ui.pinStatus.dataset.delivered = String(answer.metadata.delivered);
    say("");
  } catch (error) {
    say(inWords(error));
  }
}

async function move(to: "start" | "end"): Promise<void> {
  if (to === "end" && !confirmEnd()) return;
  try {
    session = await brand<SessionView>(`/v1/sessions/${sessionId}/${to}`, { method: "POST" });
    say("");
    renderSession();
  } catch (error) {
    say(inWords(error));
  }
}

function confirmEnd(): boolean {
  // A confirm dialog would block automation and screen readers alike: a second tap confirms.
  if (ui.end.dataset.armed === "true") return true;
  ui.end.dataset.armed = "true";
  ui.end.textContent = "Tap again to end the show";
  window.setTimeout(() => {
    ui.end.dataset.armed = "";
    ui.end.textContent = "End the show";
  }, 5000);
  return false;
}

ui.start.addEventListener("click", () => void move("start"));
ui.end.addEventListener("click", () => void move("end"));

async function loadSession(): Promise<void> {
  session = await brand<SessionView>(`/v1/sessions/${sessionId}`);
  renderSession();
}

async function loadProducts(): Promise<void> {
  const products: Product[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 5; page += 1) {
    const answer: { items: Product[]; nextCursor: string | null } = await brand(
      `/v1/products?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    products.push(...answer.items);
    cursor = answer.nextCursor;
    if (!cursor) break;
  }
  ui.addProduct.replaceChildren(...products.map((product) =>
    el("option", { value: product.id, text: `${product.title} · ${formatMoney(product.price)} · ${product.stock} in stock` })));
  ui.addProduct.dataset.currencies = JSON.stringify(Object.fromEntries(products.map((p) => [p.id, p.price.currency])));
}

ui.addForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const productId = ui.addProduct.value;
  const currency = (JSON.parse(ui.addProduct.dataset.currencies || "{}") as Record<string, string>)[productId] ?? "EUR";
  const body: Record<string, unknown> = { productId };
  if (ui.addPrice.value.trim()) {
    const price = parseMoney(ui.addPrice.value, currency);
    if (!price) return say("The price must be a number, such as 49.00.");
    body.price = price;
  }
  for (const [field, input] of [["quantity", ui.addQuantity], ["perCustomerLimit", ui.addLimit]] as const) {
    if (!input.value.trim()) continue;
    const value = Number(input.value);
    if (!Number.isInteger(value) || value < 1) return say("Units and the per-customer limit are whole numbers, 1 or more.");
    body[field] = value;
  }
  await change(`/v1/sessions/${sessionId}/lineup`, "POST", body, "Added to the lineup.");
  await loadProducts().catch(() => undefined);
  ui.addForm.reset();
});

let lastLive: LiveView | null = null;

function applyLive(live: LiveView): void {
  lastLive = live;
  if (session && live.status !== session.status) void loadSession();
  for (const item of live.lineup) {
    const row = ui.lineup.querySelector<HTMLTableRowElement>(`tr[data-product-id="${CSS.escape(item.productId)}"]`);
    if (!row) continue;
    row.classList.toggle("featured-row", item.productId === live.featuredProductId);
    const cell = row.querySelector(".left") as HTMLElement;
    cell.textContent = item.soldOut ? "sold out" : String(item.stockLeft);
    cell.className = item.soldOut ? "left warn" : "left";
  }
  const titles = new Map(session?.lineup.map((item) => [item.productId, item.title ?? item.productId]));
  const pins = live.timeline.filter((entry) => entry.type === "feature").reverse();
  ui.pins.replaceChildren(...pins.map((entry) => el("li", { "data-product-id": entry.productId, "data-delivery": entry.delivery },
    el("span", { class: "muted", text: `${new Date(entry.at).toLocaleTimeString()} ` }),
    el("strong", { text: titles.get(entry.productId) ?? entry.productId }),
    ` · ${DELIVERY[entry.delivery] ?? entry.delivery}`)));
  if (!pins.length) ui.pins.replaceChildren(el("li", { class: "muted", text: "No pins yet." }));
  const viewers = live.viewerCount === null ? "" : ` · ${live.viewerCount} watching`;
  ui.facts.dataset.live = `${live.likes} likes${viewers}`;
  ui.facts.title = ui.facts.dataset.live;
}

async function loadOrders(): Promise<void> {
  const orders: Order[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 5; page += 1) {
    const answer: { items: Order[]; nextCursor: string | null } = await brand(
      `/v1/orders?sessionId=${encodeURIComponent(sessionId!)}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    orders.push(...answer.items);
    cursor = answer.nextCursor;
    if (!cursor) break;
  }
  orders.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const titles = new Map(session?.lineup.map((item) => [item.productId, item.title ?? item.productId]));
  ui.orders.replaceChildren(...orders.map((order) => el("tr", { "data-order-id": order.id, "data-status": order.status },
    el("td", { text: new Date(order.createdAt).toLocaleTimeString() }),
    el("td", { text: order.status }),
    el("td", { text: order.items.map((line) => `${titles.get(line.productId) ?? line.productId} × ${line.quantity}`).join(", ") }),
    el("td", { text: formatMoney(order.total) }))));
  const paid = orders.filter((order) => order.status === "paid");
  ui.orderSummary.textContent = `${orders.length} orders, ${paid.length} paid` +
    (paid.length ? `, ${formatMoney({ amount: paid.reduce((sum, o) => sum + o.total.amount, 0), currency: paid[0].total.currency })}` : "") +
    (ui.facts.dataset.live ? ` · ${ui.facts.dataset.live}` : "");
}

async function showConsole(): Promise<void> {
  ui.viewerLink.hidden = false;
  ui.viewerLink.href = `/watch/${sessionId}`;
  ui.analyticsLink.hidden = false;
  ui.analyticsLink.href = `/host/${sessionId}/analytics`;
  try {
    await loadSession();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      say(error instanceof ApiError && error.status === 404
        ? "No such session for this brand's key." : inWords(error));
    }
    return;
  }
  ui.console.hidden = false;
  void loadProducts().catch((error) => say(inWords(error)));
  every(3000, async () => applyLive(await call<LiveView>(`/v1/sessions/${sessionId}/live`)));
  every(3000, loadOrders);
}

async function open(): Promise<void> {
  if (!brandKey()) return askForKey();
  if (sessionId) await showConsole();
  else await showSessions();
}

void open();
