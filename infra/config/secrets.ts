// The secret inventory: every secret a node needs, who may read it (units), and how it is
// exposed inside the unit (credential id). Values never pass through here: only names.
// Delivery stores each as /etc/credstore.encrypted/<file> (systemd-creds, host key), and units
// read them with LoadCredentialEncrypted= (docs/architecture.md D3).
import type { StackConfig } from "./keys.js";
import { listedServices, stackNodes } from "./stack-nodes.js";
import { NODE_LAYOUT } from "../catalog/layout.js";
import { ENTRY_ID, SERVICE_CATALOG, type Condition } from "../catalog/services.js";

export interface SecretGrant {
  /** Unit that may read the secret. */
  unit: string;
  /** Credential id inside the unit ($CREDENTIALS_DIRECTORY/<id>). UPPER_SNAKE ids become env vars via agentd-exec. */
  id: string;
}

export interface SecretPlan {
  /** File name under /etc/credstore.encrypted/. */
  file: string;
  /** generated: random, owned by the stack; config: `pulumi config set --secret` by the operator. */
  source: "generated" | "config";
  /** Config key (and entry, for maps) that holds the value, for config secrets. */
  configKey?: string;
  configEntry?: string;
  description: string;
  grants: SecretGrant[];
  /** Units restarted on delivery besides the granted ones. */
  restart?: string[];
}

export const CREDSTORE = NODE_LAYOUT.XIOPRO_CREDSTORE;
/** Fallback value of a credential that was not delivered yet (systemd rejects an empty one).
 * cloud-init/files/xiopro-lib.sh and agentd-exec recognise it; a test keeps them in step. */
export const UNDELIVERED = "xiopro-credential-not-delivered";

/** A dotted config path's value ("monitoring.email.username"), or undefined. */
function setting(config: StackConfig, dotted: string): unknown {
  let v: unknown = config;
  for (const part of dotted.split("."))
    v = v && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function holds(config: StackConfig, services: readonly string[], c: Condition): boolean {
  if ("service" in c)
    return c.on === "same-node"
      ? services.includes(c.service)
      : stackNodes(config).some((n) => listedServices(n.config).includes(c.service));
  const v = setting(config, c.setting);
  return c.equals === undefined ? v !== undefined && v !== null && v !== false && v !== "" : v === c.equals;
}

/** A map entry's credential file: `<prefix>-<entry in kebab case>`. */
const entryFile = (prefix: string, entry: string) => `${prefix}-${entry.toLowerCase().replace(/_/g, "-")}`;

/**
 * Secrets a node needs: the credentials its services declare (their descriptors' `credentials`),
 * in catalog order, with the grants whose conditions hold on this node and stack.
 */
export function nodeSecrets(config: StackConfig, services: readonly string[]): SecretPlan[] {
  const out: SecretPlan[] = [];
  const all = (when: readonly Condition[] | undefined) => (when ?? []).every((c) => holds(config, services, c));
  const runsSomewhere = (service: string) => holds(config, services, { service, on: "some-node" });
  for (const spec of Object.values(SERVICE_CATALOG)) {
    for (const cred of spec.credentials ?? []) {
      // Its own nodes, or (with `on`) the nodes of the service it is placed on while it runs somewhere.
      const here = cred.on ? services.includes(cred.on) && runsSomewhere(spec.name) : services.includes(spec.name);
      if (!here || !all(cred.when)) continue;
      const grants = cred.grants.filter((g) => all(g.when)).map((g) => ({ unit: g.unit, id: g.id }));
      const restart = cred.restart ? { restart: [...cred.restart] } : {};
      const src = cred.source;
      if (src === "generated")
        out.push({ file: cred.file, source: "generated", description: cred.description, grants, ...restart });
      else if ("key" in src)
        out.push({
          file: cred.file,
          source: "config",
          configKey: src.key,
          description: cred.description,
          grants,
          ...restart,
        });
      else {
        const entries = Object.keys(
          (config as unknown as Record<string, Record<string, string> | undefined>)[src.map] ?? {},
        );
        for (const entry of entries.sort())
          out.push({
            file: entryFile(cred.file, entry),
            source: "config",
            configKey: src.map,
            configEntry: entry,
            description: cred.description.replaceAll(ENTRY_ID, entry),
            grants: grants.map((g) => ({ unit: g.unit, id: g.id.replaceAll(ENTRY_ID, entry) })),
          });
      }
    }
  }
  // One file, one entry: a credential placed both by its service and for a client on the same node
  // (a role's password beside PostgreSQL) joins their grants.
  const merged: SecretPlan[] = [];
  for (const s of out) {
    const seen = merged.find((m) => m.file === s.file);
    if (!seen) merged.push(s);
    else
      for (const g of s.grants) if (!seen.grants.some((x) => x.unit === g.unit && x.id === g.id)) seen.grants.push(g);
  }
  return merged;
}

/** The unit's `LoadCredentialEncrypted=` lines, each with a `SetCredential=` fallback (systemd uses
 * it when the encrypted file cannot be loaded), so a missing credential is reported by the unit's
 * own program with a clear message (and a state file for jobs) instead of a bare start failure. */
export function credentialLines(secrets: readonly SecretPlan[], unit: string): string {
  const lines: string[] = [];
  for (const s of secrets) {
    for (const g of s.grants.filter((x) => x.unit === unit)) {
      lines.push(`LoadCredentialEncrypted=${g.id}:${CREDSTORE}/${s.file}`, `SetCredential=${g.id}:${UNDELIVERED}`);
    }
  }
  return lines.join("\n");
}

/** Config keys holding secrets that the stack needs, with why; besides the delivered credentials
 * this covers the Tailscale join key and the admin key Pulumi delivers with. */
export function requiredSecretKeys(
  config: StackConfig,
  nodeServices: readonly (readonly string[])[],
): { key: string; why: string }[] {
  const out = new Map<string, string>();
  for (const services of nodeServices) {
    for (const s of nodeSecrets(config, services))
      if (s.configKey && !s.configEntry) out.set(s.configKey, s.description);
  }
  if (config.adminPath.mode === "tailscale")
    out.set("tailscaleAuthKey", "joins each node to the tailnet at first boot (admin path tailscale)");
  if (out.size > 0 || nodeServices.some((s) => s.includes("postgresql")))
    out.set("adminSshPrivateKey", "Pulumi delivers credentials over the admin path with it");
  return [...out].map(([key, why]) => ({ key, why }));
}
