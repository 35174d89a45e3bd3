import { ACCESS, PLATFORM, type ServiceSpec } from "../service-spec.js";

export const monitoring: ServiceSpec = {
  name: "monitoring",
  sharedUser: "prometheus",
  configs: ["monitoring-defaults"],
  description: "Prometheus, Alertmanager and the blackbox exporter (HTTPS and certificate probes)",
  units: ["prometheus.service", "prometheus-alertmanager.service", "prometheus-blackbox-exporter.service"],
  timers: [],
  singleton: true,
  // Alert delivery's secrets, for the settings that need them.
  credentials: [
    {
      file: "alert-smtp-password",
      source: { key: "alertSmtpPassword" },
      description: "SMTP password for alert e-mail",
      when: [{ setting: "monitoring.email.username" }],
      grants: [{ unit: "prometheus-alertmanager.service", id: "alert-smtp-password" }],
    },
    {
      file: "alert-webhook-token",
      source: { key: "alertWebhookToken" },
      description: "bearer token of the alert webhook",
      when: [{ setting: "monitoring.webhook" }],
      grants: [{ unit: "prometheus-alertmanager.service", id: "alert-webhook-token" }],
    },
  ],
  packages: {
    names: ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
    restart: ["prometheus.service", "prometheus-alertmanager.service", "prometheus-blackbox-exporter.service"],
  },
  interfaces: [
    {
      name: "prometheus",
      port: 9090,
      protocol: "tcp",
      class: "C",
      bind: "private",
      owner: PLATFORM,
      access: ACCESS.C,
      justification: "Metrics store and rule evaluation; Grafana and operators (through the admin path) query it",
      scrapeJob: "prometheus",
      clients: ["grafana"],
    },
    {
      name: "alertmanager",
      port: 9093,
      protocol: "tcp",
      class: "D",
      bind: "localhost",
      owner: PLATFORM,
      access: ACCESS.D,
      justification: "Receives alerts from Prometheus on the same node; clustering is off, so no port 9094",
      scrapeJob: "alertmanager",
    },
    {
      name: "blackbox",
      port: 9115,
      protocol: "tcp",
      class: "D",
      bind: "localhost",
      owner: PLATFORM,
      access: ACCESS.D,
      justification: "Probes the public sites from the node for availability and certificate expiry",
      scrapeJob: "blackbox",
    },
  ],
};
