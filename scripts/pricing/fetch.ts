// GET /v1/pricing and /v1/server_types with the project's token. Every failure becomes a
// PricingError that says what went wrong and what to do; nothing is written before both parsed.
import { parsePricing, type PricingSnapshot } from "./hetzner.js";
import { parseServerTypes, type Availability } from "../lib/server-types.js";

export const DEFAULT_ENDPOINT = "https://api.hetzner.cloud/v1";

export class PricingError extends Error {}

/** Hetzner's error body: {"error": {"code": "unauthorized", "message": "…"}}. */
function apiError(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (e?.code || e?.message) return [e.code, e.message].filter(Boolean).join(": ");
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim().slice(0, 120) || "no body";
}

/** GET `path` with the project's token: the decoded JSON body, or a PricingError saying what to do. */
async function getJson(endpoint: string, path: string, token: string, timeoutMs: number): Promise<unknown> {
  const url = `${endpoint.replace(/\/+$/, "")}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        "User-Agent": "xiopro-infra pricing:sync",
      },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why =
      (e as Error).name === "TimeoutError"
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new PricingError(`cannot reach ${url} (${why}): check the network, or HCLOUD_ENDPOINT if you set it`);
  }
  const text = await res.text();
  if (res.status === 401 || res.status === 403) {
    throw new PricingError(
      `the Hetzner API refused HCLOUD_TOKEN (HTTP ${res.status} ${apiError(text)}): create an API token in the Hetzner Cloud console (your project → Security → API tokens; read access is enough) and export it as HCLOUD_TOKEN`,
    );
  }
  if (!res.ok) throw new PricingError(`GET ${url} answered HTTP ${res.status} (${apiError(text)}): try again later`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PricingError(
      `GET ${url} answered with something that is not JSON (${(e as Error).message}; starts with ${JSON.stringify(text.slice(0, 60))}): is HCLOUD_ENDPOINT the Hetzner Cloud API?`,
    );
  }
}

export async function fetchPricing(endpoint: string, token: string, timeoutMs = 30_000): Promise<PricingSnapshot> {
  const body = await getJson(endpoint, "/pricing", token, timeoutMs);
  const parsed = parsePricing(body);
  if (!parsed.ok)
    throw new PricingError(
      `GET ${endpoint.replace(/\/+$/, "")}/pricing answered with a price list this tool cannot read:\n  - ${parsed.problems.join("\n  - ")}\nfix: check HCLOUD_ENDPOINT, or update scripts/pricing/hetzner.ts if the API changed`,
    );
  if (parsed.snapshot.currency !== "EUR") {
    throw new PricingError(
      `the price list is in ${parsed.snapshot.currency}, but the catalog is in EUR: use a token of a project billed in EUR`,
    );
  }
  return parsed.snapshot;
}

/** Every page of GET /v1/server_types: where each type is offered, and deprecated. */
export async function fetchServerTypes(endpoint: string, token: string, timeoutMs = 30_000): Promise<Availability> {
  const out: Availability = {};
  for (let page: number | null = 1; page !== null;) {
    const path = `/server_types?per_page=50&page=${page}`;
    const parsed = parseServerTypes(await getJson(endpoint, path, token, timeoutMs));
    if (!parsed.ok)
      throw new PricingError(
        `GET ${endpoint.replace(/\/+$/, "")}${path} answered with server types this tool cannot read:\n  - ${parsed.problems.join("\n  - ")}\nfix: check HCLOUD_ENDPOINT, or update scripts/lib/server-types.ts if the API changed`,
      );
    Object.assign(out, parsed.types);
    if (parsed.nextPage !== null && parsed.nextPage <= page)
      throw new PricingError(`GET ${path} names page ${parsed.nextPage} as the next: the API's pagination is broken`);
    page = parsed.nextPage;
  }
  return out;
}
