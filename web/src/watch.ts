// The viewer: /watch/<sessionId>. The IVS player on the session's playbackUrl, a product card
// driven by the stream's timed metadata (and, slowly, by /live for late joiners), one-tap buy,
// likes, the IVS chat, and after the show the replay with its chapters. Paying is the test
// provider's token, or Stripe's Payment Element when the API confirms payments in the browser.
// Queue drops are joined and bought when admitted, draw drops entered and paid when won, and
// verified-only drops say so (this page has no sign-in).
import { create, isPlayerSupported, PlayerEventType, PlayerState } from "amazon-ivs-player";
import type { MediaPlayer, PlayerError, TextMetadataCue } from "amazon-ivs-player";
import { ChatRoom, SendMessageRequest } from "amazon-ivs-chat-messaging";
import type { ChatMessage } from "amazon-ivs-chat-messaging";
import { loadStripe } from "@stripe/stripe-js/pure";
import type { Stripe, StripeElements, StripeError, StripePaymentElement } from "@stripe/stripe-js";
import { $, ApiError, apiBase, call, el, every, formatDuration, formatMoney, formatTime, inWords, sessionIdFromPath,
  sleep } from "./api";
import type { Money } from "./api";
import type { DrawView, DropMode, Entry, EntryStatus, LiveView, Order, PublicLineupItem as LineupItem,
  Status } from "./shapes";

// --- shapes (chalicelib/api/schemas.py, chalicelib/domain/metadata.py) -------------------------

interface SessionView {
  id: string;
  title: string;
  status: Status;
  scheduledAt: string;
  playbackUrl: string;
  lineup: LineupItem[];
}

interface Chapter {
  productId: string;
  startOffsetMs: number;
  endOffsetMs: number | null;
}

interface ReplayView {
  replayUrl: string | null;
  chapters: Chapter[];
}

interface Shopper {
  shopperId: string;
  token: string;
  expiresAt: string;
}

interface ChatTokenView {
  token: string;
  tokenExpiresAt: string;
  sessionExpiresAt: string;
  messagingEndpoint?: string | null;
}

/** A timed-metadata payload, schema v1. */
interface Cue {
  v: number;
  type: "feature" | "drop_open" | "sold_out" | "stock" | string;
  seq: number;
  at: string;
  product: { id: string; title?: string; image?: string | null };
  price?: Money;
  left?: number | null;
}

declare global {
  interface Window {
    livedropCues: Cue[];
  }
}
window.livedropCues = [];

interface Drop {
  productId: string;
  title: string | null;
  image: string | null;
  price: Money | null;
  perCustomerLimit: number | null;
  left: number | null;
  soldOut: boolean;
  opensAt: string | null;
  closesAt: string | null;
  /** null until the lineup (the session, /live) has named it: a cue can feature a product first. */
  mode: DropMode | null;
  verifiedOnly: boolean;
}

// --- page elements -------------------------------------------------------------------------

const ui = {
  title: $("session-title"),
  status: $("session-status"),
  consoleLink: $<HTMLAnchorElement>("console-link"),
  video: $<HTMLVideoElement>("video"),
  playerState: $("player-state"),
  unmute: $<HTMLButtonElement>("unmute"),
  playerNote: $("player-note"),
  card: $("card"),
  image: $<HTMLImageElement>("product-image"),
  productTitle: $("product-title"),
  price: $("product-price"),
  stock: $("stock-left"),
  countdown: $("countdown"),
  soldOut: $("sold-out"),
  verifiedOnly: $("verified-only"),
  verifiedNote: $("verified-note"),
  buy: $<HTMLButtonElement>("buy-button"),
  buyMessage: $("buy-message"),
  entry: $("entry"),
  entryStatus: $("entry-status"),
  entryDetail: $("entry-detail"),
  order: $("order"),
  orderStatus: $("order-status"),
  pay: $<HTMLButtonElement>("pay-button"),
  cancel: $<HTMLButtonElement>("cancel-button"),
  checkout: $<HTMLFormElement>("checkout"),
  paymentElement: $("payment-element"),
  checkoutNote: $("checkout-note"),
  checkoutSubmit: $<HTMLButtonElement>("checkout-submit"),
  like: $<HTMLButtonElement>("like-button"),
  likeCount: $("like-count"),
  likeWord: $("like-word"),
  likeMessage: $("like-message"),
  chaptersSection: $("chapters-section"),
  chapters: $<HTMLOListElement>("chapters"),
  chatNote: $("chat-note"),
  chatPanel: $("chat-panel"),
  chatMessages: $<HTMLOListElement>("chat-messages"),
  chatForm: $<HTMLFormElement>("chat-form"),
  chatInput: $<HTMLInputElement>("chat-input"),
};

const LIVE_POLL_MS = 15_000; // the slow path: the stream's metadata is the main one
const CUE_WINS_FOR_MS = 10_000; // a /live answer may be a CDN's copy up to a few seconds old
const NO_CHAT = "Chat needs an IVS Chat room; not available on the embedded stack.";

const sessionId = sessionIdFromPath("watch");
const drops = new Map<string, Drop>();
const lastCueAt = new Map<string, number>();
let status: Status = "scheduled";
let mode: "waiting" | "live" | "replay" = "waiting";
let featuredId: string | null = null;
let featuredSeq = 0;
let cardSignature = "";
let likes = 0;

// --- the product card ----------------------------------------------------------------------

function drop(productId: string): Drop {
  let known = drops.get(productId);
  if (!known) {
    known = { productId, title: null, image: null, price: null, perCustomerLimit: null, left: null, soldOut: false,
      opensAt: null, closesAt: null, mode: null, verifiedOnly: false };
    drops.set(productId, known);
  }
  return known;
}

function countdownText(shown: Drop, now: number): string {
  const opens = shown.opensAt ? Date.parse(shown.opensAt) : NaN;
  if (opens > now) return `${shown.mode === "draw" ? "Draw in" : "Opens in"} ${formatDuration(opens - now)}`;
  if (!shown.opensAt && status === "scheduled") return "Opens when the show starts";
  const closes = shown.closesAt ? Date.parse(shown.closesAt) : NaN;
  if (closes > now && status !== "scheduled") return `Closes in ${formatDuration(closes - now)}`;
  return "";
}

/** Shows the featured product; `source` says what changed it (set only when something did). */
function renderCard(source: "cue" | "live" | "chapter"): void {
  const shown = featuredId ? drops.get(featuredId) : undefined;
  const title = shown ? shown.title || "This product" : "Nothing pinned yet";
  const price = shown?.price ? formatMoney(shown.price) : "";
  const left = shown && shown.left !== null ? (shown.left === 0 ? "None left" : `${shown.left} left`) : "";
  const soldOut = Boolean(shown && (shown.soldOut || shown.left === 0));
  const signature = JSON.stringify([featuredId, title, shown?.image, price, left, soldOut]);
  if (signature !== cardSignature) {
    cardSignature = signature;
    ui.card.dataset.source = source;
  }
  ui.card.dataset.productId = featuredId ?? "";
  ui.productTitle.textContent = title;
  ui.price.textContent = price;
  ui.stock.textContent = left;
  ui.soldOut.hidden = !soldOut;
  if (shown?.image) {
    if (ui.image.getAttribute("src") !== shown.image) {
      ui.image.hidden = false;
      ui.image.src = shown.image;
    }
    ui.image.alt = title;
  } else {
    ui.image.hidden = true;
    ui.image.removeAttribute("src");
  }
  ui.verifiedOnly.hidden = !shown?.verifiedOnly;
  ui.verifiedNote.hidden = !shown?.verifiedOnly;
  renderAction();
  tickCountdown();
}

