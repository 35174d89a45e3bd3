import { ACCESS, PLATFORM, type ServiceSpec } from "../service-spec.js";

export const sshd: ServiceSpec = {
  name: "sshd",
  configs: ["fail2ban-sshd"],
  description: "OpenSSH, the admin path",
  units: ["ssh.service"],
  timers: [],
  baseline: true,
  packages: {
    names: ["fail2ban", "python3-systemd"],
    onlyWithSshAllowlist: true,
    note: "fail2ban's systemd backend needs python3-systemd (a Recommends, which nodes do not install)",
    restart: ["fail2ban.service"],
  },
  startedBy: { "ssh.service": "the image (running at boot); bootstrap reloads it after sshd -t" },
  interfaces: [
    {
      name: "ssh",
      port: 22,
      protocol: "tcp",
      class: "B",
      bind: "all",
      owner: PLATFORM,
      access: ACCESS.B,
      justification: "Operator administration and recovery; keys only, never public",
    },
  ],
};
