import { ENTRY_ID, type ServiceSpec } from "../service-spec.js";
import { AGENTD_RUNTIME } from "./agentd-web.js";

export const agentdWorker: ServiceSpec = {
  name: "agentd-worker",
  configs: ["agentd-env"],
  description: "Agent workers (agentd-worker@N), leasing tasks from PostgreSQL",
  units: [],
  timers: [],
  // It logs in to the platform database: over 127.0.0.1 beside it, else over the private network.
  requires: [{ service: "postgresql", on: "some-node" }],
  stopForRestore: ["agentd-worker@*.service"],
  credentials: [
    {
      file: "provider",
      source: { map: "providerKeys" },
      description: `provider key ${ENTRY_ID} (agentd workers)`,
      grants: [{ unit: "agentd-worker@.service", id: ENTRY_ID }],
    },
  ],
  // psql: the cold-start gate logs in as the unit's role before the unit starts (agentd-exec).
  packages: { names: ["postgresql-client"], note: "psql for the cold-start gate (agentd-exec --wait-database)" },
  files: [{ template: "units/agentd-worker@.service", path: "agentd-worker@.service" }, ...AGENTD_RUNTIME],
  interfaces: [],
};
