// Hetzner Cloud's server types, GET /v1/server_types: where each type is offered and where it is
// deprecated. Since 2025 the deprecation is per location (`locations[].deprecation`); the type-wide
// `deprecation` field is itself deprecated and not read.
//
// {server_types: [{id, name, cores, memory, ..., locations: [{id, name, deprecation: null |
//   {announced, unavailable_after}}]}], meta: {pagination: {page, next_page, ...}}}
import type { Deprecation } from "../../infra/catalog/index.js";

/** Server type → location where it is offered → its deprecation there (null: current). */
export type Availability = Record<string, Record<string, Deprecation | null>>;

export type ServerTypesPage =
  { ok: true; types: Availability; nextPage: number | null } | { ok: false; problems: string[] };

const ISO_DATE = /^(\d{4}-\d{2}-\d{2})(T[\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/;

/** Parses one page of the response (already JSON-decoded). Collects every problem instead of stopping at one. */
export function parseServerTypes(body: unknown): ServerTypesPage {
  const problems: string[] = [];
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const list = obj(body) ? body.server_types : undefined;
  if (!Array.isArray(list)) return { ok: false, problems: ["the response has no `server_types` list"] };
  const date = (v: unknown, where: string): string | undefined => {
    const m = typeof v === "string" ? ISO_DATE.exec(v) : null;
    if (!m) problems.push(`${where} is ${JSON.stringify(v)}, not a date`);
    return m?.[1];
  };
  const types: Availability = {};
  list.forEach((t, i) => {
    if (!obj(t) || typeof t.name !== "string") return void problems.push(`server_types[${i}].name is missing`);
    const at = `server_types[${i}] (${t.name})`;
    if (!Array.isArray(t.locations)) return void problems.push(`${at}.locations is not a list`);
    const where: Record<string, Deprecation | null> = {};
    t.locations.forEach((l, j) => {
      if (!obj(l) || typeof l.name !== "string") return void problems.push(`${at}.locations[${j}].name is missing`);
      const d = l.deprecation;
      if (d === null || d === undefined) where[l.name] = null;
      else if (!obj(d)) problems.push(`${at}.locations[${j}].deprecation is not an object`);
      else {
        const announced = date(d.announced, `${at}.locations[${j}].deprecation.announced`);
        const unavailableAfter = date(d.unavailable_after, `${at}.locations[${j}].deprecation.unavailable_after`);
        if (announced && unavailableAfter) where[l.name] = { announced, unavailableAfter };
      }
    });
    types[t.name] = where;
  });
  const meta = obj(body) && obj(body.meta) && obj(body.meta.pagination) ? body.meta.pagination : undefined;
  const next = meta?.next_page;
  if (next !== undefined && next !== null && !Number.isInteger(next))
    problems.push(`meta.pagination.next_page is ${JSON.stringify(next)}, not a page number`);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, types, nextPage: typeof next === "number" ? next : null };
}

/**
 * Whether a new server of this type can be ordered in this location on `today` (YYYY-MM-DD), as the
 * live API says: offered there, and not past its last day. A deprecation still in its grace period
 * is a warning, not a refusal: the rebuild needs the server now.
 */
export function orderableVerdict(
  a: Availability,
  serverType: string,
  location: string,
  today: string,
): { ok: boolean; message: string } {
  const t = a[serverType];
  if (!t) return { ok: false, message: `${serverType} is not a server type Hetzner offers any more` };
  if (!(location in t))
    return {
      ok: false,
      message: `${serverType} is not offered in ${location} (offered in ${Object.keys(t).sort().join(", ") || "no location"})`,
    };
  const d = t[location];
  if (!d) return { ok: true, message: `${serverType} is current in ${location}` };
  if (today > d.unavailableAfter)
    return {
      ok: false,
      message: `${serverType} could be ordered in ${location} until ${d.unavailableAfter} (deprecated ${d.announced}): change the node's serverType`,
    };
  return {
    ok: true,
    message: `${serverType} can still be ordered in ${location}, until ${d.unavailableAfter} (deprecated ${d.announced}): plan the move to a current type`,
  };
}
