/**
 * A small Livedrop client written against the types openapi-typescript generates from the OpenAPI
 * document (`./types`, written by tests/contract/test_typescript_client.py). It is type-checked with
 * `tsc --strict --noEmit`, never run: every `satisfies`, annotation and `@ts-expect-error` below is
 * something a front-end team relies on, so a document that breaks it breaks the build.
 */
import type { components, paths } from "./types";

type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

// What the document says about one operation, read from the generated `paths`.
type JsonBody<Op> = Op extends { requestBody: { content: { "application/json": infer Body } } } ? Body : never;
type JsonResponse<Op, Status extends number> =
  Op extends { responses: { [S in Status]: { content: { "application/json": infer Body } } } } ? Body : never;
type ProblemResponse<Op, Status extends number> =
  Op extends { responses: { [S in Status]: { content: { "application/problem+json": infer Body } } } } ? Body : never;
type ResponseHeaders<Op, Status extends number> =
  Op extends { responses: { [S in Status]: { headers: infer Headers } } } ? Headers : never;
type HeaderParameters<Op> = Op extends { parameters: { header: infer Headers } } ? Headers : never;

// `never` is assignable to everything, so an answer the document does not declare must not be `never`.
type Declared<T> = [T] extends [never] ? "not declared in the document" : T;
// openapi-typescript types undeclared response headers as `[name: string]: unknown`: only named keys count.
type DeclaredHeaderName<Headers> = keyof { [K in keyof Headers as string extends K ? never : K]: Headers[K] };

type CreateProduct = paths["/v1/products"]["post"];
type PatchProduct = paths["/v1/products/{product_id}"]["patch"];
type GetProduct = paths["/v1/products/{product_id}"]["get"];
type CreateSession = paths["/v1/sessions"]["post"];
type GetSession = paths["/v1/sessions/{session_id}"]["get"];
type AddToLineup = paths["/v1/sessions/{session_id}/lineup"]["post"];
type CreateShopper = paths["/v1/shoppers"]["post"];
type CreateOrder = paths["/v1/orders"]["post"];

export const PROBLEM_BASE = "https://livedrop.dev/problems/";

export type Outcome<T> = { ok: true; value: T; response: Response } | { ok: false; problem: Problem };

export class Livedrop {
  constructor(private readonly baseUrl: string) {}

