// IPv4 arithmetic for the private network plan. Pure; property-tested in test/config/ipv4-and-names.property.test.ts.

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255) || m.slice(1).some((o) => o.length > 1 && o.startsWith("0"))) return undefined;
  return ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/p`; undefined when malformed or when host bits are set. */
export function parseCidr(text: string): Cidr | undefined {
  const [ip, p, ...rest] = text.split("/");
  if (rest.length > 0 || ip === undefined || p === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const prefix = Number(p);
  const addr = parseIpv4(ip);
  if (addr === undefined || prefix > 32) return undefined;
  if ((addr & mask(prefix)) >>> 0 !== addr) return undefined;
  return { network: addr, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & mask(c.prefix)) >>> 0 === c.network;
}

export function cidrInside(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.network);
}

const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((t) => parseCidr(t)!);

export function isRfc1918(c: Cidr): boolean {
  return PRIVATE_RANGES.some((r) => cidrInside(c, r));
}

/**
 * Why an address cannot be a node's private IP in this subnet, or undefined when it can.
 * Hetzner keeps the subnet's network address, its first host (the gateway) and the broadcast address.
 */
export function unusableReason(subnet: Cidr, ip: number): string | undefined {
  if (!contains(subnet, ip)) return `is outside the subnet ${formatCidr(subnet)}`;
  const offset = ip - subnet.network;
  if (offset === 0) return "is the subnet's network address";
  if (offset === 1) return "is the subnet's gateway address (reserved by Hetzner)";
  if (offset === size(subnet) - 1) return "is the subnet's broadcast address";
  return undefined;
}

/** First host offset used for automatic allocation; .2–.9 stay free for hand-placed things. */
export const FIRST_ALLOCATED_OFFSET = 10;

/**
 * Allocates private IPs deterministically: nodes in the given order take the lowest free
 * address from FIRST_ALLOCATED_OFFSET on, skipping addresses that other nodes fixed explicitly.
 * Returns undefined for a node when the subnet is exhausted.
 */
export function allocate(
  subnet: Cidr,
  requests: ReadonlyArray<{ id: string; explicit?: number }>,
): Map<string, number | undefined> {
  const taken = new Set(requests.flatMap((r) => (r.explicit === undefined ? [] : [r.explicit])));
  const out = new Map<string, number | undefined>();
  let offset = FIRST_ALLOCATED_OFFSET;
  const last = size(subnet) - 2;
  for (const r of requests) {
    if (r.explicit !== undefined) {
      out.set(r.id, r.explicit);
      continue;
    }
    while (offset <= last && taken.has(subnet.network + offset)) offset++;
    if (offset > last) {
      out.set(r.id, undefined);
      continue;
    }
    const ip = subnet.network + offset;
    taken.add(ip);
    out.set(r.id, ip);
    offset++;
  }
  return out;
}
