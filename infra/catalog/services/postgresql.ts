import { ACCESS, PLATFORM, type ServiceSpec } from "../service-spec.js";

export const postgresql: ServiceSpec = {
  name: "postgresql",
  description: "PostgreSQL (distro package) with data on a Hetzner Volume",
  units: ["postgresql.service", "xiopro-postgres-roles.service"],
  timers: [],
  singleton: true,
  packages: { names: ["postgresql"] },
  startedBy: { "postgresql.service": "setup-postgresql, once the data volume is mounted" },
  interfaces: [
    {
      name: "postgres-local",
      port: 5432,
      protocol: "tcp",
      class: "D",
      bind: "localhost",
      owner: PLATFORM,
      access: ACCESS.D,
      justification: "Local services and backups connect over localhost",
    },
    {
      name: "postgres-private",
      port: 5432,
      protocol: "tcp",
      class: "C",
      bind: "private",
      owner: PLATFORM,
      access: ACCESS.C,
      justification: "Services on other nodes connect over the private network (scram-sha-256)",
    },
  ],
};
