// Hetzner hands out IPv6 primary IPs as a /64; the server answers on the ::1 host of it.

/** `2001:db8:1:2::/64` or `2001:db8:1:2::` → `2001:db8:1:2::1`; a host address passes through. */
export function ipv6HostAddress(address: string): string {
  const bare = address.replace(/\/\d+$/, "");
  return bare.endsWith("::") ? `${bare}1` : bare;
}
