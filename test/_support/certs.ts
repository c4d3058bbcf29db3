import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM texts of a test PKI, made with openssl for this test run. */
export interface TestCerts {
  readonly dir: string;
  readonly ca: string;
  readonly server: { cert: string; key: string };
  /** Signed by `ca`, CN=alice. */
  readonly alice: { cert: string; key: string };
  /** Signed by `ca`, CN=alice, but expired in 2020. */
  readonly expired: { cert: string; key: string };
  /** CN=alice, signed by another CA the gateway does not trust. */
  readonly stranger: { cert: string; key: string };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A CA, a gateway certificate for localhost / 127.0.0.1, and client certificates: a good one,
 * an expired one and one from a stranger CA. (openssl, present on the machine; Node's crypto
 * cannot sign certificates.)
 */
export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'qiact-certs-'));
  const at = (f: string): string => join(dir, f);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string): void => ssl('req', '-x509', ...EC, '-keyout', at(`${name}.key`), '-out', at(`${name}.crt`), '-days', '2', '-subj', `/CN=${name}`);
  const csr = (name: string, cn: string): void => ssl('req', '-new', ...EC, '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${cn}`);
  const sign = (name: string, by: string, ext?: string): void => {
    const args = ['x509', '-req', '-in', at(`${name}.csr`), '-CA', at(`${by}.crt`), '-CAkey', at(`${by}.key`), '-CAcreateserial', '-out', at(`${name}.crt`), '-days', '2'];
    if (ext !== undefined) {
      writeFileSync(at(`${name}.ext`), ext);
      args.push('-extfile', at(`${name}.ext`));
    }
    ssl(...args);
  };
  ca('test-ca');
  ca('stranger-ca');
  csr('server', 'localhost');
  sign('server', 'test-ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  csr('alice', 'alice');
  sign('alice', 'test-ca');
  csr('stranger', 'alice');
  sign('stranger', 'stranger-ca');
  // An expired certificate needs dates in the past: `openssl ca` with its own small database.
  csr('expired', 'alice');
  writeFileSync(at('index.txt'), '');
  writeFileSync(at('serial'), '1000\n');
  writeFileSync(
    at('ca.cnf'),
    `[ca]\ndefault_ca = test\n[test]\ndatabase = ${at('index.txt')}\nserial = ${at('serial')}\nnew_certs_dir = ${dir}\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n`,
  );
  ssl('ca', '-batch', '-config', at('ca.cnf'), '-cert', at('test-ca.crt'), '-keyfile', at('test-ca.key'), '-in', at('expired.csr'), '-out', at('expired.crt'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext');
  const pair = (name: string) => ({ cert: readFileSync(at(`${name}.crt`), 'utf8'), key: readFileSync(at(`${name}.key`), 'utf8') });
  return { dir, ca: readFileSync(at('test-ca.crt'), 'utf8'), server: pair('server'), alice: pair('alice'), expired: pair('expired'), stranger: pair('stranger') };
}