const rerender = () => renderCard((ui.card.dataset.source as "cue" | "live" | "chapter") || "live");

/** The card's one button, by the drop's mode, and its entry (queue or draw) when there is one. */
function renderAction(): void {
  const shown = featuredId ? drops.get(featuredId) : undefined;
  const title = shown ? shown.title || "This product" : "";
  const price = shown?.price ? formatMoney(shown.price) : "";
  const soldOut = Boolean(shown && (shown.soldOut || shown.left === 0));
  const buyNow = price ? `Buy now · ${price}` : "Buy now";
  let text = buyNow;
  let disabled = true;
  if (!shown) {
    text = "Buy now";
  } else if (shown.mode === "queue" || shown.mode === "draw") {
    [text, disabled] = fairAction(shown, soldOut, buyNow);
  } else if (shown.mode === "open") {
    disabled = soldOut || buying || cooling();
    text = soldOut ? "Sold out" : buying ? "Buying…" : buyNow;
  } // mode not known yet (a cue came before the lineup named the drop): wait for /live
  // A verified-only drop offers no button: without sign-in it could only be refused.
  ui.buy.hidden = Boolean(shown?.verifiedOnly);
  ui.buy.disabled = disabled;
  if (ui.buy.textContent !== text) ui.buy.textContent = text;
  ui.buy.setAttribute("aria-label", shown ? `${text}: ${title}` : "Buy: nothing pinned yet");
  renderEntry(shown);
}

/** [label, disabled] of a queue or draw drop's button. */
function fairAction(shown: Drop, soldOut: boolean, buyNow: string): [string, boolean] {
  const track = tracks.get(shown.productId);
  const state = track?.status?.state;
  if (joining === shown.productId) return [shown.mode === "queue" ? "Joining the queue…" : "Entering the draw…", true];
  if (shown.mode === "queue") {
    if (!track || !state) return soldOut ? ["Sold out", true] : ["Join the queue", cooling()];
    if (track.bought) return ["Your turn came: see your order", true];
    if (state === "admitted") return buying ? ["Buying…", true] : [buyNow, cooling()];
    const words: Record<string, string> = { waiting: "In the queue", lapsed: "Your turn has passed", sold_out: "Sold out",
      closed: "The drop has closed" };
    return [words[state] ?? "In the queue", true];
  }
  const drawn = untilDraw(shown.productId) <= 0;
  if (!track || !state) return drawn ? ["Entries closed", true] : ["Enter the draw", cooling()];
  const words: Record<string, string> = { entered: drawn ? "Entered: drawing…" : "Entered", won: "You won",
    not_won: "Not drawn this time" };
  return [words[state] ?? "Entered", true];
}

function tickCountdown(): void {
  const shown = featuredId ? drops.get(featuredId) : undefined;
  const text = shown && !shown.soldOut ? countdownText(shown, Date.now()) : "";
  ui.countdown.hidden = !text;
  ui.countdown.textContent = text;
}

function onCue(cue: TextMetadataCue): void {
  let payload: Cue;
  try {
    payload = JSON.parse(cue.text);
  } catch {
    return; // not ours (IVS carries other ID3 frames too)
  }
  if (!payload || typeof payload !== "object" || typeof payload.type !== "string" || !payload.product?.id) return;
  window.livedropCues.push(payload);
  applyCue(payload);
}

function applyCue(cue: Cue): void {
  const target = drop(cue.product.id);
  if (target.mode === null) refreshLive(); // a drop added to the lineup since: how it sells
  const left = typeof cue.left === "number" ? cue.left : null;
  if (cue.type === "feature") {
    if (cue.product.title) target.title = cue.product.title;
    if (cue.product.image !== undefined && cue.product.image !== null) target.image = cue.product.image;
    if (cue.price) target.price = cue.price;
    // In a replay the chapters and the playback position decide (a cue from a segment buffered
    // before a seek would show the wrong product); live, the newest pin wins.
    if (mode !== "replay" && cue.seq >= featuredSeq) {
      featuredId = target.productId;
      featuredSeq = cue.seq;
    }
  }
  if (mode !== "replay" && left !== null) {
    // A replay's stock figures are history: the card keeps today's.
    target.left = left;
    target.soldOut = left === 0;
    lastCueAt.set(target.productId, Date.now());
  }
  if (mode !== "replay" && cue.type === "sold_out") {
    target.soldOut = true;
    target.left = 0;
  }
  if (mode !== "replay" && cue.type === "drop_open" && !target.opensAt) target.opensAt = cue.at;
  if (target.productId === featuredId) renderCard("cue");
}

function applyLive(live: LiveView): void {
  const now = Date.now();
  for (const item of live.lineup) {
    const target = drop(item.productId);
    target.title = item.title ?? target.title;
    target.image = item.image ?? target.image;
    target.price = item.price;
    target.perCustomerLimit = item.perCustomerLimit;
    target.opensAt = item.opensAt;
    target.closesAt = item.closesAt;
    target.mode = item.mode;
    target.verifiedOnly = item.verifiedOnly;
    if (now - (lastCueAt.get(item.productId) ?? 0) > CUE_WINS_FOR_MS) {
      target.left = item.stockLeft;
      target.soldOut = item.soldOut;
    }
  }
  const pins = live.timeline.filter((entry) => entry.type === "feature");
  const lastPin = pins.length ? pins[pins.length - 1].seq : 0;
  if (mode !== "replay" && live.featuredProductId && (lastPin >= featuredSeq || !featuredId)) {
    featuredId = live.featuredProductId;
    featuredSeq = Math.max(featuredSeq, lastPin);
  }
  setLikes(live.likes);
  renderCard("live");
  findEntries();
}

function setLikes(count: number): void {
  likes = Math.max(likes, count); // likes only grow; a cached /live may lag behind an answer
  ui.likeCount.textContent = String(likes);
  ui.likeWord.textContent = likes === 1 ? "like" : "likes";
}

// --- the player ----------------------------------------------------------------------------

let player: MediaPlayer | null = null;
let loadedUrl: string | null = null;
let pendingSeek: number | null = null;
let seeking = false; // a chapter's seek is under way: positions from before it are stale
let reloadTimer = 0;

function ensurePlayer(): MediaPlayer | null {
  if (player) return player;
  if (!isPlayerSupported) {
    showPlayerNote("This browser can not run the video player (it needs WebAssembly).");
    return null;
  }
  player = create({
    wasmWorker: "/assets/amazon-ivs-wasmworker.min.js",
    wasmBinary: "/assets/amazon-ivs-wasmworker.min.wasm",
  });
  player.attachHTMLVideoElement(ui.video);
  player.setAutoplay(true);
  player.setMuted(true);
  for (const state of [PlayerState.IDLE, PlayerState.READY, PlayerState.BUFFERING, PlayerState.PLAYING,
    PlayerState.ENDED]) {
    player.addEventListener(state, () => onState(state));
  }
  player.addEventListener(PlayerEventType.TEXT_METADATA_CUE, onCue);
  player.addEventListener(PlayerEventType.ERROR, onPlayerError);
  player.addEventListener(PlayerEventType.MUTED_CHANGED, renderMute);
  player.addEventListener(PlayerEventType.TIME_UPDATE, (seconds) => {
    if (!seeking) followChapters(seconds);
  });
  player.addEventListener(PlayerEventType.SEEK_COMPLETED, (seconds) => {
    seeking = false;
    followChapters(seconds);
  });
  return player;
}

