// Source ranges of firewall rules (IPv4 and IPv6 CIDRs), parsed with ipaddr.js rather than compared
// as text: one canonical spelling per range, and "open to everyone" computed from the ranges' union.
import ipaddr from "ipaddr.js";

export interface SourceRange {
  family: 4 | 6;
  /** First and last address of the range as integers. */
  first: bigint;
  last: bigint;
  prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

const toBigInt = (a: ipaddr.IPv4 | ipaddr.IPv6): bigint => a.toByteArray().reduce((n, b) => (n << 8n) | BigInt(b), 0n);

/** The range a CIDR names, or why it is not a canonical network address (with the spelling to use). */
export function parseSourceCidr(text: string): SourceRange | { problem: string; fix: string } {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let prefix: number;
  try {
    [addr, prefix] = ipaddr.parseCIDR(text);
  } catch {
    return { problem: "is not a CIDR", fix: "write an address and prefix such as 198.51.100.7/32 or 2001:db8:7::/48" };
  }
  const family = addr.kind() === "ipv4" ? 4 : 6;
  // ipaddr.js also reads inet_aton forms ("0/0", "010.0.0.0" as octal): only dotted decimal counts.
  if (family === 4 && !ipaddr.IPv4.isValidFourPartDecimal(text.split("/")[0]!)) {
    return { problem: "is not a dotted-decimal IPv4 CIDR", fix: "write four decimal octets, e.g. 198.51.100.7/32" };
  }
  if (family === 6 && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return { problem: "is an IPv4-mapped IPv6 range", fix: "write the IPv4 range itself, e.g. 198.51.100.7/32" };
  }
  // /0 is every address however it is spelled ("0::/0", "0.0.0.0/00"): the caller says so.
  if (prefix === 0) return { family, first: 0n, last: (1n << BigInt(BITS[family])) - 1n, prefix };
  const network = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text);
  const canonical = `${family === 4 ? network.toString() : (network as ipaddr.IPv6).toRFC5952String()}/${prefix}`;
  if (toBigInt(network) !== toBigInt(addr))
    return { problem: "has host bits set", fix: `write the network address: ${canonical}` };
  if (canonical !== text) return { problem: "is not in canonical form", fix: `write ${canonical}` };
  const size = 1n << BigInt(BITS[family] - prefix);
  const first = toBigInt(network);
  return { family, first, last: first + size - 1n, prefix };
}

/** Whether the union of the ranges covers every address of the family. */
export function coversAll(ranges: readonly SourceRange[], family: 4 | 6): boolean {
  const sorted = ranges
    .filter((r) => r.family === family)
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  let next = 0n; // the lowest address not yet covered
  for (const r of sorted) {
    if (r.first > next) return false;
    if (r.last + 1n > next) next = r.last + 1n;
  }
  return next === 1n << BigInt(BITS[family]);
}
