// A Storage Box the stack creates for the sftp repository (backup.repository.createStorageBox): its
// plan, the repository settings its sub-account gives the rendered configs, and the SSH key material.
// Pure: no Pulumi, no I/O.
import type { Plan } from "./index.js";

export interface StorageBoxPlan {
  /** Hetzner name of the box. */
  name: string;
  type: string;
  location: string;
  /** The sub-account's home: the repository path without its leading slash (Hetzner's form). */
  homeDirectory: string;
  labels: Record<string, string>;
  deleteProtection: boolean;
  pulumiProtect: boolean;
}

export function storageBoxPlan(plan: Plan): StorageBoxPlan | undefined {
  const r = plan.backup.repository;
  if (r.kind !== "sftp" || !r.createStorageBox) return undefined;
  return {
    name: `${plan.environment}-backups`,
    type: r.createStorageBox.type,
    location: r.createStorageBox.location ?? plan.nodes[0]?.location ?? "fsn1",
    homeDirectory: r.path.replace(/^\/+|\/+$/g, ""),
    labels: { env: plan.environment, "managed-by": "xiopro-infra", stack: plan.stack, purpose: "backups" },
    deleteProtection: plan.protection.deleteProtection,
    pulumiProtect: plan.protection.pulumiProtect,
  };
}

/** The plan as the node renders it once the sub-account exists: its host and user, and the
 * repository at the root of the sub-account (whose root is the configured path). */
export function withStorageBox(plan: Plan, facts: { host: string; user: string }): Plan {
  const root = "/" as Plan["backup"]["repository"]["path"];
  return {
    ...plan,
    backup: {
      ...plan.backup,
      repository: { ...plan.backup.repository, host: facts.host, user: facts.user, path: root },
    },
  };
}

export class SshKeyError extends Error {}

/**
 * The OpenSSH public key line of an unencrypted OpenSSH private key ("-----BEGIN OPENSSH PRIVATE
 * KEY-----", ssh-keygen's default format). The public half sits unencrypted in the key's header:
 * "openssh-key-v1\0", cipher, kdf, kdf options, key count, then each public key blob.
 */
export function opensshPublicKey(privateKey: string, comment = ""): string {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END OPENSSH PRIVATE KEY-----/.exec(privateKey);
  if (!m)
    throw new SshKeyError(
      "is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----); create one with: ssh-keygen -t ed25519 -N '' -f storagebox-key",
    );
  const buf = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  const magic = "openssh-key-v1\0";
  if (buf.subarray(0, magic.length).toString("latin1") !== magic) throw new SshKeyError("is not an openssh-key-v1 key");
  let off = magic.length;
  const str = (): Buffer => {
    if (off + 4 > buf.length) throw new SshKeyError("is truncated");
    const n = buf.readUInt32BE(off);
    if (off + 4 + n > buf.length) throw new SshKeyError("is truncated");
    const s = buf.subarray(off + 4, off + 4 + n);
    off += 4 + n;
    return s;
  };
  const cipher = str().toString();
  str(); // kdf name
  str(); // kdf options
  if (cipher !== "none")
    throw new SshKeyError(
      "has a passphrase, which the node's backup jobs cannot enter; remove it with: ssh-keygen -p -N '' -f <key>",
    );
  const count = buf.readUInt32BE(off);
  off += 4;
  if (count !== 1) throw new SshKeyError(`holds ${count} keys; give exactly one`);
  const blob = str();
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString();
  return `${type} ${blob.toString("base64")}${comment ? ` ${comment}` : ""}`;
}

/** RFC 4716 form of an OpenSSH public key line (the Storage Box's port 22 SFTP service reads it). */
export function rfc4716PublicKey(openssh: string): string {
  const b64 = openssh.split(" ")[1] ?? "";
  return ["---- BEGIN SSH2 PUBLIC KEY ----", ...(b64.match(/.{1,70}/g) ?? []), "---- END SSH2 PUBLIC KEY ----"].join(
    "\n",
  );
}

/** A sub-account's .ssh/authorized_keys: both forms, as Hetzner asks for ports 22 and 23. */
export function storageBoxAuthorizedKeys(openssh: string): string {
  return `${openssh}\n${rfc4716PublicKey(openssh)}\n`;
}