  private async send<T>(method: string, path: string, expected: number,
                        init: { key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Outcome<T>> {
    const headers: Record<string, string> = { ...init.headers };
    if (init.key !== undefined) headers["Authorization"] = `Bearer ${init.key}`;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const request: RequestInit = { method, headers };
    if (init.body !== undefined) request.body = JSON.stringify(init.body);
    const response = await fetch(this.baseUrl + path, request);
    const payload: unknown = await response.json();
    return response.status === expected
      ? { ok: true, value: payload as T, response }
      : { ok: false, problem: payload as Problem };
  }

  createProduct(brandKey: string, body: JsonBody<CreateProduct>) {
    return this.send<Declared<JsonResponse<CreateProduct, 201>>>("POST", "/v1/products", 201, { key: brandKey, body });
  }

  /** A title-only PATCH: every field of a PATCH is optional. */
  renameProduct(brandKey: string, productId: string, title: string) {
    const body = { title } satisfies JsonBody<PatchProduct>;
    return this.send<Declared<JsonResponse<PatchProduct, 200>>>(
      "PATCH", `/v1/products/${encodeURIComponent(productId)}`, 200, { key: brandKey, body });
  }

  /** `description: null` removes the description. */
  removeDescription(brandKey: string, productId: string) {
    const body = { description: null } satisfies JsonBody<PatchProduct>;
    return this.send<Declared<JsonResponse<PatchProduct, 200>>>(
      "PATCH", `/v1/products/${encodeURIComponent(productId)}`, 200, { key: brandKey, body });
  }

  getProduct(productId: string, brandKey?: string) {
    return this.send<Declared<JsonResponse<GetProduct, 200>>>(
      "GET", `/v1/products/${encodeURIComponent(productId)}`, 200, brandKey === undefined ? {} : { key: brandKey });
  }

  /** Only a title: the schedule, hold time and channel settings have defaults. */
  createSession(brandKey: string, title: string) {
    const body = { title } satisfies JsonBody<CreateSession>;
    return this.send<Declared<JsonResponse<CreateSession, 201>>>("POST", "/v1/sessions", 201, { key: brandKey, body });
  }

  getSession(sessionId: string, brandKey?: string) {
    return this.send<Declared<JsonResponse<GetSession, 200>>>(
      "GET", `/v1/sessions/${encodeURIComponent(sessionId)}`, 200, brandKey === undefined ? {} : { key: brandKey });
  }

  /** A product and how many units the show takes from its stock; price, limits and drop times are optional. */
  addToLineup(brandKey: string, sessionId: string, productId: string, quantity: number) {
    const body = { productId, quantity } satisfies JsonBody<AddToLineup>;
    return this.send<Declared<JsonResponse<AddToLineup, 201>>>(
      "POST", `/v1/sessions/${encodeURIComponent(sessionId)}/lineup`, 201, { key: brandKey, body });
  }

  createShopper() {
    return this.send<Declared<JsonResponse<CreateShopper, 201>>>("POST", "/v1/shoppers", 201);
  }

  /** Reserve units; retrying with the same Idempotency-Key replays the first order. */
  async createOrder(shopperToken: string, idempotencyKey: string, body: JsonBody<CreateOrder>) {
    const headers = { "Idempotency-Key": idempotencyKey } satisfies HeaderParameters<CreateOrder>;
    const outcome = await this.send<Declared<JsonResponse<CreateOrder, 201>>>(
      "POST", "/v1/orders", 201, { key: shopperToken, body, headers });
    if (!outcome.ok) return outcome;
    const replayedHeader = "Idempotent-Replayed" satisfies DeclaredHeaderName<ResponseHeaders<CreateOrder, 201>>;
    return { ...outcome, replayed: outcome.response.headers.get(replayedHeader) === "true" };
  }
}

/** A brand sets up a drop and a shopper reserves a unit: each call goes on with what the last returned. */
export async function reserveFirstUnit(api: Livedrop, brandKey: string): Promise<string> {
  const product = await api.createProduct(brandKey, {
    title: "Aurora hoodie", price: { amount: 5900, currency: "EUR" }, stock: 100,
  });
  if (!product.ok) return product.problem.detail;
  const renamed = await api.renameProduct(brandKey, product.value.id, "Aurora hoodie, green");
  if (!renamed.ok) return renamed.problem.detail;
  const session = await api.createSession(brandKey, "Friday drop");
  if (!session.ok) return session.problem.detail;
  const added = await api.addToLineup(brandKey, session.value.id, product.value.id, 50);
  if (!added.ok) return added.problem.detail;
  const shopper = await api.createShopper();
  if (!shopper.ok) return shopper.problem.detail;
  const order = await api.createOrder(shopper.value.token, crypto.randomUUID(), {
    sessionId: session.value.id, items: [{ productId: product.value.id, quantity: 1 }],
  });
  if (!order.ok) return explain(order.problem);
  const total: Schemas["MoneyOut"] = order.value.total;
  return `${order.replayed ? "already reserved" : "reserved"} ${order.value.id}: ${total.amount} ${total.currency}`;
}

/** The refusals a checkout screen handles are declared, with a problem body. */
export type OrderRefusal = Declared<ProblemResponse<CreateOrder, 400 | 404 | 409 | 422>>;

/** What a shopper is told: narrowed by the problem's status and type. */
export function explain(problem: OrderRefusal): string {
  const code = problem.type.startsWith(PROBLEM_BASE) ? problem.type.slice(PROBLEM_BASE.length) : problem.type;
  switch (problem.status) {
    case 400:
      // `field` names the offending input when there is one.
      return problem.field == null ? problem.detail : `${problem.field}: ${problem.detail}`;
    case 409:
      if (code === "sold_out") return "Sold out";
      if (code === "limit_exceeded") return "You already hold as many as you may buy";
      return problem.title;
    case 422:
      return "This order was already placed with other items";
    default:
      return problem.detail;
  }
}

/** A problem without `field` is a Problem: `field` is only there for invalid input. */
export const notFound = {
  type: `${PROBLEM_BASE}not_found`, title: "Not found", status: 404, detail: "no such session",
} satisfies Problem;

/** The owner's view of a session has the lineup's quantities; the public view does not. */
export function unitsInShow(view: Declared<JsonResponse<GetSession, 200>>): number | null {
  if ("holdSeconds" in view) {
    const owner: Schemas["SessionView"] = view;
    return owner.lineup.reduce((units, item) => units + item.quantity, 0);
  }
  const shown: Schemas["PublicSessionView"] = view;
  // @ts-expect-error the public lineup has no quantities
  shown.lineup.map((item) => item.quantity);
  return null;
}

/** The owner's view of a product has its stock; the public view only says whether it is in stock. */
export function stockOf(view: Declared<JsonResponse<GetProduct, 200>>): number | boolean {
  return "stock" in view ? view.stock : view.inStock;
}

// A PATCH may remove the description, but a product always has a title.
// @ts-expect-error a PATCH can not set the title to null
export const nullTitle = { title: null } satisfies JsonBody<PatchProduct>;
