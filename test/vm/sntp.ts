// A minimal SNTP server (RFC 4330) so the guest's systemd-timesyncd can synchronise inside the
// test network, which has no route to public NTP servers. Stands in for Hetzner's NTP servers.
// Usage (inside the namespace): tsx test/vm/sntp.ts 203.0.113.1
import * as dgram from "node:dgram";

const NTP_EPOCH_OFFSET = 2208988800; // seconds from 1900-01-01 to 1970-01-01

function ntpTime(buf: Buffer, offset: number, ms: number): void {
  const secs = Math.floor(ms / 1000) + NTP_EPOCH_OFFSET;
  const frac = Math.floor(((ms % 1000) / 1000) * 2 ** 32);
  buf.writeUInt32BE(secs >>> 0, offset);
  buf.writeUInt32BE(frac >>> 0, offset + 4);
}

const address = process.argv[2] ?? "0.0.0.0";
const sock = dgram.createSocket("udp4");
sock.on("message", (req, rinfo) => {
  if (req.length < 48 || (req[0]! & 0x07) !== 3) return; // client mode only
  const received = Date.now();
  const res = Buffer.alloc(48);
  res[0] = (0 << 6) | (4 << 3) | 4; // leap 0, version 4, server mode
  res[1] = 2; // stratum 2
  res[2] = req[2]!; // poll
  res[3] = 0xec; // precision ~ 2^-20 s
  res.writeUInt32BE(0x00000100, 4); // root delay ~ 4 ms
  res.writeUInt32BE(0x00000100, 8); // root dispersion ~ 4 ms
  res.write("LOCL", 12, "ascii");
  ntpTime(res, 16, received); // reference time
  req.copy(res, 24, 40, 48); // originate = client's transmit
  ntpTime(res, 32, received);
  ntpTime(res, 40, Date.now());
  sock.send(res, rinfo.port, rinfo.address);
});
sock.bind(123, address, () => console.log(`sntp: serving on ${address}:123`));
