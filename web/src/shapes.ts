// The API's shapes that more than one page reads, one definition each (chalicelib/api/schemas.py;
// the OpenAPI document at /v1/openapi.json is the reference).
import type { Money } from "./api";

export type Status = "scheduled" | "live" | "ended";

/** A lineup product as anyone sees it (PublicLineupItem). */
export interface PublicLineupItem {
  productId: string;
  title: string | null;
  image: string | null;
  price: Money;
  perCustomerLimit: number | null;
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
