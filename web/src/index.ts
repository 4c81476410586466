// The home page: live sessions (and the coming and past ones), each linking to its viewer.
import { call, el, every, formatTime, inWords } from "./api";

interface Summary {
  id: string;
  title: string;
  status: "scheduled" | "live" | "ended";
  scheduledAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

async function fill(status: Summary["status"], empty: string): Promise<void> {
  const list = document.getElementById(status) as HTMLUListElement;
  try {
    const page = await call<{ items: Summary[] }>(`/v1/sessions?status=${status}&limit=20`);
    list.replaceChildren(...page.items.map((session) => {
      const when = status === "live" ? `live since ${formatTime(session.startedAt)}`
        : status === "ended" ? `ended ${formatTime(session.endedAt)}` : formatTime(session.scheduledAt);
      return el("li", {}, el("a", { href: `/watch/${session.id}`, text: session.title }),
        el("span", { class: "muted", text: ` · ${when}` }));
    }));
    if (!page.items.length) list.replaceChildren(el("li", { class: "muted", text: empty }));
  } catch (error) {
    list.replaceChildren(el("li", { class: "warn", text: inWords(error) }));
  }
}

every(15_000, () => fill("live", "No show is live right now."));
void fill("scheduled", "Nothing scheduled.");
void fill("ended", "No replays yet.");
