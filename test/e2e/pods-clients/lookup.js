// Node's dns.lookup (getaddrinfo on libuv's thread pool) for each name, printed as gai.c prints.
const dns = require('node:dns');
(async () => {
  for (const name of process.argv.slice(2)) {
    const t0 = process.hrtime.bigint();
    const line = await new Promise((resolve) => dns.lookup(name, { all: true }, (err, addrs) => {
      const us = Number((process.hrtime.bigint() - t0) / 1000n);
      if (err) return resolve(`${name}\terr\t${err.code}\t${us}`);
      const ips = [...new Set(addrs.map((a) => a.address))].sort();
      resolve(`${name}\tok\t${ips.join(',')}\t${us}`);
    }));
    console.log(line);
  }
})();
