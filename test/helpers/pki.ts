/** Test certificates, made with openssl by the tests themselves (never committed). */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A certificate authority in its own directory. */
export class TestCa {
  readonly dir = tempDir();
  readonly cert = join(this.dir, 'ca.pem');
  private readonly key = join(this.dir, 'ca.key');
  private serial = 1;

  constructor(name = 'Firkin Test CA') {
    openssl(['req', '-x509', ...EC, '-keyout', this.key, '-out', this.cert, '-days', '1', '-subj', `/CN=${name}`]);
  }

  /** A certificate for `cn` (which may hold "/", e.g. a URI), with `san` (e.g. "DNS:a.example,URI:spiffe://x") if given. */
  issue(name: string, cn: string, san?: string, usage: 'serverAuth' | 'clientAuth' = 'clientAuth'): KeyPair {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    const ext = join(this.dir, `${name}.ext`);
    // In -subj, "/" separates name components; escaped, it is part of the CN.
    openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${cn.replace(/[\\/]/g, '\\$&')}`]);
    writeFileSync(ext, `extendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
    openssl(['x509', '-req', '-in', csr, '-CA', this.cert, '-CAkey', this.key, '-set_serial', String(this.serial++), '-days', '1', '-out', cert, '-extfile', ext]);
    return { cert, key };
  }

  server(name = 'server'): KeyPair {
    return this.issue(name, 'localhost', 'IP:127.0.0.1,DNS:localhost', 'serverAuth');
  }
}

export function pem(file: string): Buffer {
  return readFileSync(file);
}