function onState(state: PlayerState): void {
  ui.playerState.textContent = state;
  if (state === PlayerState.PLAYING) showPlayerNote("");
  if ((state === PlayerState.READY || state === PlayerState.PLAYING) && pendingSeek !== null && player) {
    const at = pendingSeek;
    pendingSeek = null;
    seeking = true;
    player.seekTo(at);
  }
  if (state === PlayerState.ENDED && mode === "live") scheduleReload(); // the broadcast paused: look again
}

function onPlayerError(error: PlayerError): void {
  if (mode === "live") {
    showPlayerNote("Waiting for the stream…");
    scheduleReload();
  } else if (mode === "replay") {
    showPlayerNote(`The replay could not be played (${error.type}).`);
  }
}

function scheduleReload(): void {
  window.clearTimeout(reloadTimer);
  reloadTimer = window.setTimeout(() => {
    if (player && loadedUrl && mode === "live" && player.getState() !== PlayerState.PLAYING) {
      player.load(loadedUrl);
    }
  }, 5_000);
}

function load(url: string): void {
  const ready = ensurePlayer();
  if (!ready || loadedUrl === url) return;
  loadedUrl = url;
  ready.load(url);
  ready.play();
}

function showPlayerNote(text: string): void {
  ui.playerNote.textContent = text;
  ui.playerNote.hidden = !text;
}

function renderMute(): void {
  const muted = player ? player.isMuted() : true;
  ui.unmute.textContent = muted ? "Unmute" : "Mute";
  ui.unmute.setAttribute("aria-pressed", String(!muted));
}

// An image that does not load (offline, a dead link) leaves the card without a broken picture.
ui.image.addEventListener("error", () => {
  ui.image.hidden = true;
});

ui.unmute.addEventListener("click", () => {
  const ready = ensurePlayer();
  if (!ready) return;
  ready.setMuted(!ready.isMuted());
  if (ready.getState() !== PlayerState.PLAYING && loadedUrl) ready.play();
  renderMute();
});

// --- the shopper, buying, likes ------------------------------------------------------------

const SHOPPER_KEY = "livedrop.shopper";
let shopperRequest: Promise<Shopper> | null = null;
let shopperInMemory: Shopper | null = null; // where localStorage refuses (private mode, storage off)

function storedShopper(): Shopper | null {
  let stored = shopperInMemory;
  try {
    stored = (JSON.parse(localStorage.getItem(SHOPPER_KEY) || "null") as Shopper | null) ?? shopperInMemory;
  } catch {
    // no localStorage: the one in memory, if any
  }
  return stored && Date.parse(stored.expiresAt) - Date.now() > 60_000 ? stored : null;
}

async function shopperToken(): Promise<string> {
  const stored = storedShopper();
  if (stored) return stored.token;
  shopperRequest ??= call<Shopper>("/v1/shoppers", { method: "POST" }).then((made) => {
    shopperInMemory = made;
    try {
      localStorage.setItem(SHOPPER_KEY, JSON.stringify(made));
    } catch {
      // private mode: this page keeps it in memory only
    }
    return made;
  }).finally(() => {
    shopperRequest = null;
  });
  return (await shopperRequest).token;
}

function forgetShopper(): void {
  shopperInMemory = null;
  try {
    localStorage.removeItem(SHOPPER_KEY);
  } catch {
    // nothing stored
  }
}

function uuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let buying = false;
/** The tap that has not had an answer yet: a retry sends the same Idempotency-Key. */
let unanswered: { productId: string; key: string } | null = null;
let order: Order | null = null;
let orderTitle = "";

/** A queue drop's purchase: the admission its queue gave, under a key of its own (the admission
 * is not part of the order's fingerprint, so buying again after a reload replays the order). */
interface Admitted {
  admission: string | null;
  key: string;
}

/** One tap: reserve one unit, then pay. Answers the order, or the error it was refused with. */
async function buy(productId: string | null = featuredId, admitted?: Admitted): Promise<{ order?: Order; error?: unknown }> {
  if (buying || !productId) return {};
  let key: string;
  if (admitted) {
    key = admitted.key;
  } else {
    if (!unanswered || unanswered.productId !== productId) unanswered = { productId, key: uuid() };
    key = unanswered.key;
  }
  buying = true;
  prepareToPay();
  ui.buyMessage.textContent = "Reserving one for you…";
  rerender();
  try {
    const token = await shopperToken();
    const made = await call<Order>("/v1/orders", {
      method: "POST", token, headers: { "Idempotency-Key": key },
      body: { sessionId, items: [{ productId, quantity: 1 }], admission: admitted?.admission ?? undefined },
    });
    if (!admitted) unanswered = null;
    orderTitle = drops.get(productId)?.title ?? "Your product";
    showOrder(made);
    ui.buyMessage.textContent = "";
    if (made.status === "reserved") await pay(made); // a replayed order may be paid already
    return { order: made };
  } catch (error) {
    if (error instanceof ApiError && error.retriable) {
      // keep `unanswered`: the next tap repeats this very order
    } else if (!admitted) {
      unanswered = null;
    }
    sayRefused(error);
    return { error };
  } finally {
    buying = false;
    rerender();
  }
}

/** A tap refused, in words: an expired shopper pass is forgotten (the next tap gets a new one),
 * a 429 makes the button wait out its Retry-After. */
function sayRefused(error: unknown): void {
  if (error instanceof ApiError && error.code === "unauthorized") {
    forgetShopper();
    ui.buyMessage.textContent = "Your shopper pass ran out. Tap again to get a new one.";
  } else {
    if (error instanceof ApiError && error.status === 429) coolDown(error.retryAfter);
    ui.buyMessage.textContent = inWords(error);
  }
}

/** After a 429: the button waits out its Retry-After. */
let coolUntil = 0;
const cooling = () => Date.now() < coolUntil;

function coolDown(seconds: number | null): void {
  const ms = Math.min(seconds ?? 1, 60) * 1000;
  coolUntil = Date.now() + ms;
  window.setTimeout(rerender, ms + 50);
}

// --- queue and draw drops (README "Queue drops", "Draw drops") ------------------------------

const ENTRY_POLL_MS = 2_000; // a queue moves a step a second at most: every 2 s is in time
const ENTRY_SLOW_MS = 15_000; // sold out: a unit may still come back (a payment that failed)
const ENTRY_BACKOFF_MAX_MS = 30_000;
const DRAW_POLL_MAX_MS = 10_000; // after opensAt, until the draw is made: 2 s, then a little slower

