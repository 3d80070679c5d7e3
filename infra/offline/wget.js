#!/usr/local/bin/node
// Minimal `wget -q -O /dev/null URL` for the shell-less offline stand-in images, so the compose
// health checks written for the real images work unchanged. Exit 0 on a 2xx answer.
'use strict';
const url = process.argv.slice(2).find((a) => /^https?:\/\//.test(a));
if (!url) {
  console.error('usage: wget -q -O /dev/null URL');
  process.exit(2);
}
fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  (r) => process.exit(r.ok ? 0 : 1),
  () => process.exit(1),
);
