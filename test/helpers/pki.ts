/** Test certificates, made with openssl by the tests themselves (never committed). */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A date as `openssl ca -startdate/-enddate` takes it: YYYYMMDDHHMMSSZ, in UTC. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** A certificate authority in its own directory. */
export class TestCa {
  readonly dir = tempDir();
  readonly cert = join(this.dir, 'ca.pem');
  private readonly key = join(this.dir, 'ca.key');
  private serial = 1;

  constructor(name = 'Firkin Test CA') {
    openssl(['req', '-x509', ...EC, '-keyout', this.key, '-out', this.cert, '-days', '1', '-subj', `/CN=${name}`]);
  }

  /**
   * A certificate for `cn` (which may hold "/", e.g. a URI), with `san` (e.g. "DNS:a.example,URI:spiffe://x") if given.
   * `validity`: its notBefore and notAfter (openssl 3.0's `x509 -req` takes only `-days`, so
   * these go through `openssl ca`), e.g. a certificate that expires a few seconds from now.
   */
  issue(
    name: string,
    cn: string,
    san?: string,
    usage: 'serverAuth' | 'clientAuth' = 'clientAuth',
    validity?: { readonly notBefore: Date; readonly notAfter: Date },
  ): KeyPair {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    const ext = join(this.dir, `${name}.ext`);
    // In -subj, "/" separates name components; escaped, it is part of the CN.
    openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${cn.replace(/[\\/]/g, '\\$&')}`]);
    writeFileSync(ext, `extendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ''}`);
    const serial = String(this.serial++);
    if (validity === undefined) {
      openssl(['x509', '-req', '-in', csr, '-CA', this.cert, '-CAkey', this.key, '-set_serial', serial, '-days', '1', '-out', cert, '-extfile', ext]);
    } else {
      // `openssl ca` wants a database, a serial file and a policy: a throwaway set per certificate.
      const db = join(this.dir, `${name}.db`);
      const conf = join(this.dir, `${name}.cnf`);
      writeFileSync(db, '');
      writeFileSync(join(this.dir, `${name}.serial`), `${serial.padStart(2, '0')}\n`);
      writeFileSync(
        conf,
        [
          '[ca]',
          'default_ca = test',
          '[test]',
          `database = ${db}`,
          `new_certs_dir = ${this.dir}`,
          `serial = ${join(this.dir, `${name}.serial`)}`,
          'default_md = sha256',
          'policy = any',
          'unique_subject = no',
          '[any]',
          'commonName = supplied',
          '',
        ].join('\n'),
      );
      openssl([
        'ca', '-batch', '-notext', '-config', conf, '-cert', this.cert, '-keyfile', this.key, '-in', csr, '-out', cert,
        '-extfile', ext, '-startdate', asn1Time(validity.notBefore), '-enddate', asn1Time(validity.notAfter),
      ]);
    }
    return { cert, key };
  }

  server(name = 'server'): KeyPair {
    return this.issue(name, 'localhost', 'IP:127.0.0.1,DNS:localhost', 'serverAuth');
  }
}

export function pem(file: string): Buffer {
  return readFileSync(file);
}

/** A certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it (AB:CD:…). */
export function fingerprint(file: string): string {
  return new X509Certificate(readFileSync(file)).fingerprint256;
}