/** This shopper's entry in one queue or draw drop, followed by polling entries/me. */
interface Track {
  productId: string;
  mode: "queue" | "draw";
  status: EntryStatus | null; // null: not looked at yet (a reload: are we in it?)
  timer: number;
  polling: boolean;
  failures: number;
  waits: number; // draws: polls since opensAt that found it not drawn yet
  done: boolean; // nothing more can change: no more polls
  bought: boolean; // queue: the admission's order was made (or found again)
  autoBuy: boolean; // queue: the one automatic buy on admission was tried
  lookedForOrder: boolean; // queue: a lapsed turn looked for the order it may have made
  wonOrder: string | null; // draw: the won order, shown
  draw: DrawView | null; // draw: as published (its seedHash before the draw)
}

const tracks = new Map<string, Track>();
const lookedAt = new Set<string>(); // drops whose entry this page asked for once (after a reload)
let joining: string | null = null;

const entriesPath = (productId: string) => `/v1/sessions/${sessionId}/drops/${encodeURIComponent(productId)}/entries`;
const drawPath = (productId: string) => `/v1/sessions/${sessionId}/drops/${encodeURIComponent(productId)}/draw`;
const queueKey = (productId: string) => `queue:${sessionId}:${productId}`;

/** Milliseconds until a draw drop's opensAt (its draw); NaN while not known. */
function untilDraw(productId: string): number {
  const opensAt = drops.get(productId)?.opensAt ?? tracks.get(productId)?.draw?.opensAt;
  return opensAt ? Date.parse(opensAt) - Date.now() : NaN;
}

function trackFor(productId: string, mode: "queue" | "draw"): Track {
  let track = tracks.get(productId);
  if (!track) {
    track = { productId, mode, status: null, timer: 0, polling: false, failures: 0, waits: 0, done: false,
      bought: false, autoBuy: false, lookedForOrder: false, wonOrder: null, draw: null };
    tracks.set(productId, track);
  }
  return track;
}

function schedule(track: Track, ms: number): void {
  window.clearTimeout(track.timer);
  track.timer = 0;
  if (track.done || document.hidden) return; // a hidden page does not poll; showing it again resumes
  track.timer = window.setTimeout(() => void pollEntry(track), Math.max(0, ms));
}

function stop(track: Track): void {
  track.done = true;
  window.clearTimeout(track.timer);
  track.timer = 0;
}

/** After a reload: the shopper kept in this browser may have joined this show's queue or draw
 * drops; one look each (404: not joined). A page without a shopper yet has joined nothing. */
function findEntries(): void {
  if (!storedShopper()) return;
  for (const known of drops.values()) {
    // (a verified-only drop: this page's anonymous shopper can not have joined it)
    if ((known.mode !== "queue" && known.mode !== "draw") || known.verifiedOnly || lookedAt.has(known.productId)) continue;
    lookedAt.add(known.productId);
    if (!tracks.has(known.productId)) schedule(trackFor(known.productId, known.mode), 0);
  }
}

async function pollEntry(track: Track): Promise<void> {
  track.timer = 0;
  if (track.done || track.polling || document.hidden) return;
  const wait = untilDraw(track.productId);
  if (track.mode === "draw" && track.status?.state === "entered" && wait > 0) {
    schedule(track, wait + Math.random() * 1000); // nothing to ask before the draw (spread a crowd over 1 s)
    return;
  }
  const shopper = storedShopper();
  if (!shopper) {
    tracks.delete(track.productId); // a new shopper (the last one ran out) has joined nothing
    stop(track);
    rerender();
    return;
  }
  let next = ENTRY_POLL_MS;
  track.polling = true;
  try {
    const status = await call<EntryStatus>(`${entriesPath(track.productId)}/me`, { token: shopper.token });
    track.failures = 0;
    applyEntry(track, status);
    if (status.state === "sold_out") next = ENTRY_SLOW_MS;
    if (status.state === "entered") {
      const until = untilDraw(track.productId);
      if (until > 0) next = until + Math.random() * 1000;
      else next = Math.min(ENTRY_POLL_MS + 1000 * track.waits++, DRAW_POLL_MAX_MS);
    }
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.code === "unauthorized")) {
      if (error.code === "unauthorized") forgetShopper();
      tracks.delete(track.productId); // not joined (as this shopper)
      stop(track);
      rerender();
      return;
    }
    track.failures += 1;
    next = error instanceof ApiError && error.status === 429 && error.retryAfter
      ? error.retryAfter * 1000
      : Math.min(ENTRY_POLL_MS * 2 ** track.failures, ENTRY_BACKOFF_MAX_MS);
  } finally {
    track.polling = false;
  }
  schedule(track, next);
}

function applyEntry(track: Track, status: EntryStatus): void {
  track.status = status;
  if (track.mode === "queue") {
    if (status.state === "admitted" && !track.bought && !track.autoBuy) {
      track.autoBuy = true; // one automatic buy; after a refusal, Buy now is a tap away
      void buyAdmitted(track);
    } else if (status.state === "lapsed" && !track.bought) {
      stop(track);
      void findQueueOrder(track);
    } else if (status.state === "closed" || (status.state === "lapsed" && track.bought)) {
      stop(track);
    }
  } else {
    if (!track.draw) void loadDraw(track);
    if ((status.state === "won" || status.state === "not_won") && !track.done) refreshLive(); // units left after it
    if (status.state === "not_won") stop(track);
    if (status.state === "won" && status.orderId) {
      stop(track);
      void showWon(track, status.orderId);
    }
  }
  rerender();
}

/** Join a queue or enter a draw: one tap. Joining again answers the same entry. */
async function join(productId: string, mode: "queue" | "draw"): Promise<void> {
  if (joining || cooling()) return;
  joining = productId;
  ui.buyMessage.textContent = "";
  rerender();
  try {
    const token = await shopperToken();
    const entry = await call<Entry>(entriesPath(productId), { method: "POST", token });
    const track = trackFor(productId, mode);
    track.done = false;
    track.status = { ...entry, state: mode === "queue" ? "waiting" : "entered", ahead: null, admission: null,
      admissionExpiresAt: null, orderId: null };
    lookedAt.add(productId);
    if (mode === "draw") void loadDraw(track);
    schedule(track, mode === "queue" ? 0 : untilDraw(productId) + Math.random() * 1000);
  } catch (error) {
    sayRefused(error);
  } finally {
    joining = null;
    rerender();
  }
}

/** Admitted: buy at once with the admission (as Buy does: reserve, then pay). */
async function buyAdmitted(track: Track): Promise<void> {
  const admission = track.status?.admission;
  if (!admission || track.bought) return;
  const { order: made, error } = await buy(track.productId, { admission, key: queueKey(track.productId) });
  if (made) {
    track.bought = true;
    stop(track);
  } else if (!error || (error instanceof ApiError && error.retriable)) {
    track.autoBuy = false; // not tried (another purchase was under way) or no answer: the next poll tries again
  }
  rerender();
}

/** A turn that has passed may have bought (before a reload): the order's own key replays it if it
 * was made, and is refused (admission_required) if not. */
async function findQueueOrder(track: Track): Promise<void> {
  if (track.lookedForOrder || order?.items.some((line) => line.productId === track.productId)) return;
  track.lookedForOrder = true;
  try {
    const found = await call<Order>("/v1/orders", {
      method: "POST", token: await shopperToken(), headers: { "Idempotency-Key": queueKey(track.productId) },
      body: { sessionId, items: [{ productId: track.productId, quantity: 1 }] },
    });
    track.bought = true;
    orderTitle = drops.get(track.productId)?.title ?? "Your product";
    showOrder(found);
  } catch {
    // not bought in that turn: it has passed
  }
  rerender();
}

