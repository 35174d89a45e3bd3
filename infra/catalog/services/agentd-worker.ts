import type { ServiceSpec } from "../service-spec.js";

export const agentdWorker: ServiceSpec = {
  name: "agentd-worker",
  description: "Agent workers (agentd-worker@N), leasing tasks from PostgreSQL",
  units: [],
  timers: [],
  interfaces: [],
};
