import type { ServiceSpec } from "../service-spec.js";

export const backup: ServiceSpec = {
  name: "backup",
  description: "pgBackRest and restic jobs with their timers, and the restore drill",
  units: [],
  timers: [],
  singleton: true,
  packages: { names: ["pgbackrest", "restic"] },
  interfaces: [],
};