async function loadDraw(track: Track): Promise<void> {
  if (track.draw) return;
  try {
    track.draw = await call<DrawView>(drawPath(track.productId));
    const known = drop(track.productId);
    known.opensAt ??= track.draw.opensAt;
  } catch {
    // the entry is shown without the hash; the next poll asks again
  }
  rerender();
}

/** Won: the order the draw reserved, then paying as after a Buy. */
async function showWon(track: Track, orderId: string): Promise<void> {
  if (track.wonOrder === orderId) return;
  try {
    const found = await call<Order>(`/v1/orders/${encodeURIComponent(orderId)}`, { token: await shopperToken() });
    track.wonOrder = orderId;
    orderTitle = drops.get(track.productId)?.title ?? "Your product";
    showOrder(found);
    rerender();
    if (found.status === "reserved") await pay(found);
  } catch (error) {
    ui.buyMessage.textContent = inWords(error);
    track.done = false;
    schedule(track, ENTRY_POLL_MS * 2 ** Math.min(++track.failures, 4));
  }
  rerender();
}

/** "3:05:09 PM" today, with the date on another day. */
function clock(iso: string | null | undefined): string {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return at.toDateString() === new Date().toDateString()
    ? at.toLocaleTimeString(undefined, { timeStyle: "medium" }) : formatTime(iso);
}

/** The entry panel: where the shopper stands in the featured drop's queue or draw. */
function renderEntry(shown: Drop | undefined): void {
  const track = shown ? tracks.get(shown.productId) : undefined;
  const status = track?.status;
  if (!shown || !track || !status) {
    ui.entry.hidden = true;
    ui.entry.dataset.state = "";
    return;
  }
  ui.entry.hidden = false;
  ui.entry.dataset.state = status.state;
  const [text, detail] = track.mode === "queue" ? queueTexts(shown, track, status) : drawTexts(shown, track, status);
  if (ui.entryStatus.textContent !== text) ui.entryStatus.textContent = text;
  const signature = JSON.stringify(detail.map((part) => (typeof part === "string" ? part : part.outerHTML)));
  if (ui.entryDetail.dataset.signature !== signature) {
    ui.entryDetail.dataset.signature = signature;
    ui.entryDetail.replaceChildren(...detail);
  }
}

function queueTexts(shown: Drop, track: Track, standing: EntryStatus): [string, (string | HTMLElement)[]] {
  const position = standing.position;
  if (track.bought) return ["Your turn came: your order is below.", []];
  switch (standing.state) {
    case "waiting": {
      const notOpen = shown.opensAt ? Date.parse(shown.opensAt) > Date.now() : status === "scheduled";
      if (standing.ahead === null) return [`You're in the queue at position ${position}.`, []];
      if (shown.left === 0 || shown.soldOut) {
        return [`Sold out for now: every unit is taken. You keep your place (position ${position}, ${standing.ahead} ahead) in case one comes back.`, []];
      }
      return [`You're in the queue at position ${position}: ${standing.ahead} ahead of you.`,
        [notOpen ? "The queue moves once the drop opens. Keep this page open: it buys for you when your turn comes."
          : "Keep this page open: it buys for you when your turn comes."]];
    }
    case "admitted":
      return [`It's your turn (until ${clock(standing.admissionExpiresAt)}): ${buying ? "reserving one for you…" : "tap Buy now."}`, []];
    case "lapsed":
      return ["Your turn in the queue has passed.", []];
    case "sold_out":
      return ["Sold out: every unit went to shoppers ahead of you.", []];
    case "closed":
      return ["The drop closed before your turn came.", []];
    default:
      return [`You're in the queue at position ${position}.`, []];
  }
}

function drawTexts(shown: Drop, track: Track, status: EntryStatus): [string, (string | HTMLElement)[]] {
  const hash = track.draw?.seedHash;
  const committed: HTMLElement[] = hash
    ? [el("span", { class: "line" }, "Seed hash, published before the draw: ",
      el("code", { "data-testid": "seed-hash", text: hash }))] : [];
  const opensAt = shown.opensAt ?? track.draw?.opensAt ?? null;
  if (status.state === "entered") {
    const text = untilDraw(shown.productId) > 0 ? `Entered: the draw is at ${clock(opensAt)}.`
      : "Entered: the draw is being made…";
    return [text, committed];
  }
  const entrant = storedShopper()?.shopperId;
  const command = `python3 scripts/verify_draw.py ${apiBase} ${sessionId} ${shown.productId}` +
    `${hash ? ` --seed-hash ${hash}` : ""}${entrant ? ` --entrant ${entrant}` : ""}`;
  const check = el("span", { class: "line" }, "Anyone can check the draw: ",
    el("a", { href: `${apiBase}${drawPath(shown.productId)}`, text: "the published draw" }),
    " (its seed, entrants and winners), or run ", el("code", { text: command }), ".");
  if (status.state === "won") {
    return [track.wonOrder ? "You won! Your order is below." : "You won! Your reservation is being made…",
      [...committed, check]];
  }
  return ["Not drawn this time.", [...committed, check]];
}

document.addEventListener("visibilitychange", () => {
  for (const track of tracks.values()) {
    if (document.hidden) {
      window.clearTimeout(track.timer);
      track.timer = 0;
    } else if (!track.done && !track.timer) {
      schedule(track, 0);
    }
  }
});

// --- paying: the test provider's token, or Stripe's Payment Element ------------------------

/** GET /v1/payments/config: how this shop takes payments. */
interface PaymentConfig {
  provider: "test" | "stripe";
  publishableKey: string | null;
  confirmsInBrowser: boolean;
}

/** POST /v1/orders/{id}/pay answers the order and, while it is `paying` with Stripe, what
 * Stripe.js confirms with. */
interface OrderPayment extends Order {
  payment?: { provider: string; attempt: number; reference: string | null; capturedAt: string | null } | null;
  clientSecret?: string | null;
  publishableKey?: string | null;
}

/** The Payment Element on the order panel: one per payment attempt (its client secret). */
interface Checkout {
  orderId: string;
  total: Money;
  stripe: Stripe;
  elements: StripeElements;
  element: StripePaymentElement;
  ready: boolean;
}

const SETTLE_TRIES = 4; // /pay again while Stripe is still processing: after 1, 2 and 4 s, then polling
const FOLLOW_MAX_MS = 15_000;

let configRequest: Promise<PaymentConfig> | null = null;
let stripeLoad: { key: string; stripe: Promise<Stripe | null> } | null = null;
let checkout: Checkout | null = null;
let paymentBusy = false; // a pay request, a confirmation or a follow-up is under way: no second Pay
let confirming = false;

function paymentConfig(): Promise<PaymentConfig> {
  configRequest ??= call<PaymentConfig>("/v1/payments/config").catch((error) => {
    configRequest = null; // the next tap asks again
    throw error;
  });
  return configRequest;
}

const inBrowser = (config: PaymentConfig): config is PaymentConfig & { publishableKey: string } =>
  config.confirmsInBrowser && Boolean(config.publishableKey);

/** Stripe.js, through Stripe's own loader. It injects https://js.stripe.com/<version>/stripe.js:
 * Stripe requires Stripe.js to be loaded from there (never bundled or self-hosted), so it is the
 * one script this page takes from another origin, and only once the API names a publishable key
 * and a shopper taps Buy. The `pure` entry injects nothing until loadStripe is called (the
 * package's main entry would add the script to every page view, test provider or not). */
