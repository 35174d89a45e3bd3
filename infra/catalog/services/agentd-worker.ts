import type { ServiceSpec } from "../service-spec.js";
import { AGENTD_RUNTIME } from "./agentd-web.js";

export const agentdWorker: ServiceSpec = {
  name: "agentd-worker",
  description: "Agent workers (agentd-worker@N), leasing tasks from PostgreSQL",
  units: [],
  timers: [],
  files: [{ template: "units/agentd-worker@.service", path: "agentd-worker@.service" }, ...AGENTD_RUNTIME],
  interfaces: [],
};
