// Sign JSON Web Tokens for the tests with node's crypto only (no JWT
// library): HS256 with a shared secret, RS256 with an RSA private key.
import { createHmac, sign } from 'node:crypto';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Seconds since the epoch, as in the exp claim. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

export function hs256(claims, secret) {
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function rs256(claims, privateKey) {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}
