#!/usr/bin/env node
// The `firkin` command's entry point: a launcher in plain JavaScript that any Node.js
// parses (no static import, no top-level await, no syntax newer than ES5 but import()).
// It checks the Node.js version first and only then loads the real command line
// (dist/src/cli.js), whose code and dependencies need Node.js 22.13 or newer, as
// package.json's "engines" says (test/packaging/launcher.test.ts keeps the two equal).
// On an older Node.js it prints one line naming the version it needs and the one it
// found, and exits 2: like a config error, only an operator can fix it, so the systemd
// unit does not restart on it (RestartPreventExitStatus=2 3).
var NEEDED = [22, 13, 0];
var found = process.versions.node.split('.').map(Number);

function older(a, b) {
  for (var i = 0; i < b.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

if (older(found, NEEDED)) {
  process.stderr.write(
    'firkin: needs Node.js ' + NEEDED.join('.') + ' or newer; this is Node.js ' + process.versions.node +
      ' (' + process.execPath + '): install Node.js 22 LTS (22.13 or later) or 24 LTS, or put it first on PATH\n',
  );
  process.exit(2);
} else {
  import('../dist/src/cli.js');
}