function stripeFor(publishableKey: string): Promise<Stripe | null> {
  if (!stripeLoad || stripeLoad.key !== publishableKey) {
    const load = { key: publishableKey, stripe: loadStripe(publishableKey) };
    load.stripe.catch(() => {
      if (stripeLoad === load) stripeLoad = null; // blocked or offline: the next Pay loads it again
    });
    stripeLoad = load;
  }
  return stripeLoad.stripe;
}

/** At the Buy tap, while the reservation is made: the payment config and, for Stripe, Stripe.js. */
function prepareToPay(): void {
  paymentConfig().then((config) => {
    if (inBrowser(config)) stripeFor(config.publishableKey).catch(() => undefined);
  }).catch(() => undefined); // pay() asks again and says what failed
}

/** POST /pay, repeated (at most 5 times in all) while the answer says so: busy, no answer, or
 * a payment under way (Retry-After). */
async function requestPayment(orderId: string, body: { paymentToken?: string }): Promise<OrderPayment> {
  const token = await shopperToken();
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await call<OrderPayment>(`/v1/orders/${orderId}/pay`, { method: "POST", token, body });
    } catch (error) {
      const again = error instanceof ApiError && (error.retriable || error.code === "payment_in_progress");
      if (!again || attempt >= 4) throw error;
      await sleep(Math.min((error as ApiError).retryAfter ?? 1, 5) * 1000);
    }
  }
}

async function pay(reserved: Order): Promise<void> {
  if (paymentBusy) return;
  paymentBusy = true;
  ui.pay.hidden = true;
  ui.cancel.hidden = true;
  ui.buyMessage.textContent = "";
  try {
    const config = await paymentConfig();
    if (inBrowser(config)) {
      await openCheckout(reserved, config.publishableKey);
    } else {
      // The test provider's token: "ok" approves; the same token again never charges twice.
      showOrder(await requestPayment(reserved.id, { paymentToken: "ok" }));
    }
  } catch (error) {
    ui.buyMessage.textContent = inWords(error);
    await refreshOrder();
  } finally {
    paymentBusy = false;
    if (order) showOrder(order);
  }
}

/** Starts (or goes on with) the order's payment attempt and mounts Stripe's Payment Element
 * with the attempt's client secret. */
async function openCheckout(reserved: Order, publishableKey: string): Promise<void> {
  const loading = stripeFor(publishableKey);
  ui.checkout.hidden = false;
  ui.checkoutSubmit.disabled = true;
  ui.checkoutSubmit.textContent = `Pay ${formatMoney(reserved.total)}`;
  ui.checkoutNote.textContent = "Loading the card form…";
  let answer: OrderPayment;
  try {
    answer = await requestPayment(reserved.id, {});
  } catch (error) {
    closeCheckout();
    throw error;
  }
  if (answer.status !== "paying" || !answer.clientSecret) {
    closeCheckout();
    showOrder(answer); // paid already (a retry of a settled attempt), or as the server has it
    return;
  }
  let stripe: Stripe | null = null;
  try {
    stripe = await loading;
  } catch {
    // shown below
  }
  if (!stripe) {
    closeCheckout();
    showOrder(answer); // paying, no form: Pay comes back, and goes on with the same attempt
    ui.buyMessage.textContent = "The card form could not be loaded. Check your connection, then tap Pay now again.";
    return;
  }
  mountCheckout(stripe, answer, answer.clientSecret);
  showOrder(answer);
}

function mountCheckout(stripe: Stripe, answer: OrderPayment, clientSecret: string): void {
  closeCheckout();
  const elements = stripe.elements({ clientSecret });
  const element = elements.create("payment");
  const opened: Checkout = { orderId: answer.id, total: answer.total, stripe, elements, element, ready: false };
  checkout = opened;
  element.on("ready", () => {
    if (checkout !== opened) return;
    opened.ready = true;
    ui.checkoutNote.textContent = "";
    renderCheckout();
    element.focus(); // the shopper just tapped to pay: the card field is next
  });
  element.on("loaderror", (event) => {
    if (checkout !== opened) return;
    closeCheckout(); // Pay comes back: it goes on with the same attempt and mounts the form again
    ui.buyMessage.textContent = event.error.message || "The card form could not be loaded. Tap Pay now to try again.";
    if (order) showOrder(order);
  });
  element.mount(ui.paymentElement);
  ui.checkout.hidden = false;
  ui.checkoutNote.textContent = "Loading the card form…";
  renderCheckout();
}

function renderCheckout(): void {
  if (!checkout) return;
  ui.checkoutSubmit.disabled = !checkout.ready || confirming;
  ui.checkoutSubmit.textContent = confirming ? "Paying…" : `Pay ${formatMoney(checkout.total)}`;
}

function closeCheckout(): void {
  const open = checkout;
  checkout = null;
  ui.checkout.hidden = true;
  ui.checkoutNote.textContent = "";
  if (open) {
    try {
      open.element.destroy();
    } catch {
      // destroyed already
    }
  }
}

/** The form's Pay: Stripe.js confirms the PaymentIntent (3-D Secure included), then the API
 * reads it afresh and settles the order. */
async function confirmCard(): Promise<void> {
  const open = checkout;
  if (!open || !open.ready || confirming) return;
  confirming = true;
  paymentBusy = true;
  ui.buyMessage.textContent = "";
  ui.checkoutNote.textContent = "Paying…";
  renderCheckout();
  tickOrder();
  let stripeError: StripeError | null = null;
  try {
    const result = await open.stripe.confirmPayment({
      elements: open.elements,
      redirect: "if_required", // cards stay on this page; a bank that must redirect comes back here
      confirmParams: { return_url: returnUrl(open.orderId) },
    });
    stripeError = result.error ?? null;
  } catch (error) {
    stripeError = { type: "api_connection_error", message: error instanceof Error ? error.message : undefined };
  }
  try {
    if (stripeError?.type === "validation_error") {
      // Nothing reached Stripe: the form says what to fix, and the same attempt goes on.
      ui.checkoutNote.textContent = stripeError.message || "Check the card details.";
      return;
    }
    await settle(open.orderId, stripeError);
  } finally {
    confirming = false;
    paymentBusy = false;
    renderCheckout();
    if (order) showOrder(order);
  }
  if (!checkout && !ui.pay.hidden) ui.pay.focus(); // the form went (declined): Pay is where to go on
}

/** POST /pay again, without a token: the API reads the PaymentIntent afresh. Paid; declined (402,
 * the order reserved again: a new attempt is a tap away); or still paying: asked again after 1, 2
 * and 4 s, then the order is followed until Stripe's answer reaches it. */
