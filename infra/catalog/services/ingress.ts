import { ACCESS, BALANCER_CLIENT, PLATFORM, type InterfaceSpec, type ServiceSpec } from "../service-spec.js";

export const ingress: ServiceSpec = {
  name: "ingress",
  configs: ["caddyfile", "acme-ca-root"],
  description: "Caddy reverse proxy with automatic HTTPS",
  units: ["caddy.service"],
  timers: [],
  singleton: false,
  packages: { names: ["caddy"], restart: ["caddy.service"] },
  interfaces: [
    {
      name: "http",
      port: 80,
      protocol: "tcp",
      class: "A",
      bind: "all",
      owner: PLATFORM,
      access: ACCESS.A,
      justification: "HTTP→HTTPS redirect and ACME HTTP-01 challenges",
    },
    {
      name: "https",
      port: 443,
      protocol: "tcp",
      class: "A",
      bind: "all",
      owner: PLATFORM,
      access: ACCESS.A,
      justification: "Public HTTPS ingress for the declared sites",
    },
    {
      name: "http3",
      port: 443,
      protocol: "udp",
      class: "A",
      bind: "all",
      owner: PLATFORM,
      access: ACCESS.A,
      justification: "HTTP/3 (QUIC) for the declared sites",
    },
    {
      name: "caddy-admin",
      port: 2019,
      protocol: "tcp",
      class: "D",
      bind: "localhost",
      owner: PLATFORM,
      access: ACCESS.D,
      justification: "Caddy admin API used for graceful config reloads",
    },
    {
      name: "caddy-metrics",
      port: 9180,
      protocol: "tcp",
      class: "C",
      bind: "private",
      owner: PLATFORM,
      access: ACCESS.C,
      justification: "Caddy's request metrics scraped by Prometheus (the admin API itself stays on localhost)",
      scrapeJob: "caddy",
      clients: ["monitoring"],
    },
  ],
};

/** The public interfaces a load balancer takes over on the nodes it fronts. */
const PUBLIC_INGRESS = ["http", "https", "http3"];

/**
 * Ingress on a node behind the stack's load balancer: the balancer terminates TLS, so Caddy answers
 * plain HTTP on the private address to the balancer alone, and nothing of it is public.
 */
export const HTTP_FROM_BALANCER: InterfaceSpec = {
  name: "http-from-balancer",
  port: 80,
  protocol: "tcp",
  class: "C",
  bind: "private",
  owner: PLATFORM,
  access: ACCESS.C,
  justification: "The sites' requests and health checks from the load balancer, which terminates TLS",
  clients: [BALANCER_CLIENT],
};
export const BALANCED_INGRESS_INTERFACES: InterfaceSpec[] = [
  HTTP_FROM_BALANCER,
  ...ingress.interfaces.filter((i) => !PUBLIC_INGRESS.includes(i.name)),
];
