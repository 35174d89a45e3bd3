// A Mermaid flowchart of the plan: internet, firewalls, nodes in the private network, volumes,
// DNS records, and Node B as an optional admin peer (dashed: production never depends on it).
import { LOAD_BALANCER_RECORD, type Plan } from "./index.js";

const id = (s: string) => s.replace(/[^A-Za-z0-9]/g, "_");
const label = (s: string) => s.replace(/"/g, "'");

export function topologyMermaid(plan: Plan): string {
  const out: string[] = ["flowchart LR"];
  out.push(`  internet(("Internet"))`);
  if (plan.dns.records.length > 0) {
    out.push(`  subgraph dns["DNS zone ${label(plan.dns.zone)} (${plan.dns.mode})"]`);
    const names = [...new Set(plan.dns.records.map((r) => r.fqdn))];
    for (const fqdn of names) {
      const types = plan.dns.records
        .filter((r) => r.fqdn === fqdn)
        .map((r) => r.type)
        .join("/");
      out.push(`    ${id(`rec_${fqdn}`)}["${label(fqdn)} ${types}"]`);
    }
    out.push("  end");
  }
  out.push(
    `  subgraph net["${label(plan.network.name)} ${plan.network.cidr} (subnet ${plan.network.subnet}, ${plan.network.networkZone})"]`,
  );
  for (const n of plan.nodes) {
    out.push(`    ${id(n.name)}["${label(n.name)}<br/>${n.serverType} ${n.location}<br/>${n.privateIp}"]`);
  }
  out.push("  end");
  for (const n of plan.nodes) {
    const fw = id(n.firewall.name);
    const open = n.firewall.rules.map((r) => (r.port ? `${r.protocol}/${r.port}` : r.protocol)).join(", ");
    out.push(`  ${fw}{{"${label(n.firewall.name)}: ${open}"}}`);
    if (n.publicIpv4 || n.publicIpv6) out.push(`  internet --> ${fw} --> ${id(n.name)}`);
    for (const v of n.volumes) {
      out.push(`  ${id(v.name)}[("${label(v.name)} ${v.sizeGb} GB<br/>${label(v.mountPoint)}")]`);
      out.push(`  ${id(n.name)} --- ${id(v.name)}`);
    }
  }
  const lb = plan.loadBalancer;
  if (lb) {
    // The balancer answers the internet and reaches its targets over the private network.
    out.push(`  ${id(lb.name)}[/"${label(lb.name)}<br/>${lb.type} ${lb.location}<br/>${lb.privateIp}"/]`);
    out.push(`  internet --> ${id(lb.name)}`);
    for (const key of lb.targets)
      out.push(`  ${id(lb.name)} -- "https → http:80" --> ${id(plan.nodes.find((n) => n.key === key)!.name)}`);
  }
  for (const r of plan.dns.records) {
    const to = r.node === LOAD_BALANCER_RECORD ? lb!.name : plan.nodes.find((n) => n.key === r.node)!.name;
    out.push(`  ${id(`rec_${r.fqdn}`)} -.-> ${id(to)}`);
  }
  const b = plan.nodeB.tailscaleName ? `Node B: ${label(plan.nodeB.tailscaleName)}` : "Node B (operator)";
  const via = plan.adminPath.mode === "tailscale" ? "tailnet (admin only)" : "SSH allowlist (admin only)";
  out.push(`  nodeB["${b}"]`);
  for (const n of plan.nodes) out.push(`  nodeB -. "${via}" .-> ${id(n.name)}`);
  return out.join("\n") + "\n";
}
