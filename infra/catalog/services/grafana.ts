import { PLATFORM, type ServiceSpec } from "../service-spec.js";

export const grafana: ServiceSpec = {
  name: "grafana",
  description: "Grafana with the provisioned dashboards (Grafana's apt repository)",
  units: ["grafana-server.service"],
  timers: [],
  singleton: true,
  credentials: [
    {
      file: "grafana-admin-password",
      source: "generated",
      description: "Grafana admin password",
      grants: [{ unit: "grafana-server.service", id: "grafana-admin-password" }],
    },
  ],
  packages: {
    names: ["gpg"],
    note: "Grafana comes from Grafana's own repository (xiopro-monitoring pins its key); gpg checks it",
  },
  // Grafana reads Prometheus on its own node.
  requires: [{ service: "monitoring", on: "same-node" }],
  startedBy: { "grafana-server.service": "xiopro-ops, which installs Grafana with the monitoring bundle" },
  interfaces: [
    {
      name: "grafana",
      port: 3000,
      protocol: "tcp",
      class: "B",
      bind: "all",
      owner: PLATFORM,
      access: "admin overlay (Tailscale); with an SSH allowlist only through an SSH tunnel",
      justification: "Dashboards for operators; never opened in the cloud firewall",
    },
  ],
};
