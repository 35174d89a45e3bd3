// GET /v1/server_types as the catalog and the rebuild preflight read it: per-location deprecations,
// pagination, every problem of a malformed page at once, and the live verdict on ordering a type.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { orderableVerdict, parseServerTypes, type Availability } from "../../../scripts/lib/server-types.js";
import { ROOT } from "../../support/helpers.js";

const fixture = JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/hetzner-server-types.json"), "utf8"));

describe("GET /v1/server_types", () => {
  it("reads where each type is offered and its deprecation there, as dates", () => {
    const r = parseServerTypes({ ...fixture, meta: { pagination: { page: 1, next_page: 2 } } });
    if (!r.ok) throw new Error(r.problems.join("\n"));
    expect(r.nextPage).toBe(2);
    expect(r.types.cpx22).toEqual({
      fsn1: null,
      nbg1: null,
      hel1: { announced: "2026-10-01", unavailableAfter: "2027-01-31" },
      sin: null,
    });
    expect(Object.keys(r.types)).toHaveLength(fixture.server_types.length);
  });

  it("names every problem of a page at once", () => {
    const r = parseServerTypes({
      server_types: [
        { name: "cx23" },
        { locations: [] },
        { name: "cpx22", locations: [{ name: "fsn1", deprecation: { announced: "soon", unavailable_after: 3 } }] },
      ],
      meta: { pagination: { next_page: "two" } },
    });
    expect(r).toEqual({
      ok: false,
      problems: [
        "server_types[0] (cx23).locations is not a list",
        "server_types[1].name is missing",
        'server_types[2] (cpx22).locations[0].deprecation.announced is "soon", not a date',
        "server_types[2] (cpx22).locations[0].deprecation.unavailable_after is 3, not a date",
        'meta.pagination.next_page is "two", not a page number',
      ],
    });
    expect(parseServerTypes({ servers: [] })).toEqual({
      ok: false,
      problems: ["the response has no `server_types` list"],
    });
  });

  it("calls a type orderable while it is current or in its grace period, and not after, elsewhere or unknown", () => {
    const a: Availability = {
      cpx22: { fsn1: null, hel1: { announced: "2026-10-01", unavailableAfter: "2027-01-31" } },
    };
    expect(orderableVerdict(a, "cpx22", "fsn1", "2026-12-01")).toEqual({
      ok: true,
      message: "cpx22 is current in fsn1",
    });
    expect(orderableVerdict(a, "cpx22", "hel1", "2027-01-31").ok).toBe(true);
    expect(orderableVerdict(a, "cpx22", "hel1", "2027-02-01")).toEqual({
      ok: false,
      message: "cpx22 could be ordered in hel1 until 2027-01-31 (deprecated 2026-10-01): change the node's serverType",
    });
    expect(orderableVerdict(a, "cpx22", "ash", "2026-12-01")).toEqual({
      ok: false,
      message: "cpx22 is not offered in ash (offered in fsn1, hel1)",
    });
    expect(orderableVerdict(a, "cx11", "fsn1", "2026-12-01").ok).toBe(false);
  });
});
