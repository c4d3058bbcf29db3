// The real servers and tools the tests (and the bench's xmpp row) use, from Debian's packages:
// tinyproxy (HTTP CONNECT proxy), prosody (XMPP), iptables (NAT), iproute2 (network namespaces,
// veth, ss), openssl (test certificates), chromium (the browser tests drive it; no npm package
// downloads a browser). Installed if missing, as root, with
// apt-get; elsewhere, one line says what to install. `node test/_support/test-packages.js` runs it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const PACKAGES = {
  tinyproxy: '/usr/bin/tinyproxy',
  prosody: '/usr/bin/prosody',
  iptables: '/usr/sbin/iptables',
  iproute2: '/usr/sbin/ip',
  openssl: '/usr/bin/openssl',
  chromium: '/usr/bin/chromium',
};

export function installTestPackages() {
  const missing = Object.entries(PACKAGES)
    .filter(([, program]) => !existsSync(program))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    console.log(`# the gateway, XMPP and network tests need Debian's ${missing.join(', ')}: sudo apt-get install ${missing.join(' ')} (or run as root)`);
    return;
  }
  console.log(`# installing the Debian packages the tests use: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, stdio: 'ignore' });
  try {
    install();
  } catch {
    // A fresh machine may not have package lists yet.
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
    install();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) installTestPackages();
