import { ACCESS, PLATFORM, type ServiceSpec } from "../service-spec.js";

export const nodeExporter: ServiceSpec = {
  name: "node-exporter",
  sharedUser: "prometheus",
  configs: ["node-exporter-defaults"],
  description: "Prometheus node exporter (host metrics)",
  units: ["prometheus-node-exporter.service"],
  timers: [],
  baseline: true,
  packages: { names: ["prometheus-node-exporter"], restart: ["prometheus-node-exporter.service"] },
  interfaces: [
    {
      name: "node-metrics",
      port: 9100,
      protocol: "tcp",
      class: "C",
      bind: "private",
      owner: PLATFORM,
      access: ACCESS.C,
      justification: "Host metrics scraped by Prometheus over the private network",
      scrapeJob: "node",
      clients: ["monitoring"],
    },
  ],
};
