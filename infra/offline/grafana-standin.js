#!/usr/local/bin/node
// Offline stand-in for Grafana (infra/scripts/make-offline-images.sh): no registry here, so the
// compose stack can still start and be checked. It answers /api/health and, to prove the
// provisioning mounts, lists the provisioned files on /api/standin/provisioning.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

function list(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? list(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

http
  .createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/api/health') {
      res.end(JSON.stringify({ database: 'ok', version: 'offline-standin' }));
    } else if (req.url === '/api/standin/provisioning') {
      res.end(
        JSON.stringify([...list('/etc/grafana/provisioning'), ...list('/etc/grafana/dashboards')]),
      );
    } else {
      res.statusCode = 404;
      res.end(JSON.stringify({ message: 'offline Grafana stand-in: only /api/health' }));
    }
  })
  .listen(3000, () => console.log('[grafana-standin] listening on 3000'));
process.on('SIGTERM', () => process.exit(0));