async function settle(orderId: string, stripeError: StripeError | null): Promise<void> {
  for (let round = 0; round < SETTLE_TRIES; round += 1) {
    if (round > 0) await sleep(1000 * 2 ** (round - 1));
    if (order?.id !== orderId) return; // the shopper bought again meanwhile: that order is shown
    let answer: OrderPayment;
    try {
      answer = await requestPayment(orderId, {});
    } catch (error) {
      if (order?.id !== orderId) return;
      closeCheckout();
      if (error instanceof ApiError && error.code === "payment_declined") {
        declined(stripeError);
      } else {
        ui.buyMessage.textContent = inWords(error);
      }
      await refreshOrder();
      // Confirmed by Stripe.js but not settled yet: follow it. Not confirmed: Pay goes on with it.
      if (order?.status === "paying" && !stripeError) await followPayment(orderId);
      return;
    }
    if (order?.id !== orderId) return;
    if (answer.status !== "paying") {
      closeCheckout();
      showOrder(answer);
      return;
    }
    if (stripeError) {
      // Stripe.js could not confirm (no connection, Stripe's own refusal) and the attempt is open:
      // the same form can try again.
      showOrder(answer);
      ui.checkoutNote.textContent = stripeError.message || "The payment did not go through. Try again.";
      return;
    }
    showOrder(answer);
    ui.checkoutNote.textContent = "Your bank is still confirming the payment…";
  }
  closeCheckout();
  await followPayment(orderId);
}

function declined(stripeError: StripeError | null): void {
  const why = stripeError?.type === "card_error" && stripeError.message ? stripeError.message : "The payment was declined.";
  ui.buyMessage.textContent = `${why} Your units stay reserved until the timer runs out: tap Pay now to try another card.`;
}

/** A payment Stripe is still processing: the order, looked at with a growing pause, until it
 * is settled (its webhook or the API's reconciliation settles it). */
async function followPayment(orderId: string): Promise<void> {
  const token = await shopperToken();
  for (let wait = 2000; order?.id === orderId; wait = Math.min(wait * 2, FOLLOW_MAX_MS)) {
    tickOrder();
    await sleep(wait);
    try {
      const now = await call<OrderPayment>(`/v1/orders/${orderId}`, { token });
      if (order?.id !== orderId) return;
      showOrder(now);
      if (now.status === "reserved") declined(null);
      if (now.status !== "paying") return;
    } catch {
      // look again
    }
  }
}

/** Where a payment method that must leave the page (a bank's own page) comes back to. */
function returnUrl(orderId: string): string {
  return `${location.origin}${location.pathname}?order=${encodeURIComponent(orderId)}`;
}

/** Back from a bank's page (Stripe adds payment_intent, its client secret and redirect_status):
 * the address loses them, and the order is settled as after any confirmation. */
async function resumeAfterRedirect(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const orderId = params.get("order");
  if (!orderId || !params.get("payment_intent")) return;
  history.replaceState(null, "", location.pathname);
  try {
    const found = await call<OrderPayment>(`/v1/orders/${encodeURIComponent(orderId)}`, { token: await shopperToken() });
    orderTitle = drops.get(found.items[0]?.productId ?? "")?.title ?? "Your product";
    showOrder(found);
    if (found.status !== "paying") return;
    paymentBusy = true;
    try {
      await settle(found.id, null);
    } finally {
      paymentBusy = false;
      if (order) showOrder(order);
    }
  } catch (error) {
    ui.buyMessage.textContent = inWords(error);
  }
}

async function refreshOrder(): Promise<void> {
  if (!order) return;
  try {
    showOrder(await call<Order>(`/v1/orders/${order.id}`, { token: await shopperToken() }));
  } catch {
    // shown as it was; the countdown looks again
  }
}

function showOrder(next: Order): void {
  order = next;
  ui.order.hidden = false;
  if (checkout && (checkout.orderId !== next.id || next.status !== "paying")) closeCheckout();
  // Pay: a reservation, or an attempt left open without its form (it goes on with the same one).
  ui.pay.hidden = paymentBusy || !(next.status === "reserved" || (next.status === "paying" && !checkout));
  // Cancel: a reservation, or a payment nothing was authorised for yet (the API voids its intent).
  ui.cancel.hidden = paymentBusy || !(next.status === "reserved" || next.status === "paying");
  tickOrder();
}

let lastOrderLook = 0;
function tickOrder(): void {
  if (!order) return;
  const total = formatMoney(order.total);
  const what = `${orderTitle} × ${order.items.reduce((sum, line) => sum + line.quantity, 0)}, ${total}`;
  const texts: Record<Order["status"], string> = {
    reserved: "",
    paying: checkout && !confirming ? `Checkout: ${what}. Enter your card details below.` : `Paying: ${what}…`,
    paid: `Paid: ${what}. Thank you! Order ${order.id}.`,
    cancelled: `Cancelled: ${what}. The units went back on sale.`,
    expired: `Expired: the reservation ran out before it was paid. ${what} went back on sale.`,
  };
  if (order.status === "reserved") {
    const leftMs = Date.parse(order.expiresAt) - Date.now();
    texts.reserved = `Reserved: ${what}. Held for you for ${formatDuration(leftMs)}.`;
    if (leftMs <= 0 && Date.now() - lastOrderLook > 5_000) {
      lastOrderLook = Date.now();
      void refreshOrder();
    }
  }
  const text = texts[order.status];
  if (ui.orderStatus.textContent !== text) ui.orderStatus.textContent = text;
  ui.order.dataset.status = order.status;
}

ui.buy.addEventListener("click", () => {
  const shown = featuredId ? drops.get(featuredId) : undefined;
  if (!shown || shown.verifiedOnly) return;
  if (shown.mode === "open") {
    void buy(shown.productId);
    return;
  }
  const track = tracks.get(shown.productId);
  if (shown.mode === "queue" && track?.status?.state === "admitted" && !track.bought) void buyAdmitted(track);
  else if ((shown.mode === "queue" || shown.mode === "draw") && !track?.status) void join(shown.productId, shown.mode);
});
ui.pay.addEventListener("click", () => {
  if (order) void pay(order);
});
ui.checkout.addEventListener("submit", (event) => {
  event.preventDefault();
  void confirmCard();
});
ui.cancel.addEventListener("click", async () => {
  if (!order) return;
  try {
    showOrder(await call<Order>(`/v1/orders/${order.id}/cancel`, { method: "POST", token: await shopperToken() }));
  } catch (error) {
    ui.buyMessage.textContent = inWords(error);
  }
});

ui.like.addEventListener("click", async () => {
  try {
    const answer = await call<{ likes: number }>(`/v1/sessions/${sessionId}/likes`, {
      method: "POST", token: await shopperToken(),
    });
    setLikes(answer.likes);
    ui.likeMessage.textContent = "";
  } catch (error) {
    if (error instanceof ApiError && error.code === "unauthorized") forgetShopper();
    ui.likeMessage.textContent = inWords(error);
  }
});

// --- chat ----------------------------------------------------------------------------------

let chatStarted = false;

