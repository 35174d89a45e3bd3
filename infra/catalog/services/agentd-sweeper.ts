import type { ServiceSpec } from "../service-spec.js";
import { AGENTD_RUNTIME } from "./agentd-web.js";

export const agentdSweeper: ServiceSpec = {
  name: "agentd-sweeper",
  configs: ["agentd-env"],
  description: "Requeues expired leases and enforces TTLs (timer)",
  units: [],
  timers: ["agentd-sweeper.timer"],
  // It logs in to the platform database: over 127.0.0.1 beside it, else over the private network.
  requires: [{ service: "postgresql", on: "some-node" }],
  stopForRestore: ["agentd-sweeper.timer", "agentd-sweeper.service"],
  // psql: the cold-start gate logs in as the unit's role before the unit starts (agentd-exec).
  packages: { names: ["postgresql-client"], note: "psql for the cold-start gate (agentd-exec --wait-database)" },
  files: [
    { template: "units/agentd-sweeper.service", path: "agentd-sweeper.service" },
    { template: "units/agentd-sweeper.timer", path: "agentd-sweeper.timer" },
    ...AGENTD_RUNTIME,
  ],
  interfaces: [],
};
