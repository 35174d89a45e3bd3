// The service catalog: every service the toolkit knows, one descriptor module per service in
// infra/catalog/services/ (docs/architecture.md D5, D10), registered here.
import { sshd } from "./services/sshd.js";
import { nodeExporter } from "./services/node-exporter.js";
import { tailscale } from "./services/tailscale.js";
import { ingress } from "./services/ingress.js";
import { agentdWeb } from "./services/agentd-web.js";
import { agentdWorker } from "./services/agentd-worker.js";
import { agentdSweeper } from "./services/agentd-sweeper.js";
import { postgresql } from "./services/postgresql.js";
import { postgresExporter } from "./services/postgres-exporter.js";
import { monitoring } from "./services/monitoring.js";
import { grafana } from "./services/grafana.js";
import { walReceiver } from "./services/wal-receiver.js";
import { backup } from "./services/backup.js";
import { ciRunner } from "./services/ci-runner.js";
import type { ServiceSpec } from "./service-spec.js";

export {
  ACCESS,
  BALANCER_CLIENT,
  ENTRY_ID,
  EXPOSURE_CLASSES,
  serviceHost,
  type Condition,
  type CredentialSpec,
  type GeneratedConfig,
  type Bind,
  type ExposureClass,
  type InterfaceSpec,
  type JobSpec,
  type Lending,
  type NodeView,
  type OptionProblem,
  type PlacedNodeView,
  type RebuildRole,
  type ServiceAdditions,
  type ServiceHost,
  type ServiceSpec,
  type SqlCheck,
} from "./service-spec.js";

/** The services in the order the plan, the firewalls, acceptance and docs walk them. Adding a service is a module and a line here. */
const SERVICES: readonly ServiceSpec[] = [
  sshd,
  nodeExporter,
  tailscale,
  ingress,
  agentdWeb,
  agentdWorker,
  agentdSweeper,
  postgresql,
  postgresExporter,
  monitoring,
  grafana,
  walReceiver,
  backup,
  ciRunner,
];

// No prototype: a service named "constructor" or "toString" is simply not in the catalog.
export const SERVICE_CATALOG: Record<string, ServiceSpec> = Object.assign(
  Object.create(null) as Record<string, ServiceSpec>,
  Object.fromEntries(SERVICES.map((s) => [s.name, s])),
);

export const CATALOG_SERVICE_NAMES = Object.keys(SERVICE_CATALOG).sort();

/** The port of a service's interface, as its descriptor declares it. */
export function portOf(service: string, iface: string): number {
  const port = SERVICE_CATALOG[service]?.interfaces.find((i) => i.name === iface)?.port;
  if (port === undefined) throw new Error(`the service catalog has no interface ${iface} of ${service}`);
  return port;
}

/** Where sshd listens: the admin path's port. */
export const SSH_PORT = portOf("sshd", "ssh");
