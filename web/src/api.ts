// What every page shares: the API base from /config.js, JSON calls, problem+json in plain words,
// money and time formatting.

export interface Money {
  amount: number;
  currency: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [fact: string]: unknown;
}

declare global {
  interface Window {
    LIVEDROP_CONFIG?: { apiBase?: string };
  }
}

export const apiBase: string = (window.LIVEDROP_CONFIG?.apiBase || "http://127.0.0.1:8000").replace(/\/+$/, "");

/** A failed call: an answer with a problem, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    readonly retryAfter: number | null,
  ) {
    super(problem ? `${problem.title}: ${problem.detail ?? ""}` : `network error (${status})`);
  }

  /** The last part of the problem type: `sold_out`, `busy`, ... ("network" without an answer). */
  get code(): string {
    if (!this.problem) return this.status === 0 ? "network" : `http_${this.status}`;
    return this.problem.type.split("/").pop() || "error";
  }

  /** Worth repeating as it was: no answer, a server failure, or `busy`. */
  get retriable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Sends a request; answers the response's text, or throws an ApiError for a refusal or no answer. */
async function send(path: string, options: CallOptions, accept: string): Promise<string> {
  const headers: Record<string, string> = { Accept: accept, ...(options.headers ?? {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(apiBase + path, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, null, null);
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) {
    const data = parseJson(text);
    const retry = Number(response.headers.get("Retry-After"));
    const problem = data && typeof data === "object" && "type" in data ? (data as Problem) : null;
    throw new ApiError(response.status, problem, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return text;
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export async function call<T>(path: string, options: CallOptions = {}): Promise<T> {
  return parseJson(await send(path, options, "application/json")) as T;
}

/** A call whose answer is not JSON (a CSV export): its text as it came. */
export async function callText(path: string, accept: string, options: CallOptions = {}): Promise<string> {
  return send(path, options, accept);
}

// The brand's API key: typed once per tab, kept in sessionStorage (never the URL or localStorage),
// sent as a bearer token. Read by the host console and its analytics page.
const BRAND_KEY = "livedrop.brandKey";

export function brandKey(): string | null {
  try {
    return sessionStorage.getItem(BRAND_KEY);
  } catch {
    return null;
  }
}

export function keepBrandKey(value: string): void {
  sessionStorage.setItem(BRAND_KEY, value);
}

export function forgetBrandKey(): void {
  sessionStorage.removeItem(BRAND_KEY);
}

/** A call with the brand's key; a refused key is forgotten and `refused` runs (to ask again). */
export async function callAsBrand<T>(path: string, refused: () => void, options: CallOptions = {}): Promise<T> {
  try {
    return await call<T>(path, { ...options, token: brandKey() });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetBrandKey();
      refused();
    }
    throw error;
  }
}

const WORDS: Record<string, string> = {
  sold_out: "Sorry, this product is sold out.",
  limit_exceeded: "You already have as many of this product as one customer may buy.",
  drop_not_open: "This drop is not open yet. It opens when the host says go.",
  drop_closed: "This drop has closed: it can no longer be bought.",
  session_not_live: "The show is not live, so its drops can not be bought right now.",
  session_ended: "The show has ended.",
  insufficient_stock: "There is not enough stock for that.",
  payment_declined: "The payment was declined. Your units stay reserved until the timer runs out.",
  order_expired: "The reservation ran out before it was paid; the units went back on sale.",
  order_not_payable: "This order can no longer be paid.",
  payment_in_progress: "A payment for this order is already under way.",
  payment_outcome_unknown: "The payment's outcome is not known yet; trying again is safe.",
  too_many_requests: "That was a lot of taps: wait a moment and try again.",
  busy: "The shop is busy right now. Tap again to retry: the same order is kept, never a second one.",
  network: "No connection to the shop. Tap again to retry: the same order is kept, never a second one.",
  unauthorized: "The key or token was refused.",
  session_not_editable: "The show's lineup can not be changed any more.",
  already_in_lineup: "That product is already in the lineup.",
  invalid_transition: "The show can not move to that status.",
  chat_closed: "The chat is closed.",
  // Fair drops (README "Fair drops"): queue, draw and verified-only drops.
  admission_required: "This drop sells in queue order: join the queue, and you can buy when your turn comes.",
  hold_limit_reached: "You already hold as many unpaid orders as one shopper may in this show: pay or cancel one, then try again.",
  verification_required: "Only verified shoppers may buy this drop, and this page has no sign-in yet.",
  entries_closed: "Entries have closed: the draw is being made.",
  drop_by_draw: "This drop goes to the winners of its draw: it can not be bought directly.",
  not_a_queue: "This drop has no queue or draw: buy it directly.",
};

/** A refusal in plain words, from the problem's type (and its title and detail otherwise). */
export function inWords(error: unknown): string {
  if (!(error instanceof ApiError)) return "Something went wrong.";
  const known = WORDS[error.code];
  if (error.status === 429) {
    // too_many_requests (or any 429): how long to wait, from its Retry-After
    return error.retryAfter ? `That was a lot of taps: try again in ${error.retryAfter} s.` : WORDS.too_many_requests;
  }
  if (known) return known;
  if (error.problem) {
    const detail = error.problem.detail ? ` ${error.problem.detail}` : "";
    return `${error.problem.title}.${detail}`;
  }
  return error.status >= 500 ? WORDS.busy : `The request failed (HTTP ${error.status}).`;
}

const formats = new Map<string, Intl.NumberFormat>();

/** Minor units to a price: 5900 EUR -> "€59.00" (the currency's own number of decimals). */
export function formatMoney(money: Money): string {
  let format = formats.get(money.currency);
  if (!format) {
    format = new Intl.NumberFormat(undefined, { style: "currency", currency: money.currency });
    formats.set(money.currency, format);
  }
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(money.amount / 10 ** digits);
}

/** "1:05:09", "04:59": a countdown from milliseconds. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const mm = String(minutes).padStart(2, "0");
  const ss = String(seconds).padStart(2, "0");
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A page's own element by id (the page's HTML has it). */
export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export function byTestId<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const element = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!element) throw new Error(`missing [data-testid=${id}]`);
  return element;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === "text") element.textContent = String(value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) element.append(child);
  return element;
}

/** A path id as the API takes it (as /watch/<id>, /host/<id> and /host/<id>/analytics carry it). */
export function sessionIdFromPath(prefix: string, suffix = ""): string | null {
  const match = new RegExp(`^/${prefix}/([A-Za-z0-9_-]{1,64})${suffix ? `/${suffix}` : ""}/?$`).exec(location.pathname);
  return match ? match[1] : null;
}

/** Runs `task` now and then every `ms` while the page is open; an overlapping run is skipped. */
export function every(ms: number, task: () => Promise<unknown>): () => void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      await task();
    } catch {
      // the next round tries again; the task shows its own errors
    } finally {
      running = false;
    }
  };
  void run();
  const timer = window.setInterval(run, ms);
  return () => window.clearInterval(timer);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => window.setTimeout(resolve, ms));
