import { PLATFORM, type ServiceSpec } from "../service-spec.js";

export const tailscale: ServiceSpec = {
  name: "tailscale",
  description: "Tailscale daemon (admin overlay)",
  units: ["tailscaled.service"],
  timers: [],
  interfaces: [
    {
      name: "wireguard",
      port: 41641,
      protocol: "udp",
      class: "B",
      bind: "all",
      owner: PLATFORM,
      access: "outbound NAT traversal only; no inbound opening in any firewall",
      justification: "WireGuard transport of the admin overlay",
    },
  ],
};
