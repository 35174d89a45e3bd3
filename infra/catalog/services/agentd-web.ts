import { ACCESS, type ServiceSpec } from "../service-spec.js";

export const agentdWeb: ServiceSpec = {
  name: "agentd-web",
  description: "Agent runtime HTTP API (FastAPI/uvicorn), behind Caddy",
  units: ["agentd-web.service"],
  timers: [],
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
