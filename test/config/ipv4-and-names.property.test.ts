// Property tests for the private IP plan and resource naming.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocate,
  contains,
  FIRST_ALLOCATED_OFFSET,
  formatIpv4,
  mask,
  parseCidr,
  parseIpv4,
  size,
  unusableReason,
  type Cidr,
} from "../../infra/config/ipv4.js";
import { planOf } from "../support/helpers.js";

/** Random subnets inside 10.0.0.0/8, /22 to /28, host bits cleared. */
const subnetArb: fc.Arbitrary<Cidr> = fc
  .tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 22, max: 28 }))
  .map(([hi, prefix]) => ({ network: ((((10 << 24) >>> 0) + (hi << 8)) & mask(prefix)) >>> 0, prefix }));

describe("IPv4 helpers", () => {
  it("formats and parses every address back to itself", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => parseIpv4(formatIpv4(n)) === n));
  });

  it("rejects malformed addresses and CIDRs with host bits", () => {
    for (const bad of ["10.0.0", "10.0.0.256", "010.0.0.1", "a.b.c.d", "10.0.0.1.2"])
      expect(parseIpv4(bad)).toBeUndefined();
    for (const bad of ["10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "10.0.0.0/24/1"])
      expect(parseCidr(bad)).toBeUndefined();
  });
});

describe("private IP allocation", () => {
  const requestsArb = (subnet: Cidr) =>
    fc.array(
      fc.record({ explicitOffset: fc.option(fc.integer({ min: 2, max: size(subnet) - 2 }), { nil: undefined }) }),
      { minLength: 1, maxLength: 3 },
    );

  it("gives every node a distinct usable address inside the subnet, honouring explicit ones", () => {
    fc.assert(
      fc.property(
        subnetArb.chain((s) => fc.tuple(fc.constant(s), requestsArb(s))),
        ([subnet, reqs]) => {
          const explicit = reqs.map((r) =>
            r.explicitOffset === undefined ? undefined : subnet.network + r.explicitOffset,
          );
          fc.pre(
            new Set(explicit.filter((e) => e !== undefined)).size === explicit.filter((e) => e !== undefined).length,
          );
          const out = allocate(
            subnet,
            reqs.map((_, i) => ({ id: `n${i}`, explicit: explicit[i] })),
          );
          const ips = [...out.values()];
          expect(ips.every((ip) => ip !== undefined)).toBe(true);
          expect(new Set(ips).size).toBe(ips.length);
          for (const [i, ip] of ips.entries()) {
            expect(contains(subnet, ip!)).toBe(true);
            expect(unusableReason(subnet, ip!)).toBeUndefined();
            if (explicit[i] !== undefined) expect(ip).toBe(explicit[i]);
            else expect(ip! - subnet.network).toBeGreaterThanOrEqual(FIRST_ALLOCATED_OFFSET);
          }
        },
      ),
    );
  });

  it("is deterministic: the same requests always get the same addresses", () => {
    fc.assert(
      fc.property(
        subnetArb.chain((s) => fc.tuple(fc.constant(s), requestsArb(s))),
        ([subnet, reqs]) => {
          const r = reqs.map((x, i) => ({
            id: `n${i}`,
            explicit: x.explicitOffset === undefined ? undefined : subnet.network + x.explicitOffset,
          }));
          expect([...allocate(subnet, r)]).toEqual([...allocate(subnet, r)]);
        },
      ),
    );
  });

  it("reports exhaustion instead of reusing an address", () => {
    const tiny = parseCidr("10.0.0.0/28")!; // 16 addresses: offsets 10..14 usable for allocation
    const out = allocate(
      tiny,
      Array.from({ length: 6 }, (_, i) => ({ id: `n${i}` })),
    );
    expect([...out.values()].map((v) => (v === undefined ? "none" : formatIpv4(v)))).toEqual([
      "10.0.0.10",
      "10.0.0.11",
      "10.0.0.12",
      "10.0.0.13",
      "10.0.0.14",
      "none",
    ]);
  });
});

describe("resource naming", () => {
  const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
  it("produces unique, valid Hetzner names for every node mix and environment", () => {
    fc.assert(
      fc.property(fc.constantFrom("prd", "tst", "dev"), fc.boolean(), fc.boolean(), (env, c, d) => {
        const plan = planOf("tst", (cfg) => {
          cfg.environment = env;
          // prd refuses tst's protection-off settings (production policy): give it prd's.
          if (env === "prd") cfg.protection = { deleteProtection: true, pulumiProtect: true };
          if (c)
            cfg.nodeC = {
              enabled: true,
              serverType: "cpx32",
              volumes: [{ name: "models", sizeGb: 50, mountPoint: "/srv/models" }],
            };
          if (d) cfg.nodeD = { enabled: true, serverType: "cpx22" };
        });
        const names = [
          plan.network.name,
          plan.placementGroup.name,
          ...plan.sshKeys.map((k) => k.name),
          ...plan.nodes.flatMap((n) => [
            n.name,
            n.firewall.name,
            `${n.name}-ipv4`,
            `${n.name}-ipv6`,
            ...n.volumes.map((v) => v.name),
          ]),
        ];
        expect(new Set(names).size).toBe(names.length);
        for (const n of names) expect(n).toMatch(LABEL);
        for (const n of plan.nodes) expect(n.fqdn).toBe(`${n.name}.${plan.domain}`);
      }),
      { numRuns: 30 },
    );
  });
});
