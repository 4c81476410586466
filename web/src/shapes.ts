// The API's shapes that more than one page reads, one definition each (chalicelib/api/schemas.py;
// the OpenAPI document at /v1/openapi.json is the reference).
import type { Money } from "./api";

export type Status = "scheduled" | "live" | "ended";

/** How a drop sells: first come first served, in queue order, or by a seeded draw. */
export type DropMode = "open" | "queue" | "draw";

/** A lineup product as anyone sees it (PublicLineupItem). */
export interface PublicLineupItem {
  productId: string;
  title: string | null;
  image: string | null;
  price: Money;
  perCustomerLimit: number | null;
  mode: DropMode;
  verifiedOnly: boolean;
}

/** The owner's view of a lineup product (LineupItemView). */
export interface LineupItem extends PublicLineupItem {
  quantity: number;
  opensAt: string | null;
  closesAt: string | null;
}

export interface LiveLineupItem extends PublicLineupItem {
  stockLeft: number;
  soldOut: boolean;
  opensAt: string | null;
  closesAt: string | null;
}

export interface TimelineItem {
  seq: number;
  type: "feature" | "drop_open" | "sold_out";
  productId: string;
  at: string;
  price: Money;
  delivery: string;
}

/** GET /v1/sessions/{id}/live */
export interface LiveView {
  id: string;
  status: Status;
  title: string;
  playbackUrl: string;
  featuredProductId: string | null;
  viewerCount: number | null;
  likes: number;
  timeline: TimelineItem[];
  lineup: LiveLineupItem[];
}

export interface Order {
  id: string;
  sessionId: string;
  status: "reserved" | "paying" | "paid" | "cancelled" | "expired";
  items: { productId: string; quantity: number; unitPrice: Money }[];
  total: Money;
  createdAt: string;
  expiresAt: string;
}

/** A shopper's entry in a queue or draw drop (EntryView: POST .../drops/{productId}/entries). */
export interface Entry {
  sessionId: string;
  productId: string;
  position: number;
  joinedAt: string;
}

/** Where the entry stands (EntryStatusView: GET .../drops/{productId}/entries/me). */
export interface EntryStatus extends Entry {
  state: "waiting" | "admitted" | "lapsed" | "sold_out" | "closed" | "entered" | "won" | "not_won";
  ahead: number | null;
  admission: string | null;
  admissionExpiresAt: string | null;
  orderId: string | null;
}

/** A draw drop's draw as published (DrawView: GET .../drops/{productId}/draw). */
export interface DrawView {
  sessionId: string;
  productId: string;
  state: "open" | "drawn";
  opensAt: string;
  seedHash: string;
  seed: string | null;
  drawnAt: string | null;
  units: number | null;
  entrantCount: number | null;
  winners: string[] | null;
  allocated: boolean;
}
