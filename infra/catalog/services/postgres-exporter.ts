import { ACCESS, PLATFORM, type ServiceSpec } from "../service-spec.js";

export const postgresExporter: ServiceSpec = {
  name: "postgres-exporter",
  sharedUser: "prometheus",
  configs: ["postgres-exporter-defaults"],
  description: "Prometheus PostgreSQL exporter",
  units: ["prometheus-postgres-exporter.service"],
  timers: [],
  packages: { names: ["prometheus-postgres-exporter"], restart: ["prometheus-postgres-exporter.service"] },
  interfaces: [
    {
      name: "postgres-metrics",
      port: 9187,
      protocol: "tcp",
      class: "C",
      bind: "private",
      owner: PLATFORM,
      access: ACCESS.C,
      justification: "Database metrics scraped by Prometheus over the private network",
      scrapeJob: "postgres",
      clients: ["monitoring"],
    },
  ],
};
