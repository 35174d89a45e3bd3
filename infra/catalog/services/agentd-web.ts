import { libFile } from "../layout.js";
import { ACCESS, ENTRY_ID, type ServiceFile, type ServiceSpec } from "../service-spec.js";

// The runtime's launcher, the release tool and the placeholder release, on every agentd node. The
// release tool gates a release on units that run only once their credentials are delivered: it
// comes with them, after boot; bootstrap puts the placeholder in place by itself.
export const AGENTD_RUNTIME: ServiceFile[] = [
  { template: "cloud-init/files/agentd-exec", path: libFile("agentd-exec") },
  { template: "cloud-init/files/agentd-release", path: "/usr/local/bin/agentd-release", afterBoot: true },
  { template: "cloud-init/files/bootstrap-release/bin/agentd", path: libFile("bootstrap-release/bin/agentd") },
];

export const agentdWeb: ServiceSpec = {
  name: "agentd-web",
  configs: ["agentd-env"],
  description: "Agent runtime HTTP API (FastAPI/uvicorn), behind Caddy",
  units: ["agentd-web.service"],
  timers: [],
  // It logs in to the platform database: over 127.0.0.1 beside it, else over the private network.
  requires: [{ service: "postgresql", on: "some-node" }],
  stopForRestore: ["agentd-web.service"],
  credentials: [
    {
      file: "web",
      source: { map: "webSecrets" },
      description: `web secret ${ENTRY_ID} (agentd-web)`,
      grants: [{ unit: "agentd-web.service", id: ENTRY_ID }],
    },
  ],
  // psql: the cold-start gate logs in as the unit's role before the unit starts (agentd-exec).
  packages: { names: ["postgresql-client"], note: "psql for the cold-start gate (agentd-exec --wait-database)" },
  files: [{ template: "units/agentd-web.service", path: "agentd-web.service" }, ...AGENTD_RUNTIME],
  interfaces: [
    {
      name: "agentd-http",
      port: 8000,
      protocol: "tcp",
      class: "D",
      bind: "localhost",
      owner: "agent-runtime",
      access: ACCESS.D,
      justification: "Upstream of the Caddy sites; never reached directly",
      siteUpstream: true,
    },
  ],
};