async function startChat(): Promise<void> {
  if (chatStarted) return;
  chatStarted = true;
  let first: ChatTokenView | null;
  const fetchToken = async () => call<ChatTokenView>(`/v1/sessions/${sessionId}/chat-token`, {
    method: "POST", token: await shopperToken(),
  });
  try {
    first = await fetchToken();
  } catch (error) {
    ui.chatNote.textContent = error instanceof ApiError && error.code === "chat_closed"
      ? "The chat is closed: the show has ended." : NO_CHAT;
    return;
  }
  if (!first.messagingEndpoint) {
    ui.chatNote.textContent = NO_CHAT;
    return;
  }
  const room = new ChatRoom({
    regionOrUrl: first.messagingEndpoint,
    tokenProvider: async () => {
      const answer = first ?? (await fetchToken());
      first = null;
      return { token: answer.token, sessionExpirationTime: answer.sessionExpiresAt,
        tokenExpirationTime: answer.tokenExpiresAt };
    },
  });
  room.addListener("connect", () => {
    ui.chatNote.textContent = "";
    ui.chatNote.hidden = true;
    ui.chatPanel.hidden = false;
  });
  room.addListener("disconnect", () => {
    ui.chatNote.hidden = false;
    ui.chatNote.textContent = "The chat is disconnected.";
  });
  room.addListener("message", (message: ChatMessage) => {
    const name = message.sender.attributes?.displayName || `Viewer ${message.sender.userId.slice(-4)}`;
    ui.chatMessages.append(el("li", { "data-message-id": message.id }, el("strong", { text: name }), ` ${message.content}`));
    while (ui.chatMessages.children.length > 200) ui.chatMessages.firstElementChild?.remove();
  });
  room.addListener("messageDelete", (event) => {
    ui.chatMessages.querySelector(`[data-message-id="${CSS.escape(event.messageId)}"]`)?.remove();
  });
  ui.chatForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = ui.chatInput.value.trim();
    if (!content) return;
    try {
      await room.sendMessage(new SendMessageRequest(content));
      ui.chatInput.value = "";
    } catch {
      ui.chatNote.hidden = false;
      ui.chatNote.textContent = "That message could not be sent.";
    }
  });
  room.connect();
}

// --- the show's course: waiting, live, replay ------------------------------------------------

let stopLivePoll: (() => void) | null = null;
let stopReplayPoll: (() => void) | null = null;
let chapterCount = -1;

function setStatus(next: Status, scheduledAt?: string): void {
  status = next;
  document.body.dataset.status = next;
  ui.status.textContent = next === "live" ? "Live now" : next === "ended"
    ? "The show has ended: watch the replay." : `Starts ${formatTime(scheduledAt)}. This page starts the video when it does.`;
}

function follow(next: LiveView): void {
  applyLive(next);
  if (next.status === "live" && mode !== "live") {
    mode = "live";
    setStatus("live");
    load(next.playbackUrl);
  } else if (next.status === "ended" && mode !== "replay") {
    setStatus("ended");
    startReplay();
  }
}

function startReplay(): void {
  mode = "replay";
  stopLivePoll?.();
  stopLivePoll = null;
  loadedUrl = null;
  ui.chaptersSection.hidden = false;
  stopReplayPoll = every(LIVE_POLL_MS, async () => {
    const replay = await call<ReplayView>(`/v1/sessions/${sessionId}/replay`);
    renderChapters(replay.chapters);
    if (replay.replayUrl) {
      load(replay.replayUrl);
      stopReplayPoll?.();
    } else {
      showPlayerNote("The replay is being prepared…");
    }
  });
}

let chapterList: Chapter[] = [];
let chapterShown: Chapter | null = null;

/** Replay: the card shows the product that was on screen at the playback position. */
function followChapters(seconds: number): void {
  if (mode !== "replay" || pendingSeek !== null) return;
  const at = seconds * 1000;
  const chapter = chapterList.find((c) => c.startOffsetMs <= at + 250 && (c.endOffsetMs === null || at < c.endOffsetMs));
  if (!chapter || chapter === chapterShown) return;
  chapterShown = chapter;
  featuredId = chapter.productId;
  markChapter();
  renderCard("chapter");
}

function markChapter(): void {
  for (const button of ui.chapters.querySelectorAll<HTMLButtonElement>("button")) {
    const current = chapterShown !== null && button.dataset.productId === chapterShown.productId &&
      Number(button.dataset.start) === chapterShown.startOffsetMs;
    if (current) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function renderChapters(chapters: Chapter[]): void {
  chapterList = chapters;
  if (chapters.length === chapterCount) return;
  chapterCount = chapters.length;
  ui.chapters.replaceChildren(...chapters.map((chapter) => {
    const known = drops.get(chapter.productId);
    const title = known?.title || "A product";
    const button = el("button", {
      type: "button", "data-testid": "chapter", "data-product-id": chapter.productId,
      "data-start": String(chapter.startOffsetMs),
      "aria-label": `Jump to ${formatDuration(chapter.startOffsetMs)}: ${title}`,
    }, el("span", { class: "at", text: formatDuration(chapter.startOffsetMs) }), ` ${title}`,
    known?.price ? el("span", { class: "muted", text: ` · ${formatMoney(known.price)}` }) : null);
    button.addEventListener("click", () => openChapter(chapter));
    return el("li", {}, button);
  }));
  if (!chapters.length) ui.chapters.replaceChildren(el("li", { text: "Nothing was pinned during this show." }));
}

function openChapter(chapter: Chapter): void {
  const seconds = chapter.startOffsetMs / 1000;
  const ready = ensurePlayer();
  if (ready && loadedUrl && ready.getState() !== PlayerState.IDLE) {
    seeking = true;
    ready.seekTo(seconds);
    if (ready.getState() !== PlayerState.PLAYING) ready.play();
  } else {
    pendingSeek = seconds;
  }
  featuredId = chapter.productId;
  chapterShown = chapter;
  markChapter();
  ui.buyMessage.textContent = "";
  renderCard("chapter");
}

async function main(): Promise<void> {
  window.setInterval(() => {
    tickCountdown();
    tickOrder();
    renderAction(); // a draw's entries close at opensAt: the button and the entry say so
  }, 1000);
  if (!sessionId) {
    ui.title.textContent = "No such show";
    ui.status.textContent = "This address does not name a show. Pick one from the list of shows.";
    return;
  }
  ui.consoleLink.href = `/host/${sessionId}`;
  let session: SessionView;
  try {
    session = await call<SessionView>(`/v1/sessions/${sessionId}`);
  } catch (error) {
    ui.title.textContent = error instanceof ApiError && error.status === 404 ? "No such show" : "The show could not be loaded";
    ui.status.textContent = inWords(error);
    return;
  }
  document.title = `${session.title} · Livedrop`;
  ui.title.textContent = session.title;
  for (const item of session.lineup) {
    const target = drop(item.productId);
    Object.assign(target, { title: item.title, image: item.image, price: item.price,
      perCustomerLimit: item.perCustomerLimit, mode: item.mode, verifiedOnly: item.verifiedOnly });
  }
  setStatus(session.status, session.scheduledAt);
  renderCard("live");
  findEntries();
  void resumeAfterRedirect();
  void startChat();
  if (session.status === "ended") {
    try {
      applyLive(await call<LiveView>(`/v1/sessions/${sessionId}/live`));
    } catch {
      // the lineup from the session is enough for the chapters
    }
    startReplay();
    return;
  }
  if (session.status === "live") {
    mode = "live";
    load(session.playbackUrl);
  }
  // Once at load and then slowly: the state for a late joiner, and the moment the show starts or ends.
  stopLivePoll = every(LIVE_POLL_MS, pollLive);
}

const pollLive = async () => follow(await call<LiveView>(`/v1/sessions/${sessionId}/live`));
let liveAskedAt = 0;

/** /live now, out of turn (at most every 2 s): a cue named a drop the lineup has not told us about. */
function refreshLive(): void {
  if (mode !== "live" || Date.now() - liveAskedAt < 2_000) return;
  liveAskedAt = Date.now();
  pollLive().catch(() => undefined);
}

void main();
