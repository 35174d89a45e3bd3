import type { ServiceSpec } from "../service-spec.js";

export const agentdSweeper: ServiceSpec = {
  name: "agentd-sweeper",
  description: "Requeues expired leases and enforces TTLs (timer)",
  units: [],
  timers: ["agentd-sweeper.timer"],
  interfaces: [],
};
